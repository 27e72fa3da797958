"""A customer paying through Toss in the tests: our API, the sandbox's checkout, our confirm."""

from __future__ import annotations

import base64
from typing import Any

import requests
import sqlalchemy as sa

from chatju.extensions import db
from chatju.webhooks.models import WebhookEvent
from sandbox.config import SANDBOX_TOSS_SECRET_KEY
from tests.support.shopper import Shopper


class TossShopper(Shopper):
    def create(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/payment/toss/create", json=body, headers=self.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def checkout(self, order: dict[str, Any], card: str = "success") -> dict[str, Any]:
        return self.sandbox.checkout(
            order_id=order["orderId"],
            amount=order["amount"],
            order_name=order["orderName"],
            customer_key=order["customerKey"],
            success_url=order["successUrl"],
            fail_url=order["failUrl"],
            card=card,
        )

    def confirm(self, order: dict[str, Any], payment_key: str, amount: int | None = None) -> Any:
        body = {"paymentKey": payment_key, "orderId": order["orderId"], "amount": amount or order["amount"]}
        return self.client.post("/payment/toss/confirm", json=body, headers=self.headers)

    def inbox(self, order: dict[str, Any]) -> list[WebhookEvent]:
        with self.app.app_context():
            events = list(
                db.session.execute(
                    sa.select(WebhookEvent).where(WebhookEvent.order_id == order["orderId"]).order_by(WebhookEvent.id)
                ).scalars()
            )
            for event in events:
                db.session.expunge(event)
            return events

    def toss_cancel(
        self, payment_key: str, reason: str, amount: int | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """Cancel at Toss directly, as an operator would in Toss's dashboard (or as our task did, with its key)."""
        body: dict[str, Any] = {"cancelReason": reason}
        if amount is not None:
            body["cancelAmount"] = amount
        return self._toss_post(f"/v1/payments/{payment_key}/cancel", body, key)

    def toss_confirm(self, order: dict[str, Any], payment_key: str) -> dict[str, Any]:
        """Confirm at Toss directly: a confirm whose answer never reached us."""
        return self._toss_post(
            "/v1/payments/confirm", {"paymentKey": payment_key, "orderId": order["orderId"], "amount": order["amount"]}
        )

    def _toss_post(self, path: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        token = base64.b64encode(f"{SANDBOX_TOSS_SECRET_KEY}:".encode()).decode()
        headers = {"Authorization": f"Basic {token}", **({"Idempotency-Key": key} if key else {})}
        response = requests.post(f"{self.sandbox.toss_api_base}{path}", json=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()
