"""The shared rules for a refund's bank account (chatju.validation) and how the port shows one."""

from __future__ import annotations

import pytest

from chatju.gateways.port import RefundAccount
from chatju.validation import account_number, bank_code, holder_name


def test_an_account_number_is_its_digits():
    assert account_number("110-123 456789") == "110123456789"
    assert account_number("123456") == "123456"
    assert account_number("1" * 20) == "1" * 20


@pytest.mark.parametrize("value", ["12345", "1" * 21, "110123abc789", "１２３４５６７", "110_123456", "", "--------"])
def test_an_account_number_that_is_not_6_to_20_digits_is_refused(value):
    with pytest.raises(ValueError, match="6-20 digits") as refused:
        account_number(value)
    assert value not in str(refused.value) or not value  # the message never repeats the value


@pytest.mark.parametrize("code", ["88", "20", "06", "90", "92"])
def test_toss_bank_codes_are_taken(code):
    assert bank_code(code) == code


@pytest.mark.parametrize("code", ["99", "088", "8", "신한", "SHINHAN", ""])
def test_other_bank_codes_are_refused(code):
    with pytest.raises(ValueError, match="bank code"):
        bank_code(code)


def test_a_holder_name_is_trimmed_text_of_1_to_60_characters():
    assert holder_name("  김토스 ") == "김토스"
    assert holder_name("김" * 60) == "김" * 60
    for bad in ("", "   ", "김" * 61, "김\x00토스", "김\n토스"):
        with pytest.raises(ValueError):
            holder_name(bad)


def test_an_account_shows_only_its_bank_and_last_four_digits():
    account = RefundAccount("88", "110123456789", "김토스")
    assert account.masked() == {"bank": "88", "accountNumber": "********6789"}
    assert "110123456789" not in repr(account) and "김토스" not in repr(account)
