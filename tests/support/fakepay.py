"""FakePay: a third gateway that exists only in the tests, to prove the port holds.

`FakePayServer` is an in-memory stand-in for a gateway's API (payments made when the
order starts, refunds, signed webhooks, injected failures); `FakePayGateway` is an
adapter over it written the way `chatju/gateways/toss` and `chatju/gateways/stripe`
are, and `registration` is the one line the registry needs.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatju.config import Settings
from chatju.gateways.port import (
    Delivery,
    GatewayPayment,
    GatewayRefund,
    GatewayRequestError,
    Notice,
    Order,
    Recorder,
    RefundRequest,
    RefundResult,
    TransientGatewayError,
    WebhookRejectedError,
    Window,
    kept_headers,
)
from chatju.gateways.redaction import redactor
from chatju.gateways.registry import Registration
from chatju.states import PaymentStatus

NAME = "fakepay"
SECRET = b"fakepay-webhook-secret"
SIGNATURE = "FakePay-Signature"
HANDLED = frozenset({"payment.updated", "refund.created"})


@dataclass
class FakePayment:
    id: str
    order_id: str
    amount: int
    currency: str
    status: str = "open"  # open, paid, canceled
    refunds: list[dict[str, Any]] = field(default_factory=list)


class FakePayServer:
    """The gateway's side: what it holds, and the faults a test asks of it."""

    def __init__(self) -> None:
        self.payments: dict[str, FakePayment] = {}
        self.calls: list[str] = []
        self.refund_answer_lost = 0  # refunds that execute, then answer 500
        self._ids = itertools.count(1)

    def create(self, order: Order) -> FakePayment:
        self.calls.append("create")
        for payment in self.payments.values():
            if payment.order_id == order.order_id:
                return payment  # idempotent by order, as `create-{orderId}` keys are
        payment = FakePayment(f"fp_{next(self._ids)}", order.order_id, order.amount, order.currency)
        self.payments[payment.id] = payment
        return payment

    def pay(self, payment_id: str) -> tuple[bytes, dict[str, str]]:
        """The customer pays; returns the signed webhook the gateway sends about it."""
        self.payments[payment_id].status = "paid"
        return self.webhook("payment.updated", {"id": payment_id, "order": self.payments[payment_id].order_id})

    def refund(self, payment_id: str, amount: int, refund_id: str) -> dict[str, Any]:
        self.calls.append("refund")
        payment = self.payments[payment_id]
        for existing in payment.refunds:
            if existing["reference"] == refund_id:
                return existing
        refund = {"id": f"fr_{next(self._ids)}", "amount": amount, "reference": refund_id}
        payment.refunds.append(refund)
        if self.refund_answer_lost:
            self.refund_answer_lost -= 1
            raise TransientGatewayError("HTTP_500", "FakePay answered 500 after refunding.", 500)
        return refund

    def webhook(self, event_type: str, data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps({"id": f"evt_{next(self._ids)}", "type": event_type, "data": data}).encode()
        return raw, {SIGNATURE: sign(raw), "Content-Type": "application/json"}


def sign(raw: bytes) -> str:
    return hmac.new(SECRET, raw, hashlib.sha256).hexdigest()


class FakePayGateway:
    """The adapter: FakePay's shapes in the port's terms, and nothing of our tables."""

    name = NAME
    starts_at_gateway = True
    confirms = False
    handled_events = HANDLED

    def __init__(self, server: FakePayServer, recorder: Recorder) -> None:
        self.server = server
        self._record = recorder
        self.redact = redactor(frozenset({"card_number"}))

    def currencies(self) -> frozenset[str]:
        return frozenset({"USD", "EUR"})

    def minimum(self, currency: str) -> int:
        return 100

    def maximum(self, currency: str) -> int | None:
        return 500_000

    def refund_refusal(self, method: str | None) -> str | None:
        return None

    def refunds_to_account(self, method: str | None) -> bool:
        return False

    def start(self, order: Order) -> GatewayPayment:
        return self._view(self.server.create(order))

    def confirm(self, order: Order, key: str) -> GatewayPayment:
        raise GatewayRequestError("NOT_SUPPORTED", "FakePay payments are confirmed by the customer.")

    def fetch(self, order: Order) -> GatewayPayment | None:
        found = self.server.payments.get(order.started_reference or "")
        return self._view(found) if found is not None else None

    def fetch_attempt(self, order: Order, key: str) -> GatewayPayment:
        return self._view(self.server.payments[key])

    def cancel(self, order: Order) -> GatewayPayment:
        payment = self.server.payments[str(order.started_reference)]
        if payment.status == "open":
            payment.status = "canceled"
        return self._view(payment)

    def refund(self, order: Order, request: RefundRequest) -> RefundResult:
        done = self.server.refund(str(order.started_reference), request.amount, request.refund_id)
        refund = GatewayRefund(done["id"], done["amount"], done["reference"])
        return RefundResult(refund, self._view(self.server.payments[str(order.started_reference)]))

    def find_refund(self, order: Order, refund_id: str) -> GatewayRefund | None:
        payment = self.server.payments.get(order.started_reference or "")
        found = [r for r in (payment.refunds if payment else []) if r["reference"] == refund_id]
        return GatewayRefund(found[0]["id"], found[0]["amount"], refund_id) if found else None

    def list_payments(self, window: Window) -> list[GatewayPayment]:
        """FakePay keeps no times: every payment it holds is in every window."""
        self.server.calls.append("list")
        return [self._view(payment) for payment in self.server.payments.values()]

    def read_webhook(self, raw: bytes, headers: Mapping[str, str]) -> Delivery:
        if not hmac.compare_digest(headers.get(SIGNATURE) or "", sign(raw)):
            raise WebhookRejectedError("INVALID_SIGNATURE", "The FakePay-Signature header does not verify.")
        body = json.loads(raw)
        return Delivery(
            event_id=body["id"],
            event_type=body["type"],
            order_id=body["data"].get("order"),
            created_at=None,
            handled=body["type"] in HANDLED,
            body=raw.decode(),
            headers=kept_headers(headers, lambda name: name == SIGNATURE.lower()),
        )

    def notice(self, event_type: str, body: str) -> Notice:
        data = json.loads(body)["data"]
        if event_type == "refund.created":
            refund = GatewayRefund(data["refund"], data["amount"])
            return Notice(reference=data["id"], refunds=(refund,))
        return Notice(order_id=data.get("order"), reference=data["id"], reference_is_payment=True)

    def _view(self, payment: FakePayment) -> GatewayPayment:
        refunded = sum(r["amount"] for r in payment.refunds)
        target = {"paid": PaymentStatus.PAID, "canceled": PaymentStatus.CANCELED}.get(payment.status)
        if target == PaymentStatus.PAID and refunded:
            target = PaymentStatus.REFUNDED if refunded >= payment.amount else PaymentStatus.PARTIALLY_REFUNDED
        return GatewayPayment(
            reference=payment.id,
            order_id=payment.order_id,
            gateway_status=payment.status,
            target=target,
            amount=payment.amount,
            currency=payment.currency,
            refunded_amount=refunded,
            approved=payment.status == "paid",
            method="card",
            client_secret=f"{payment.id}_secret",
            raw=self.redact({"id": payment.id, "card_number": "4242"}),
        )


def registration(server: FakePayServer) -> Registration:
    """The one line a new gateway adds to the registry (here made by the test, not chatju)."""

    def build(settings: Settings, recorder: Recorder) -> FakePayGateway:
        return FakePayGateway(server, recorder)

    return Registration(NAME, build, lambda settings: True)
