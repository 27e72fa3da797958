"""Stripe PaymentIntents and refunds through the official SDK: the API client.

https://docs.stripe.com/api/payment_intents — one StripeClient per process,
pointed at STRIPE_API_BASE; every POST carries an idempotency key that is
stable for its business operation (`create-{orderId}`, `cancel-{orderId}`, the
refund id), so a Celery retry gets the first request's real answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import stripe
from stripe.params import PaymentIntentListParams, RefundListParams

from chatju.gateways.port import CONNECT_TIMEOUT_SECONDS, GatewayPayment, GatewayRefund, Recorder, recorded_call
from chatju.gateways.stripe.errors import error_body, error_from
from chatju.gateways.stripe.mapping import intent_params, redact, to_payment, to_refund

NAME = "stripe"

_clients: dict[tuple[str, str, float], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def create_key(order_id: str) -> str:
    return f"create-{order_id}"


def cancel_key(order_id: str) -> str:
    return f"cancel-{order_id}"


def _client(secret_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    """One StripeClient per configuration and process (never `stripe.api_key = ...`)."""
    key = (secret_key, api_base, timeout)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = stripe.StripeClient(
                secret_key,
                base_addresses={"api": api_base},
                http_client=stripe.RequestsClient(timeout=(CONNECT_TIMEOUT_SECONDS, timeout)),
                max_network_retries=0,  # retries are Celery's, with our own stable keys
            )
        return _clients[key]


class StripeApi:
    def __init__(self, secret_key: str, api_base: str, timeout_seconds: float, recorder: Recorder) -> None:
        self._stripe = _client(secret_key, api_base.rstrip("/"), timeout_seconds)
        self._record = recorder

    def create_intent(
        self, order_id: str, user_id: int, amount: int, currency: str, description: str
    ) -> GatewayPayment:
        """POST /v1/payment_intents (https://docs.stripe.com/api/payment_intents/create)."""
        params = intent_params(order_id, user_id, amount, currency, description)
        intent = self._call(
            "create_intent",
            order_id,
            create_key(order_id),
            lambda: self._stripe.v1.payment_intents.create(
                params=params, options={"idempotency_key": create_key(order_id)}
            ),
        )
        return to_payment(intent)

    def retrieve_intent(self, intent_id: str, order_id: str | None = None) -> GatewayPayment:
        """GET /v1/payment_intents/{id}, with the latest charge (refunds, card, receipt).

        Every webhook and reconciliation makes this call: a raw request, whose JSON answer is
        read as it is rather than built into StripeObjects and turned back into a dict.
        """
        path = f"/v1/payment_intents/{quote_plus(intent_id)}"
        intent = self._call(
            "retrieve", order_id, None, lambda: self._stripe.raw_request("get", path, expand=["latest_charge"])
        )
        return to_payment(intent)

    def find_intent(self, order_id: str) -> GatewayPayment | None:
        """The intent created for an order whose create answer we lost, found by its metadata."""
        query = f"metadata['order_id']:'{order_id}'"
        result = self._call(
            "search",
            order_id,
            None,
            lambda: self._stripe.v1.payment_intents.search(params={"query": query, "expand": ["data.latest_charge"]}),
        )
        found = [item for item in result.get("data", []) if (item.get("metadata") or {}).get("order_id") == order_id]
        found.sort(key=lambda item: item.get("status") != "succeeded")  # a paid intent first
        return to_payment(found[0]) if found else None

    def cancel_intent(self, intent_id: str, order_id: str) -> GatewayPayment:
        """POST /v1/payment_intents/{id}/cancel."""
        intent = self._call(
            "cancel",
            order_id,
            cancel_key(order_id),
            lambda: self._stripe.v1.payment_intents.cancel(
                intent_id,
                params={"cancellation_reason": "requested_by_customer"},
                options={"idempotency_key": cancel_key(order_id)},
            ),
        )
        return to_payment(intent)

    def create_refund(self, intent_id: str, order_id: str, amount: int, reason: str, refund_id: str) -> GatewayRefund:
        """POST /v1/refunds (https://docs.stripe.com/api/refunds/create); our refund id is the key."""
        params: dict[str, Any] = {
            "payment_intent": intent_id,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": {"refund_id": refund_id, "order_id": order_id, "reason": reason[:500]},
        }
        created = self._call(
            "refund",
            order_id,
            refund_id,
            lambda: self._stripe.v1.refunds.create(params=params, options={"idempotency_key": refund_id}),  # type: ignore[arg-type]
        )
        return to_refund(created)

    def list_refunds(self, intent_id: str, order_id: str) -> list[GatewayRefund]:
        """GET /v1/refunds?payment_intent= (https://docs.stripe.com/api/refunds/list): the newest hundred."""
        result = self._call(
            "list_refunds",
            order_id,
            None,
            lambda: self._stripe.v1.refunds.list(params={"payment_intent": intent_id, "limit": 100}),
        )
        return [to_refund(item) for item in result.get("data", [])]

    def page_intents(self, since: int, until: int, starting_after: str | None, limit: int) -> dict[str, Any]:
        """GET /v1/payment_intents (https://docs.stripe.com/api/payment_intents/list): created in [since, until).

        One page, newest first, latest charge expanded; a list, not search, which lags behind writes.
        """
        params: PaymentIntentListParams = {
            "created": {"gte": since, "lt": until},
            "limit": limit,
            "expand": ["data.latest_charge"],
        }
        if starting_after is not None:
            params["starting_after"] = starting_after
        return self._call(
            "list_intents", None, None, lambda: self._stripe.v1.payment_intents.list(params=params), keep=_page_summary
        )

    def page_refunds(self, since: int, until: int, starting_after: str | None, limit: int) -> dict[str, Any]:
        """GET /v1/refunds (https://docs.stripe.com/api/refunds/list): created in [since, until); one page."""
        params: RefundListParams = {"created": {"gte": since, "lt": until}, "limit": limit}
        if starting_after is not None:
            params["starting_after"] = starting_after
        return self._call(
            "list_refunds", None, None, lambda: self._stripe.v1.refunds.list(params=params), keep=_page_summary
        )

    def _call(
        self,
        operation: str,
        order_id: str | None,
        key: str | None,
        call: Callable[[], Any],
        keep: Callable[[dict[str, Any]], Any] = redact,
    ) -> dict[str, Any]:
        """One call, recorded; `keep` says what of a success the audit trail holds (the redacted answer)."""
        with recorded_call(self._record, NAME, operation, order_id, key) as seen:
            try:
                answer = call()
                raw = isinstance(answer, stripe.StripeResponse)
                body: dict[str, Any] = dict(answer.data) if raw else answer.to_dict()
            except stripe.StripeError as exc:
                error = error_from(exc)
                seen.http_status, seen.error_code = exc.http_status, error.code
                seen.outcome = "connection_error" if isinstance(exc, stripe.APIConnectionError) else "error"
                seen.response = {"error": redact(error_body(exc))}
                raise error from None
            seen.http_status, seen.response = 200, keep(body)
            return body


def _page_summary(page: dict[str, Any]) -> dict[str, Any]:
    """A list page can hold a hundred objects: the trail keeps how many came, not the objects."""
    return {"object": "list", "count": len(page.get("data") or []), "has_more": bool(page.get("has_more"))}
