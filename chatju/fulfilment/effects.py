"""Delivering outbox items: grant or revoke a reading, send the receipt."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from chatju.auth.models import User
from chatju.db import insert_for, table_of, utcnow
from chatju.extensions import db
from chatju.fulfilment.models import Entitlement, EntitlementStatus
from chatju.mail import Mail, send_mail
from chatju.payments import outbox
from chatju.payments.catalogue import PREMIUM_READING
from chatju.payments.models import Effect, OutboxState, Payment
from chatju.payments.money import format_amount
from chatju.settings import current_settings
from chatju.states import PaymentStatus

log = logging.getLogger(__name__)


def deliver(item_id: int) -> bool:
    """Deliver one item unless done or held elsewhere; True when this call delivered it."""
    item = outbox.claim(item_id)
    if item is None:
        return False
    payment = db.session.get(Payment, item.payment_id)
    if payment is None:
        raise LookupError(f"payment {item.payment_id} of outbox item {item_id} is missing")
    match item.effect:
        case Effect.GRANT:
            grant(payment)
        case Effect.REVOKE:
            revoke(payment)
        case Effect.RECEIPT:
            send_receipt(payment)
    item.state = OutboxState.DONE
    item.done_at = utcnow()
    return True


def grant(payment: Payment) -> None:
    """One premium reading per paid order: the entitlement row is unique per payment."""
    refunded = payment.status == PaymentStatus.REFUNDED  # the refund's revoke may have come first
    status = EntitlementStatus.REVOKED if refunded else EntitlementStatus.GRANTED
    inserted = _insert_entitlement(payment, status)
    if inserted and not refunded:
        _add_readings(payment.user_id, 1)


def revoke(payment: Payment) -> None:
    """Take the reading back; if the grant has not run yet, leave it revoked in advance."""
    if _insert_entitlement(payment, EntitlementStatus.REVOKED):
        return
    revoked = db.session.execute(
        sa.update(Entitlement)
        .where(Entitlement.payment_id == payment.id, Entitlement.status == EntitlementStatus.GRANTED)
        .values(status=EntitlementStatus.REVOKED, revoked_at=utcnow())
        .returning(Entitlement.id)
    ).scalar_one_or_none()
    if revoked is not None:
        _add_readings(payment.user_id, -1)


def _insert_entitlement(payment: Payment, status: EntitlementStatus) -> bool:
    table = table_of(Entitlement)
    now = utcnow()
    inserted = db.session.execute(
        insert_for(db.session, table)
        .values(
            user_id=payment.user_id,
            payment_id=payment.id,
            product_id=PREMIUM_READING,
            quantity=1,
            status=status,
            granted_at=now,
            revoked_at=now if status == EntitlementStatus.REVOKED else None,
        )
        .on_conflict_do_nothing(index_elements=["payment_id"])
        .returning(table.c.id)
    ).scalar_one_or_none()
    return inserted is not None


def _add_readings(user_id: int, change: int) -> None:
    """Adjust the count; a reading already used is not taken below zero (the ledger keeps the refund)."""
    readings = table_of(User).c.premium_readings
    db.session.execute(
        sa.update(User)
        .where(User.id == user_id)
        .values(premium_readings=sa.case((readings + change < 0, 0), else_=readings + change))
    )


def send_receipt(payment: Payment) -> None:
    """The receipt mail; its Message-ID is fixed per order, so a resend after a crash is the same mail."""
    user = db.session.get(User, payment.user_id)
    if user is None:
        return
    lines = [
        "Thank you for your order.",
        "",
        f"Order:   {payment.order_id}",
        f"Item:    {payment.order_name}",
        f"Amount:  {format_amount(payment.amount, payment.currency)}",
        f"Paid by: {payment.method or 'card'} via {str(payment.provider).title()}",
    ]
    if payment.receipt_url:
        lines.append(f"Receipt: {payment.receipt_url}")
    lines += ["", "Your premium reading is ready in ChatJu."]
    mail = Mail(
        to=user.email,
        subject=f"Your ChatJu receipt ({payment.order_id})",
        text="\n".join(lines) + "\n",
        message_id=f"<receipt-{payment.order_id}@chatju.app>",
    )
    send_mail(current_settings(), mail)
