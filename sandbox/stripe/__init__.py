"""The Stripe half of the sandbox: the v1 API, the hosted payment page, signed webhooks, control.

Mounted at `/stripe`, so the service's STRIPE_API_BASE is `http://127.0.0.1:8081/stripe`
and the official SDK works against it unchanged (`base_addresses={"api": ...}`).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from sandbox.faults import EXECUTED_SAVED_ERROR500, MODES, SAVED_ERROR500
from sandbox.state import Gateway, Sandbox
from sandbox.stripe import api, control, events, intents, lists, pay, refunds
from sandbox.stripe.store import StripeStore
from sandbox.webhooks import RETRY_MINUTES, WebhookSender

STRIPE_TEST_RETRIES = 3  # test mode: "3 retries over a few hours" (reference §6), on the shared schedule

bp = Blueprint("stripe", __name__, url_prefix="/stripe")
bp.register_blueprint(pay.bp)
bp.register_blueprint(intents.bp)
bp.register_blueprint(lists.bp)
bp.register_blueprint(refunds.bp)
bp.register_blueprint(api.bp)  # its catch-all answers Stripe's 404 for anything else under /stripe

control_bp = control.bp  # mounted at /_control/stripe


@bp.after_request
def _stripe_headers(response: Response) -> Response:
    """`Request-Id` on every answer; the API's also echo `Stripe-Version` and the Idempotency-Key."""
    response.headers["Request-Id"] = api.request_id()
    if request.path.startswith("/stripe/v1/"):
        response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", events.API_VERSION)
        key = request.headers.get("Idempotency-Key")
        if key and request.method == "POST":
            response.headers["Idempotency-Key"] = key
    return response


def install(sandbox: Sandbox) -> None:
    """Give `sandbox` a Stripe store and a webhook sender signing with the webhook secret."""
    config = sandbox.config
    sender = WebhookSender(
        gateway=api.GATEWAY,
        default_url=config.stripe_webhook_url,
        headers=events.delivery_headers(config.stripe_webhook_secret),
        log=sandbox.deliveries,
        retry_base=config.webhook_retry_seconds,
        timeout=config.webhook_timeout_seconds,
        retry_steps=RETRY_MINUTES[:STRIPE_TEST_RETRIES],
        delivered=events.delivered,
    )
    modes = (*MODES, SAVED_ERROR500, EXECUTED_SAVED_ERROR500)
    gateway = Gateway(api.GATEWAY, api.OPERATIONS, StripeStore(sender), sender, modes)
    sandbox.add_gateway(gateway)
