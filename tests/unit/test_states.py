"""The transition table of SPEC §4, exactly."""

from __future__ import annotations

import itertools

from chatju.states import ALLOWED, PaymentStatus, can_move

S = PaymentStatus
SPEC = {
    S.PENDING: {S.PROCESSING, S.PAID, S.FAILED, S.CANCELED, S.EXPIRED},
    S.PROCESSING: {S.PAID, S.FAILED, S.CANCELED, S.EXPIRED},
    S.FAILED: {S.PROCESSING, S.PAID},
    S.CANCELED: {S.PAID},
    S.EXPIRED: {S.PAID},
    S.PAID: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.PARTIALLY_REFUNDED: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.REFUNDED: set(),
}


def test_every_pair_is_as_the_specification_says():
    assert set(ALLOWED) == set(S)
    for current, target in itertools.product(S, S):
        assert can_move(current, target) == (target in SPEC[current]), (current, target)


def test_paid_never_goes_back_to_unpaid():
    unpaid = {S.PENDING, S.PROCESSING, S.FAILED, S.CANCELED, S.EXPIRED}
    for paid in (S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED):
        assert not any(can_move(paid, target) for target in unpaid)


def test_a_late_success_is_never_lost():
    for status in (S.PENDING, S.PROCESSING, S.FAILED, S.CANCELED, S.EXPIRED):
        assert can_move(status, S.PAID)
