"""The Stripe objects the sandbox keeps, each rendered as the API returns it (API 2026-10-28.endive).

Fields the sandbox never sets (Connect, invoices, shipping, ...) are present and null,
as in Stripe's answers, so that readers of the shapes see what they will see live.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.stripe.cards import Decline

ALPHANUMERIC = string.ascii_letters + string.digits
REQUIRES_PAYMENT_METHOD, PROCESSING = "requires_payment_method", "processing"
SUCCEEDED, CANCELED = "succeeded", "canceled"
CARD_EXPIRY_YEARS = 3


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def now() -> int:
    return int(time.time())


def empty_address() -> dict[str, None]:
    return dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))


def billing_details() -> dict[str, Any]:
    return {"address": empty_address(), "email": None, "name": None, "phone": None, "tax_id": None}


@dataclass(frozen=True)
class Card:
    """The card a payment attempt used (a PaymentMethod `pm_...`)."""

    id: str
    brand: str
    last4: str
    number_hash: str
    created: int

    @classmethod
    def from_number(cls, number: str, brand: str) -> Card:
        digest = hashlib.sha256(number.encode()).hexdigest()[:16]
        return cls(new_id("pm_"), brand, number[-4:], digest, now())

    def details(self) -> dict[str, Any]:
        return {
            "brand": self.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "exp_month": 12,
            "exp_year": time.gmtime(self.created).tm_year + CARD_EXPIRY_YEARS,
            "fingerprint": self.number_hash,
            "funding": "credit",
            "last4": self.last4,
            "network": self.brand,
        }

    def payment_method(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "payment_method", "allow_redisplay": "unspecified",
            "billing_details": billing_details(), "card": self.details(), "created": self.created,
            "customer": None, "livemode": False, "metadata": {}, "type": "card",
        }  # fmt: skip


@dataclass
class Refund:
    id: str
    amount: int
    currency: str
    charge: str
    payment_intent: str
    reason: str | None
    metadata: dict[str, str]
    created: int = field(default_factory=now)
    balance_transaction: str = field(default_factory=lambda: new_id("txn_"))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "refund", "amount": self.amount, "balance_transaction": self.balance_transaction,
            "charge": self.charge, "created": self.created, "currency": self.currency,
            "destination_details": {"card": {"reference_status": "pending", "type": "refund",
                                             "reference_type": "acquirer_reference_number"}, "type": "card"},
            "metadata": dict(self.metadata), "payment_intent": self.payment_intent, "reason": self.reason,
            "receipt_number": None, "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
        }  # fmt: skip


@dataclass
class Charge:
    """One payment attempt on an intent: `succeeded` (paid) or `failed` (declined)."""

    id: str
    intent_id: str
    amount: int
    currency: str
    card: Card
    description: str | None
    metadata: dict[str, str]
    receipt_email: str | None
    receipt_url: str
    failure: Decline | None = None
    refunds: list[Refund] = field(default_factory=list)
    disputed: bool = False
    created: int = field(default_factory=now)
    balance_transaction: str = field(default_factory=lambda: new_id("txn_"))

    @property
    def succeeded(self) -> bool:
        return self.failure is None

    @property
    def amount_refunded(self) -> int:
        return sum(refund.amount for refund in self.refunds)

    def to_json(self) -> dict[str, Any]:
        paid = self.succeeded
        return {
            "id": self.id, "object": "charge", "amount": self.amount, "amount_captured": self.amount if paid else 0,
            "amount_refunded": self.amount_refunded, "application": None, "application_fee": None,
            "application_fee_amount": None, "balance_transaction": self.balance_transaction if paid else None,
            "billing_details": billing_details(), "calculated_statement_descriptor": "CHATJU SANDBOX",
            "captured": paid, "created": self.created, "currency": self.currency, "customer": None,
            "description": self.description, "disputed": self.disputed, "failure_balance_transaction": None,
            "failure_code": None if paid else "card_declined",
            "failure_message": None if self.failure is None else self.failure.message,
            "fraud_details": {}, "livemode": False, "metadata": dict(self.metadata), "on_behalf_of": None,
            "outcome": self._outcome(), "paid": paid, "payment_intent": self.intent_id,
            "payment_method": self.card.id,
            "payment_method_details": {"card": self.card.details(), "type": "card"},
            "receipt_email": self.receipt_email, "receipt_number": None, "receipt_url": self.receipt_url,
            "refunded": paid and self.amount_refunded == self.amount,
            "refunds": {"object": "list", "data": [r.to_json() for r in reversed(self.refunds)], "has_more": False,
                        "total_count": len(self.refunds), "url": f"/v1/charges/{self.id}/refunds"},
            "review": None, "shipping": None, "source": None, "statement_descriptor": None,
            "statement_descriptor_suffix": None, "status": "succeeded" if paid else "failed",
            "transfer_data": None, "transfer_group": None,
        }  # fmt: skip

    def _outcome(self) -> dict[str, Any]:
        declined = self.failure is not None
        return {
            "advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "declined_by_network" if declined else "approved_by_network",
            "reason": self.failure.decline_code if self.failure else None, "risk_level": "normal", "risk_score": 20,
            "seller_message": self.failure.seller_message if self.failure else "Payment complete.",
            "type": "issuer_declined" if declined else "authorized",
        }  # fmt: skip


@dataclass
class Dispute:
    id: str
    charge: Charge
    reason: str
    created: int = field(default_factory=now)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "dispute", "amount": self.charge.amount, "balance_transactions": [],
            "charge": self.charge.id, "created": self.created, "currency": self.charge.currency, "evidence": {},
            "evidence_details": {"due_by": self.created + 7 * 86400, "has_evidence": False, "past_due": False,
                                 "submission_count": 0},
            "is_charge_refundable": False, "livemode": False, "metadata": {},
            "payment_intent": self.charge.intent_id, "reason": self.reason, "status": "needs_response",
        }  # fmt: skip


@dataclass
class Intent:
    id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    description: str | None
    receipt_email: str | None
    payment_method_types: list[str]
    automatic_payment_methods: dict[str, Any] | None
    client_secret: str = ""
    status: str = REQUIRES_PAYMENT_METHOD
    created: int = field(default_factory=now)
    charges: list[Charge] = field(default_factory=list)
    payment_method: str | None = None
    last_payment_error: dict[str, Any] | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None

    def __post_init__(self) -> None:
        self.client_secret = self.client_secret or f"{self.id}_secret_{new_id('', 25)}"

    @property
    def latest_charge(self) -> Charge | None:
        return self.charges[-1] if self.charges else None

    @property
    def order_id(self) -> str | None:
        return self.metadata.get("order_id")

    def to_json(self, expand_charge: bool = False) -> dict[str, Any]:
        charge = self.latest_charge
        latest: Any = None if charge is None else charge.to_json() if expand_charge else charge.id
        return {
            "id": self.id, "object": "payment_intent", "amount": self.amount, "amount_capturable": 0,
            "amount_details": {"tip": {}}, "amount_received": self.amount if self.status == SUCCEEDED else 0,
            "application": None, "application_fee_amount": None,
            "automatic_payment_methods": self.automatic_payment_methods, "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason, "capture_method": "automatic",
            "client_secret": self.client_secret, "confirmation_method": "automatic", "created": self.created,
            "currency": self.currency, "customer": None, "description": self.description,
            "last_payment_error": self.last_payment_error, "latest_charge": latest, "livemode": False,
            "metadata": dict(self.metadata), "next_action": None, "on_behalf_of": None,
            "payment_method": self.payment_method, "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                                "request_three_d_secure": "automatic"}},
            "payment_method_types": list(self.payment_method_types), "processing": None,
            "receipt_email": self.receipt_email, "review": None, "setup_future_usage": None, "shipping": None,
            "source": None, "statement_descriptor": None, "statement_descriptor_suffix": None,
            "status": self.status, "transfer_data": None, "transfer_group": None,
        }  # fmt: skip
