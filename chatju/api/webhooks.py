"""Webhook endpoints: verify what can be verified, store once, answer at once (SPEC §5)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from chatju.api import responses
from chatju.api.docs import documented
from chatju.api.unit_of_work import commit_record
from chatju.errors import APIError
from chatju.extensions import limiter
from chatju.gateways import stripe, toss
from chatju.gateways.port import WebhookRejectedError
from chatju.gateways.registry import gateway
from chatju.http import large_body
from chatju.observability import metrics
from chatju.settings import current_settings
from chatju.webhooks import service

bp = Blueprint("webhooks", __name__, url_prefix="/payment")

# Stripe signs every delivery, so only deliveries that fail verification count against the
# sender's address (SPEC §4): a burst of genuine events is never refused (Stripe would back off
# for hours), while a forger is still held to RATE_LIMIT_WEBHOOK. Checked in the view, after
# verifying, with Flask-Limiter's context-manager form: a limit on the route would be checked
# before the view ran, refusing genuine deliveries once forged ones had used the allowance.
forged_deliveries = limiter.limit(lambda: current_settings().rate_limit_webhook)


@bp.post("/toss/webhook")
@documented(
    "Toss webhooks: stored once, answered at once",
    {200: responses.Status},
    any_json_body=True,
    tags=("webhooks",),
    headers={"tosspayments-webhook-transmission-id": "Toss's delivery id"},
)
@large_body
# Per source address, so forged bodies cannot become a flood of calls to Toss; Toss's own
# published addresses are exempt (its retries of a burst must not be refused).
@limiter.limit(
    lambda: current_settings().rate_limit_webhook,
    exempt_when=lambda: request.remote_addr in current_settings().toss_webhook_ips,
)
def toss_webhook() -> tuple[Response, int]:
    return receive(toss.NAME)


@bp.post("/stripe/webhook")
@documented(
    "Stripe webhooks: signature verified, stored once, answered at once",
    {200: responses.Status},
    any_json_body=True,
    tags=("webhooks",),
    headers={"Stripe-Signature": "t=...,v1=..."},
    required_headers=("Stripe-Signature",),
)
@large_body
@limiter.exempt  # from the default limit too: see forged_deliveries
def stripe_webhook() -> tuple[Response, int]:
    return receive(stripe.NAME, limit_forged=True)


def receive(provider: str, limit_forged: bool = False) -> tuple[Response, int]:
    """Hand the raw delivery to its adapter; store what it recognises and answer 200.

    With `limit_forged`, a delivery whose signature fails counts against its address, and
    past RATE_LIMIT_WEBHOOK is answered 429 instead of 400.
    """
    adapter = gateway(provider)
    try:
        delivery = adapter.read_webhook(request.get_data(cache=False), request.headers)  # type: ignore[arg-type]
    except WebhookRejectedError as rejected:
        if rejected.code == "INVALID_SIGNATURE":
            metrics.count_signature_failure(provider)
            if limit_forged:
                count_forged_delivery()
        raise APIError(400, rejected.code, rejected.message) from None
    service.receive(provider, delivery)
    commit_record()  # stored: acknowledged, even if the broker refused its task (SPEC §5)
    return jsonify(status="ok"), 200


def count_forged_delivery() -> None:
    """Count a delivery that failed verification; RateLimitExceeded (429) once past the limit."""
    with forged_deliveries:
        pass
