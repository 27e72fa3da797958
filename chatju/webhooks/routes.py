"""Webhook endpoints: recognise, store once, answer at once (SPEC §5)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from chatju.api import responses
from chatju.api.docs import documented
from chatju.extensions import db, limiter
from chatju.payments.states import Provider
from chatju.settings import current_settings
from chatju.webhooks import service, stripe, toss
from chatju.webhooks.models import InboxState

bp = Blueprint("webhooks", __name__, url_prefix="/payment")


@bp.post("/toss/webhook")
@documented(
    "Toss webhooks: stored once, answered at once",
    {200: responses.Status},
    any_json_body=True,
    tags=("webhooks",),
    headers={"tosspayments-webhook-transmission-id": "Toss's delivery id"},
)
# Per source address, so forged bodies cannot become a flood of calls to Toss; Toss's own
# published addresses are exempt (its retries of a burst must not be refused).
@limiter.limit(
    lambda: current_settings().rate_limit_webhook,
    exempt_when=lambda: request.remote_addr in current_settings().toss_webhook_ips,
)
def toss_webhook() -> tuple[Response, int]:
    raw = request.get_data(cache=False)
    delivery = toss.parse(raw, request.headers.get(toss.TRANSMISSION_ID))
    return _store_and_ack(Provider.TOSS, delivery, raw.decode("utf-8", errors="replace"))


@bp.post("/stripe/webhook")
@documented(
    "Stripe webhooks: signature verified, stored once, answered at once",
    {200: responses.Status},
    any_json_body=True,
    tags=("webhooks",),
    headers={"Stripe-Signature": "t=...,v1=..."},
    required_headers=("Stripe-Signature",),
)
@limiter.limit(lambda: current_settings().rate_limit_webhook)
def stripe_webhook() -> tuple[Response, int]:
    raw = request.get_data(cache=False)
    stripe.verify(raw, request.headers.get("Stripe-Signature"), current_settings().stripe_webhook_secret)
    return _store_and_ack(Provider.STRIPE, stripe.parse(raw), stripe.body_to_keep(raw))


def _store_and_ack(provider: Provider, delivery: toss.Delivery | stripe.Delivery, body: str) -> tuple[Response, int]:
    """Store the delivery once, commit, hand it to a worker, answer 200 (SPEC §5)."""
    state = InboxState.RECEIVED if delivery.handled else InboxState.IGNORED
    event_id, _, stored = service.store(
        provider,
        delivery.event_id,
        delivery.event_type,
        delivery.order_id,
        body,
        service.kept_headers(request.headers),
        delivery.created_at,
        state,
    )
    db.session.commit()
    if service.needs_processing(stored):
        service.enqueue(event_id)  # if the broker is down, the beat's re-drive sends it
    return jsonify(status="ok"), 200
