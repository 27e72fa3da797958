"""Writing the append-only ledger (`payment_events`)."""

from __future__ import annotations

from typing import Any

from chatju.extensions import db
from chatju.payments.models import Payment, PaymentEvent
from chatju.states import EventSource, LedgerKind, PaymentStatus


def record(
    payment: Payment,
    kind: LedgerKind,
    source: EventSource,
    *,
    from_status: PaymentStatus | None = None,
    to_status: PaymentStatus | None = None,
    amount: int | None = None,
    reference: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> PaymentEvent:
    event = PaymentEvent(
        payment_id=payment.id,
        kind=kind,
        source=source,
        from_status=from_status,
        to_status=to_status,
        amount=amount,
        gateway_reference=reference,
        actor=actor,
        reason=reason[:500] if reason else None,
        detail=detail,
    )
    db.session.add(event)
    return event
