"""Every model, imported in one place so the metadata (and Alembic) sees them all."""

from chatju.auth.models import MagicLink, RefreshToken, RevokedToken, SignIn, User
from chatju.fulfilment.models import Entitlement
from chatju.gateways.models import GatewayCall
from chatju.idempotency.models import IdempotencyKey
from chatju.payments.drift.models import DriftDifference, DriftRun
from chatju.payments.models import OutboxItem, Payment, PaymentEvent, Refund
from chatju.webhooks.models import WebhookEvent

__all__ = [
    "DriftDifference",
    "DriftRun",
    "Entitlement",
    "GatewayCall",
    "IdempotencyKey",
    "MagicLink",
    "OutboxItem",
    "Payment",
    "PaymentEvent",
    "RefreshToken",
    "Refund",
    "RevokedToken",
    "SignIn",
    "User",
    "WebhookEvent",
]
