"""A Toss payment as the sandbox keeps it, and its Payment object (API version 2022-11-16)."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.clock import kst_iso

ALPHANUMERIC = string.ascii_letters + string.digits
MID = "tsandbox"
VERSION = "2022-11-16"

# Statuses (reference §3). SETTLED: the attempt that "matters" for a lookup by order, and
# what makes the checkout refuse the orderId again (DUPLICATED_ORDER_ID).
IN_PROGRESS, WAITING = "IN_PROGRESS", "WAITING_FOR_DEPOSIT"
DONE, CANCELED, PARTIAL_CANCELED = "DONE", "CANCELED", "PARTIAL_CANCELED"
ABORTED, EXPIRED = "ABORTED", "EXPIRED"
SETTLED = frozenset({DONE, CANCELED, PARTIAL_CANCELED, WAITING})

# Test cards of the hosted checkout. "decline" never creates a payment.
CARD, REJECT, VIRTUAL_ACCOUNT = "success", "reject", "virtual_account"
MASKED_NUMBERS = {CARD: "43301234****123*", REJECT: "53651234****567*"}


def random_text(length: int, alphabet: str = ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_payment_key() -> str:
    return "tsbx" + random_text(40)


def new_transaction_key() -> str:
    return secrets.token_hex(16).upper()


def new_secret() -> str:
    return "ps_" + random_text(27)


def vat_of(amount: int) -> int:
    """VAT included in a KRW amount: round(amount / 11), halves up (1000 → 91)."""
    return (amount * 2 + 11) // 22


@dataclass
class TossPayment:
    payment_key: str
    order_id: str
    order_name: str
    amount: int
    customer_key: str | None
    card_choice: str
    base_url: str
    requested_at: datetime
    authenticated_at: float
    status: str = IN_PROGRESS
    balance: int = 0
    approved_at: datetime | None = None
    last_transaction_key: str | None = None
    secret: str | None = None
    card: dict[str, Any] | None = None
    virtual_account: dict[str, Any] | None = None
    cancels: list[dict[str, Any]] = field(default_factory=list)
    failure: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.balance = self.amount

    def backdate(self, by: timedelta) -> None:
        """Its times (requested, approved, each cancel's) `by` earlier, as if it happened then."""
        self.requested_at -= by
        self.approved_at = self.approved_at - by if self.approved_at else None
        for cancel in self.cancels:
            cancel["canceledAt"] = kst_iso(datetime.fromisoformat(cancel["canceledAt"]) - by)

    @property
    def is_virtual_account(self) -> bool:
        return self.card_choice == VIRTUAL_ACCOUNT

    @property
    def method(self) -> str:
        return "가상계좌" if self.is_virtual_account else "카드"

    @property
    def receipt_url(self) -> str:
        return f"{self.base_url}/toss/receipt/{self.payment_key}"

    def to_json(self) -> dict[str, Any]:
        """The Payment object, fields as in Toss's reference example."""
        vat = vat_of(self.balance)
        return {
            "mId": MID,
            "version": VERSION,
            "lastTransactionKey": self.last_transaction_key,
            "paymentKey": self.payment_key,
            "orderId": self.order_id,
            "orderName": self.order_name,
            "taxExemptionAmount": 0,
            "status": self.status,
            "requestedAt": kst_iso(self.requested_at),
            "approvedAt": kst_iso(self.approved_at),
            "useEscrow": False,
            "cultureExpense": False,
            "card": dict(self.card) if self.card else None,
            "virtualAccount": dict(self.virtual_account) if self.virtual_account else None,
            "transfer": None,
            "mobilePhone": None,
            "giftCertificate": None,
            "cashReceipt": None,
            "cashReceipts": None,
            "discount": None,
            "cancels": [dict(c) for c in self.cancels] or None,
            "secret": self.secret,
            "type": "NORMAL",
            "easyPay": None,
            "country": "KR",
            "failure": dict(self.failure) if self.failure else None,
            "isPartialCancelable": self.status != WAITING,
            "receipt": {"url": self.receipt_url},
            "checkout": {"url": f"{self.base_url}/toss/v1/payments/{self.payment_key}/checkout"},
            "currency": "KRW",
            "totalAmount": self.amount,
            "balanceAmount": self.balance,
            "suppliedAmount": self.balance - vat,
            "vat": vat,
            "taxFreeAmount": 0,
            "metadata": None,
            "method": self.method,
        }


def card_block(choice: str, amount: int) -> dict[str, Any]:
    return {
        "issuerCode": "71",
        "acquirerCode": "71",
        "number": MASKED_NUMBERS.get(choice, MASKED_NUMBERS[CARD]),
        "installmentPlanMonths": 0,
        "isInterestFree": False,
        "interestPayer": None,
        "approveNo": random_text(8, string.digits),
        "useCardPoint": False,
        "cardType": "신용",
        "ownerType": "개인",
        "acquireStatus": "READY",
        "amount": amount,
    }


def virtual_account_block(customer_name: str, due_date: str) -> dict[str, Any]:
    return {
        "accountType": "일반",
        "accountNumber": "X" + random_text(13, string.digits),  # test accounts start with X
        "bankCode": "20",
        "customerName": customer_name,
        "depositorName": customer_name,
        "dueDate": due_date,
        "refundStatus": "NONE",
        "expired": False,
        "settlementStatus": "INCOMPLETED",
        "refundReceiveAccount": None,
    }
