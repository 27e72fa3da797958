"""Gateway clients built from the running app's settings."""

from __future__ import annotations

from chatju.gateways.audit import record_call
from chatju.gateways.stripe import StripeGateway
from chatju.gateways.toss import TossClient
from chatju.settings import current_settings


def toss_client() -> TossClient:
    settings = current_settings()
    return TossClient(settings.toss_secret_key, settings.toss_api_base, settings.gateway_timeout_seconds, record_call)


def stripe_gateway() -> StripeGateway:
    settings = current_settings()
    return StripeGateway(
        settings.stripe_secret_key, settings.stripe_api_base, settings.gateway_timeout_seconds, record_call
    )
