"""Toss's Payment object in the port's terms (https://docs.tosspayments.com/reference#payment-객체)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from chatju.gateways.port import GatewayPayment
from chatju.gateways.redaction import redactor
from chatju.states import PaymentStatus
from chatju.validation import instant_from_iso

KST = timezone(timedelta(hours=9))
# Secrets and personal data in Toss's answers: never kept, never logged.
REDACTED_KEYS = frozenset(
    {
        "number",
        "accountNumber",
        "customerName",
        "depositorName",
        "holderName",
        "customerMobilePhone",
        "customerEmail",
        "issueNumber",
        "registrationNumber",
    }
)
redact = redactor(REDACTED_KEYS)

METHODS = {
    "카드": "card",
    "가상계좌": "virtual_account",
    "간편결제": "easy_pay",
    "계좌이체": "transfer",
    "휴대폰": "mobile",
}
# Card issuer codes (https://docs.tosspayments.com/codes/org-codes).
ISSUERS = {
    "3K": "IBK BC",
    "46": "Gwangju Bank",
    "71": "Lotte Card",
    "30": "KDB",
    "31": "BC Card",
    "51": "Samsung Card",
    "38": "Saemaul",
    "41": "Shinhan Card",
    "62": "Shinhyup",
    "36": "Citi",
    "33": "Woori Card",
    "W1": "Woori Card",
    "37": "Korea Post",
    "39": "Savings Bank",
    "35": "Jeonbuk Bank",
    "42": "Jeju Bank",
    "15": "KakaoBank",
    "3A": "K Bank",
    "24": "Toss Bank",
    "21": "Hana Card",
    "61": "Hyundai Card",
    "11": "KB Kookmin Card",
    "91": "NH Card",
    "34": "Suhyup",
}


def parse_time(value: Any) -> datetime | None:
    """A time in a Toss answer (they carry +09:00; none means Korean time); None when absent or unusable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return instant_from_iso(value, KST)
    except ValueError:
        return None


def to_payment(data: dict[str, Any]) -> GatewayPayment:
    """A Toss Payment object in our terms (https://docs.tosspayments.com/reference#payment-객체)."""
    status = str(data.get("status") or "")
    total = int(data.get("totalAmount") or 0)
    balance = total if data.get("balanceAmount") is None else int(data["balanceAmount"])
    approved = _approved(status, data)
    failure = data.get("failure") or {}
    card = data.get("card") or {}
    return GatewayPayment(
        reference=str(data.get("paymentKey") or ""),
        order_id=data.get("orderId"),
        gateway_status=status,
        target=target_status(status, approved),
        amount=total,
        currency=str(data.get("currency") or "").upper(),
        refunded_amount=max(total - balance, 0) if approved else 0,
        approved=approved,
        method=METHODS.get(data.get("method") or ""),
        card_brand=ISSUERS.get(card.get("issuerCode") or "", card.get("issuerCode")) if card else None,
        card_last4=_last4(card.get("number")),
        receipt_url=(data.get("receipt") or {}).get("url"),
        approved_at=parse_time(data.get("approvedAt")),
        failure_code=failure.get("code"),
        failure_message=failure.get("message"),
        secret=data.get("secret"),
        raw=redact(data),
    )


def target_status(status: str, approved: bool) -> PaymentStatus | None:
    """What a Toss status means for our order (None: nothing to apply yet)."""
    match status:
        case "DONE":
            return PaymentStatus.PAID
        case "PARTIAL_CANCELED":
            return PaymentStatus.PARTIALLY_REFUNDED
        case "CANCELED":
            # A cancel after approval is a refund; before it (an unpaid virtual account) a cancel.
            return PaymentStatus.REFUNDED if approved else PaymentStatus.CANCELED
        case "ABORTED" | "EXPIRED":
            # This attempt failed; the order may still be paid with another card.
            return PaymentStatus.FAILED
        case "WAITING_FOR_DEPOSIT":
            return PaymentStatus.PROCESSING
        case _:
            return None  # READY, IN_PROGRESS: the customer is still in the checkout


def _approved(status: str, data: dict[str, Any]) -> bool:
    """Did Toss take the money at some point? A virtual account only once deposited."""
    if status in ("DONE", "PARTIAL_CANCELED"):
        return True
    if status != "CANCELED" or data.get("method") == "가상계좌":
        # A cancelled virtual account may never have been paid; the service decides
        # from what it already knew (a cancel of a paid payment is a refund).
        return False
    return bool(data.get("approvedAt"))


def _last4(number: Any) -> str | None:
    tail = str(number or "")[-4:]
    return tail if len(tail) == 4 and tail.isdigit() else None
