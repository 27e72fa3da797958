"""Toss Payments core API (version 2022-11-16): everything Toss, in one place.

https://docs.tosspayments.com/reference — confirm, look up (by paymentKey and by
orderId) and cancel. Basic auth with the secret key, JSON both ways, errors as
`{code, message}`; every POST carries an Idempotency-Key that is stable for its
business operation, so a retry gets the first request's real answer.
"""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import requests

from chatju.gateways.base import (
    CallRecord,
    GatewayError,
    GatewayPayment,
    GatewayRefusal,
    GatewayRequestError,
    Recorder,
    TransientGatewayError,
    redact,
)
from chatju.payments.states import PaymentStatus, Provider

KST = timezone(timedelta(hours=9))
CONNECT_TIMEOUT_SECONDS = 5

# Toss's own "try again in a moment" answers (reference/toss.md §4).
RETRYABLE_CODES = frozenset(
    {
        "PROVIDER_ERROR",
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
        "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
        "UNKNOWN_PAYMENT_ERROR",
        "COMMON_ERROR",
        "UNKNOWN_ERROR",
        "FAILED_METHOD_HANDLING",
        "FAILED_METHOD_HANDLING_CANCEL",
        "FAILED_REFUND_PROCESS",
        "FAILED_PARTIAL_REFUND",
        "FORBIDDEN_CONSECUTIVE_REQUEST",
        "IDEMPOTENT_REQUEST_PROCESSING",
    }
)
# Our request or our merchant setup is at fault: the customer cannot fix these.
REQUEST_ERROR_CODES = frozenset(
    {
        "UNAUTHORIZED_KEY",
        "INVALID_API_KEY",
        "INCORRECT_BASIC_AUTH_FORMAT",
        "INVALID_REQUEST",
        "INVALID_IDEMPOTENCY_KEY",
        "INVALID_TEST_CODE",
        "NOT_FOUND_TERMINAL_ID",
        "INVALID_UNREGISTERED_SUBMALL",
        "NOT_REGISTERED_BUSINESS",
        "NOT_FOUND_HTTP_METHOD",
        "INVALID_ORDER_ID",
        "INVALID_ORDER_NAME",
    }
)
SESSION_NOT_FOUND = "NOT_FOUND_PAYMENT_SESSION"
# Confirm answers meaning Toss has no authenticated payment under this key for this order.
SESSION_GONE_CODES = frozenset({SESSION_NOT_FOUND, "NOT_FOUND_PAYMENT"})
# Statuses a proxy or a hiccup may answer with, where the request may or may not have run.
UNCERTAIN_STATUSES = frozenset({408, 409, 425, 429})
ALREADY_PROCESSED = "ALREADY_PROCESSED_PAYMENT"
NOT_FOUND_CODES = frozenset({"NOT_FOUND_PAYMENT", "NOT_FOUND"})

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

_local = threading.local()


