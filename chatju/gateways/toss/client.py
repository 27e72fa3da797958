"""Toss Payments core API (version 2022-11-16): the HTTP client.

https://docs.tosspayments.com/reference — confirm, look up (by paymentKey and by
orderId), cancel, and list transactions. Basic auth with the secret key, JSON both
ways, errors as `{code, message}`; every POST carries an Idempotency-Key that is
stable for its business operation, so a retry gets the first request's real answer.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import requests

from chatju.gateways.port import (
    CONNECT_TIMEOUT_SECONDS,
    CallOutcome,
    GatewayPayment,
    Recorder,
    RefundAccount,
    TransientGatewayError,
    recorded_call,
)
from chatju.gateways.toss.errors import error_from
from chatju.gateways.toss.mapping import redact, to_payment

NAME = "toss"
LIST_TIMEOUT_SECONDS = 60  # "거래 조회는 최대 60초가 소요됩니다" (the transactions reference)

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
        self,
        payment_key: str,
        order_id: str,
        reason: str,
        amount: int | None,
        idempotency_key: str,
        account: RefundAccount | None = None,
    ) -> GatewayPayment:
        """POST /v1/payments/{paymentKey}/cancel: full without `amount`, else partial.

        https://docs.tosspayments.com/reference#결제-취소 — `refundReceiveAccount` is required for a
        deposited virtual account; the body is never recorded, and Toss's answer is redacted.
        """
        body: dict[str, Any] = {"cancelReason": reason}
        if amount is not None:
            body["cancelAmount"] = amount
        if account is not None:
            body["refundReceiveAccount"] = {
                "bank": account.bank,
                "accountNumber": account.account_number,
                "holderName": account.holder_name,
            }
        data = self._call("cancel", "POST", f"/v1/payments/{payment_key}/cancel", order_id, body, idempotency_key)
        return to_payment(data)

    def list_transactions(self, start: str, end: str, starting_after: str | None, limit: int) -> list[dict[str, Any]]:
        """GET /v1/transactions (https://docs.tosspayments.com/reference#거래-조회): one page, oldest first.

        `start` and `end` are Korean local times, both included; Toss asks for a read timeout of
        at least 60 seconds on this call.
        """
        params: dict[str, Any] = {"startDate": start, "endDate": end, "limit": limit}
        if starting_after is not None:
            params["startingAfter"] = starting_after
        timeout = (CONNECT_TIMEOUT_SECONDS, max(self._timeout[1], LIST_TIMEOUT_SECONDS))
        with recorded_call(self._record, NAME, "list_transactions", None, None) as seen:
            response = self._send(seen, "GET", "/v1/transactions", None, None, params, timeout)
            seen.http_status = response.status_code
            data = _any_json(response)
            if response.status_code != 200:
                error = error_from(response.status_code, data if isinstance(data, dict) else {})
                seen.outcome, seen.error_code, seen.response = "error", error.code, redact(data)
                raise error
            if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
                seen.outcome, seen.error_code = "error", "INVALID_RESPONSE"
                raise TransientGatewayError("INVALID_RESPONSE", "Toss answered 200 without a list.", 200)
            # A page can hold thousands of rows: the trail keeps how many came, not the rows.
            seen.response = {"rows": len(data), "startingAfter": starting_after}
            return data

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        order_id: str | None,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        with recorded_call(self._record, NAME, operation, order_id, idempotency_key) as seen:
            response = self._send(seen, method, path, body, idempotency_key)
            data = _json(response)
            seen.http_status, seen.response = response.status_code, redact(data)
            if response.status_code == 200 and not data.get("paymentKey"):
                seen.outcome, seen.error_code = "error", "INVALID_RESPONSE"
                raise TransientGatewayError("INVALID_RESPONSE", "Toss answered 200 without a payment.", 200)
            if response.status_code != 200:
                error = error_from(response.status_code, data)
                seen.outcome, seen.error_code = "error", error.code
                raise error
            return data

    def _send(
        self,
        seen: CallOutcome,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        idempotency_key: str | None,
        params: dict[str, Any] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """One HTTP exchange; a timeout or a connection failure is transient (whether it ran is unknown)."""
        headers = {"Authorization": self._auth, "Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            return _session().request(
                method, self._base + path, json=body, params=params, headers=headers, timeout=timeout or self._timeout
            )
        except requests.Timeout:
            seen.outcome, seen.error_code = "timeout", "TIMEOUT"
            raise TransientGatewayError("TIMEOUT", "Toss did not answer in time.") from None
        except requests.RequestException as exc:
            seen.outcome, seen.error_code = "connection_error", "CONNECTION_ERROR"
            reason = f"Could not reach Toss ({type(exc).__name__})."
            raise TransientGatewayError("CONNECTION_ERROR", reason) from None


def _any_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
