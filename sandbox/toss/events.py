"""Toss webhook bodies and delivery headers (reference §7, examples C1 and C2)."""

from __future__ import annotations

from typing import Any

from sandbox.clock import kst_iso, kst_naive_micro, now_kst
from sandbox.toss.payments import TossPayment, random_text
from sandbox.webhooks import Delivery

STATUS_CHANGED = "PAYMENT_STATUS_CHANGED"
DEPOSIT_CALLBACK = "DEPOSIT_CALLBACK"  # flat body without eventType; named so in the log


def new_transmission_id() -> str:
    return "whtrans_" + random_text(24)


def status_changed(payment: TossPayment, status: str | None = None) -> dict[str, Any]:
    data = payment.to_json()
    if status is not None:
        data["status"] = status
    return {"eventType": STATUS_CHANGED, "createdAt": kst_naive_micro(now_kst()), "data": data}


def deposit_callback(payment: TossPayment, status: str | None = None) -> dict[str, Any]:
    return {
        "createdAt": kst_naive_micro(now_kst()),
        "secret": payment.secret,
        "status": status or payment.status,
        "transactionKey": payment.last_transaction_key,
        "orderId": payment.order_id,
    }


def delivery_headers(delivery: Delivery) -> dict[str, str]:
    """The headers of one attempt: the id stays the same across retries, the count grows."""
    return {
        "Content-Type": "application/json",
        "tosspayments-webhook-transmission-id": delivery.delivery_id,
        "tosspayments-webhook-transmission-time": kst_iso(now_kst()) or "",
        "tosspayments-webhook-transmission-retried-count": str(delivery.retried),
    }
