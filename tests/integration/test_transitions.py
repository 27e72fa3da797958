"""The shared state machine applied to stored payments: what moves, what is ignored, what is held."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from chatju.extensions import db
from chatju.gateways.port import GatewayPayment
from chatju.payments.models import Payment, PaymentEvent
from chatju.payments.service import create_order
from chatju.payments.transitions import apply_gateway_payment, lock_payment
from chatju.states import EventSource, LedgerKind, PaymentStatus

S = PaymentStatus
SEEN = GatewayPayment(
    reference="tgen_key",
    order_id=None,
    gateway_status="DONE",
    target=S.PAID,
    amount=13000,
    currency="KRW",
    approved=True,
    method="card",
    receipt_url="https://receipt.example/1",
)


@pytest.fixture
def payment_id(app, make_user):
    user_id = make_user()
    with app.app_context():
        payment = create_order(user_id, "toss", 13000, "KRW", "Premium")
        db.session.commit()
        return payment.id


def apply(app, payment_id: int, status: S | None = None, **changes) -> Payment:
    with app.app_context():
        payment = lock_payment(payment_id)
        if status is not None:
            payment.status = status
        seen = replace(SEEN, **{"order_id": payment.order_id, **changes})
        apply_gateway_payment(payment, seen, EventSource.WEBHOOK)
        db.session.commit()
        db.session.refresh(payment)
        db.session.expunge(payment)
        return payment


def events(app, payment_id: int) -> list[tuple[str, str | None, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment_id).order_by(PaymentEvent.id)
        ).scalars()
        return [(str(e.kind), e.from_status and str(e.from_status), e.to_status and str(e.to_status)) for e in rows]


def test_done_pays_once_however_often_it_is_seen(app, payment_id):
    for _ in range(3):
        payment = apply(app, payment_id)
    assert payment.status == S.PAID and payment.payment_key == "tgen_key" and payment.paid_at is not None
    assert events(app, payment_id) == [("transition", "PENDING", "PAID")]


@pytest.mark.parametrize("start", [S.CANCELED, S.EXPIRED, S.FAILED])
def test_a_late_success_is_applied(app, payment_id, start):
    assert apply(app, payment_id, status=start).status == S.PAID


@pytest.mark.parametrize("late", [S.FAILED, S.PROCESSING, S.EXPIRED])
def test_paid_never_goes_back(app, payment_id, late):
    apply(app, payment_id)
    payment = apply(app, payment_id, target=late, approved=False, gateway_status="ABORTED")
    assert payment.status == S.PAID
    if late == S.PROCESSING:  # a paid virtual account reported unpaid again
        assert events(app, payment_id)[-1][0] == "flag"
        assert payment.needs_review and "NEEDS_REVIEW" in payment.flags
    else:
        assert events(app, payment_id)[-1] == ("ignored", "PAID", str(late))


def test_refunds_grow_and_never_shrink(app, payment_id):
    apply(app, payment_id)
    partial = apply(app, payment_id, target=S.PARTIALLY_REFUNDED, refunded_amount=3000)
    assert (partial.status, partial.refunded_amount) == (S.PARTIALLY_REFUNDED, 3000)
    more = apply(app, payment_id, target=S.PARTIALLY_REFUNDED, refunded_amount=5000)
    assert more.refunded_amount == 5000
    stale = apply(app, payment_id, target=S.PARTIALLY_REFUNDED, refunded_amount=3000)
    assert stale.refunded_amount == 5000
    full = apply(app, payment_id, target=S.REFUNDED, refunded_amount=13000)
    assert (full.status, full.refunded_amount) == (S.REFUNDED, 13000)
    again = apply(app, payment_id, target=S.PARTIALLY_REFUNDED, refunded_amount=5000)
    assert (again.status, again.refunded_amount) == (S.REFUNDED, 13000)
    kinds = [e for e in events(app, payment_id) if e[0] == "transition"]
    assert [to for _, _, to in kinds] == ["PAID", "PARTIALLY_REFUNDED", "PARTIALLY_REFUNDED", "REFUNDED"]


def test_a_refund_seen_before_the_payment_records_the_payment_first(app, payment_id):
    payment = apply(
        app, payment_id, target=S.PARTIALLY_REFUNDED, gateway_status="PARTIAL_CANCELED", refunded_amount=3000
    )
    assert payment.status == S.PARTIALLY_REFUNDED
    assert [e[2] for e in events(app, payment_id)] == ["PAID", "PARTIALLY_REFUNDED"]


def test_a_cancel_of_a_paid_payment_is_a_refund(app, payment_id):
    apply(app, payment_id)
    payment = apply(
        app, payment_id, target=S.CANCELED, approved=False, gateway_status="CANCELED", refunded_amount=13000
    )
    assert payment.status == S.REFUNDED and payment.refunded_amount == 13000


@pytest.mark.parametrize("changes", [{"amount": 100}, {"currency": "USD"}, {"order_id": "ord_someoneElsesOrder0000"}])
def test_a_mismatch_is_held_for_review_not_applied(app, payment_id, changes):
    payment = apply(app, payment_id, **changes)
    assert payment.status == S.PENDING and payment.needs_review and payment.flags == ["NEEDS_REVIEW"]
    assert events(app, payment_id) == [("flag", None, None)]


def test_a_disallowed_transition_is_recorded_and_ignored(app, payment_id):
    apply(app, payment_id, status=S.REFUNDED, target=S.FAILED, approved=False)
    with app.app_context():
        [row] = db.session.execute(sa.select(PaymentEvent)).scalars()
        assert row.kind == LedgerKind.IGNORED and (row.from_status, row.to_status) == (S.REFUNDED, S.FAILED)


def test_another_gateway_reference_is_held_for_review(app, payment_id):
    apply(app, payment_id)
    payment = apply(app, payment_id, reference="tgen_someOtherPayment", target=S.REFUNDED, refunded_amount=13000)
    assert payment.status == S.PAID and payment.needs_review


def test_effects_are_written_once_and_their_tasks_asked_for_in_order(app, payment_id):
    from chatju.jobs import PENDING, TaskNames
    from chatju.payments import outbox
    from chatju.payments.models import Effect, OutboxItem

    def scheduled(*effects: Effect) -> list[int]:
        outbox.schedule(payment_id, *effects)
        return [args[0] for name, args, _ in db.session.info.pop(PENDING, []) if name == TaskNames.DELIVER_EFFECT]

    with app.app_context():
        first = scheduled(Effect.RECEIPT, Effect.GRANT)
        second = scheduled(Effect.GRANT, Effect.RECEIPT, Effect.REVOKE)
        rows = dict(db.session.execute(sa.select(OutboxItem.effect, OutboxItem.id)).tuples().all())
        db.session.rollback()
    assert first == [rows[Effect.RECEIPT], rows[Effect.GRANT]]
    assert second == [rows[Effect.REVOKE]]
    assert len(rows) == 3