def _session() -> requests.Session:
    """One HTTP session (connection pool) per thread, reused for every call."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def confirm_key(order_id: str, payment_key: str) -> str:
    """The Idempotency-Key of one confirm: a new card (paymentKey) is a new operation."""
    return f"confirm-{order_id}-{payment_key}"


class TossClient:
    def __init__(self, secret_key: str, api_base: str, timeout_seconds: float, recorder: Recorder) -> None:
        token = base64.b64encode(f"{secret_key}:".encode()).decode()
        self._auth = f"Basic {token}"
        self._base = api_base.rstrip("/")
        self._timeout = (CONNECT_TIMEOUT_SECONDS, timeout_seconds)
        self._record = recorder

    def confirm(self, payment_key: str, order_id: str, amount: int) -> GatewayPayment:
        """POST /v1/payments/confirm (https://docs.tosspayments.com/reference#결제-승인)."""
        body = {"paymentKey": payment_key, "orderId": order_id, "amount": amount}
        data = self._call("confirm", "POST", "/v1/payments/confirm", order_id, body, confirm_key(order_id, payment_key))
        return to_payment(data)

    def fetch(self, payment_key: str, order_id: str | None = None) -> GatewayPayment:
        """GET /v1/payments/{paymentKey}."""
        return to_payment(self._call("fetch", "GET", f"/v1/payments/{payment_key}", order_id))

    def fetch_by_order(self, order_id: str) -> GatewayPayment:
        """GET /v1/payments/orders/{orderId}."""
        return to_payment(self._call("fetch", "GET", f"/v1/payments/orders/{order_id}", order_id))

    def cancel(
        self, payment_key: str, order_id: str, reason: str, amount: int | None, idempotency_key: str
    ) -> GatewayPayment:
        """POST /v1/payments/{paymentKey}/cancel: full without `amount`, else partial."""
        body: dict[str, Any] = {"cancelReason": reason}
        if amount is not None:
            body["cancelAmount"] = amount
        data = self._call("cancel", "POST", f"/v1/payments/{payment_key}/cancel", order_id, body, idempotency_key)
        return to_payment(data)

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        order_id: str | None,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": self._auth, "Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        started = time.perf_counter()
        status: int | None = None
        data: dict[str, Any] | None = None
        outcome, error_code = "ok", None
        try:
            response = _session().request(method, self._base + path, json=body, headers=headers, timeout=self._timeout)
            status = response.status_code
            data = _json(response)
            if status == 200 and not data.get("paymentKey"):
                outcome, error_code = "error", "INVALID_RESPONSE"
                raise TransientGatewayError("INVALID_RESPONSE", "Toss answered 200 without a payment.", status)
            if status != 200:
                error = error_from(status, data)
                outcome, error_code = "error", error.code
                raise error
            return data
        except requests.Timeout:
            outcome, error_code = "timeout", "TIMEOUT"
            raise TransientGatewayError("TIMEOUT", "Toss did not answer in time.") from None
        except requests.RequestException as exc:
            outcome, error_code = "connection_error", "CONNECTION_ERROR"
            raise TransientGatewayError("CONNECTION_ERROR", f"Could not reach Toss ({type(exc).__name__}).") from None
        finally:
            self._record(
                CallRecord(
                    provider=Provider.TOSS,
                    operation=operation,
                    order_id=order_id,
                    idempotency_key=idempotency_key,
                    http_status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000),
                    outcome=outcome,
                    error_code=error_code,
                    response=redact(data) if data is not None else None,
                )
            )


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_from(status: int, data: dict[str, Any]) -> GatewayError:
    """Toss's `{code, message}` as a typed error."""
    if not data.get("code"):
        # Not Toss's own answer (a proxy's error page, say): whether it ran is unknown.
        return TransientGatewayError(f"HTTP_{status}", "Toss's answer could not be read.", status)
    code = str(data["code"])
    message = str(data.get("message") or "Toss answered without an explanation.")
    if status >= 500 or status in UNCERTAIN_STATUSES or code in RETRYABLE_CODES:
        return TransientGatewayError(code, message, status)
    if code in REQUEST_ERROR_CODES or status == 401:
        return GatewayRequestError(code, message, status)
    return GatewayRefusal(code, message, status)


def parse_time(value: Any) -> datetime | None:
    """Toss times carry +09:00; webhook `createdAt` has no zone and means Korean time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=KST)).astimezone(UTC)


def to_payment(data: dict[str, Any]) -> GatewayPayment:
    """A Toss Payment object in our terms (https://docs.tosspayments.com/reference#payment-객체)."""
    status = str(data.get("status") or "")
    total = int(data.get("totalAmount") or 0)
    balance = int(data.get("balanceAmount") if data.get("balanceAmount") is not None else total)
    approved = _approved(status, data)
    failure = data.get("failure") or {}
    card = data.get("card") or {}
    return GatewayPayment(
        provider=Provider.TOSS,
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
