"""The Toss Payments half of the sandbox: core API, hosted checkout, webhooks, control."""

from __future__ import annotations

from flask import Blueprint

from sandbox.state import Gateway, Sandbox
from sandbox.toss import api, checkout, control, events, listing
from sandbox.toss.store import TossStore
from sandbox.webhooks import WebhookSender

bp = Blueprint("toss", __name__, url_prefix="/toss")
bp.register_blueprint(checkout.bp)
bp.register_blueprint(listing.bp)
bp.register_blueprint(api.bp)  # its catch-all answers Toss's 404 for anything else under /toss

control_bp = control.bp  # mounted at /_control/toss


def install(sandbox: Sandbox) -> None:
    """Give `sandbox` a Toss store and webhook sender configured from its settings."""
    config = sandbox.config
    sender = WebhookSender(
        gateway=api.GATEWAY,
        default_url=config.toss_webhook_url,
        headers=events.delivery_headers,
        log=sandbox.deliveries,
        retry_base=config.webhook_retry_seconds,
        timeout=config.webhook_timeout_seconds,
    )
    state = TossStore(config.toss_confirm_window_seconds, sender)
    sandbox.add_gateway(Gateway(api.GATEWAY, api.OPERATIONS, state, sender))
