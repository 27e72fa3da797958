"""A payment's gateway, as the core reaches it: its adapter from the registry, and the order it sees."""

from __future__ import annotations

from chatju.gateways.port import Gateway, Order
from chatju.gateways.registry import gateway
from chatju.payments.models import Payment


def gateway_of(payment: Payment) -> Gateway:
    return gateway(payment.provider)


def order_of(payment: Payment) -> Order:
    return Order(
        order_id=payment.order_id,
        amount=payment.amount,
        currency=payment.currency,
        description=payment.order_name,
        user_id=payment.user_id,
        started_reference=payment.payment_intent_id,
        bound_reference=bound_reference(payment),
    )


def bound_reference(payment: Payment) -> str | None:
    """The gateway payment this order is bound to.

    Two roles, two columns: `payment_intent_id` holds the gateway payment made when the
    order started (gateways that `starts_at_gateway`); `payment_key` the key a checkout
    returned, once the gateway accepted it (gateways that `confirms`).
    """
    return payment.payment_key or payment.payment_intent_id
