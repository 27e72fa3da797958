"""A customer paying through Stripe in the tests, and Stripe-signed webhooks made by hand."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
import stripe

from chatju.extensions import db
from chatju.webhooks.models import WebhookEvent
from sandbox.config import SANDBOX_STRIPE_WEBHOOK_SECRET
from tests.support.shopper import Shopper


def signed(
    event: dict[str, Any], secret: str = SANDBOX_STRIPE_WEBHOOK_SECRET, at: int | None = None
) -> tuple[str, str]:
    """The body and a `Stripe-Signature` header for it, Stripe's real scheme."""
    body = json.dumps(event)
    return body, stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=at or int(time.time()))


def intent_event(intent: dict[str, Any], kind: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_test_{time.time_ns()}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
        "data": {"object": intent},
    }


class StripeShopper(Shopper):
    def create(self, expect: int = 201, **body: Any) -> dict[str, Any]:
        response = self.client.post("/payment/stripe/create", json=body, headers=self.headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def pay(self, order: dict[str, Any], card: str = "4242424242424242") -> dict[str, Any]:
        return self.sandbox.stripe_pay(order["clientSecret"], card=card)

    def webhook(self, event: dict[str, Any], **sign: Any) -> Any:
        body, header = signed(event, **sign)
        return self.client.post(
            "/payment/stripe/webhook", data=body, content_type="application/json", headers={"Stripe-Signature": header}
        )

    def read(self, order: dict[str, Any]) -> dict[str, Any]:
        response = self.client.get(f"/payment/{order['orderId']}", headers=self.headers)
        assert response.status_code == 200
        return response.get_json()

    def inbox(self) -> list[WebhookEvent]:
        with self.app.app_context():
            events = list(db.session.execute(sa.select(WebhookEvent).order_by(WebhookEvent.id)).scalars())
            for event in events:
                db.session.expunge(event)
            return events


def sandbox_intents(sandbox: Any) -> list[dict[str, Any]]:
    """Every PaymentIntent the sandbox holds (its debug listing)."""
    listing = sandbox.control("GET", "/stripe/intents")
    return listing["data"] if isinstance(listing, dict) else listing


def sandbox_intent(sandbox: Any, intent_id: str) -> dict[str, Any]:
    """The intent as Stripe would put it in an event (retrieved through the official SDK)."""
    client = stripe.StripeClient(sandbox.stripe_secret_key, base_addresses={"api": sandbox.stripe_api_base})
    return client.v1.payment_intents.retrieve(intent_id).to_dict()
