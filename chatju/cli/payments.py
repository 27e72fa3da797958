"""`flask --app wsgi payments ...`: an operator's view of one order, and the levers."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from chatju import maintenance as jobs
from chatju.cli.drift import drift
from chatju.exceptions import DomainError
from chatju.extensions import db
from chatju.gateways.models import GatewayCall
from chatju.jobs import commit_then_enqueue
from chatju.payments import refunds
from chatju.payments.models import OutboxItem, Payment, PaymentEvent, Refund, RefundStatus
from chatju.payments.schemas import payment_json
from chatju.timefmt import iso_utc
from chatju.webhooks.models import WebhookEvent

cli = AppGroup("payments", help="Look into and act on payments.")
cli.add_command(drift)
REFUND_WAIT_SECONDS = 60


def _payment(order_id: str) -> Payment:
    payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order_id)).scalar_one_or_none()
    if payment is None:
        raise click.ClickException(f"no order {order_id}")
    return payment


@cli.command("show")
@click.argument("order_id")
def show(order_id: str) -> None:
    """The payment and one timeline of its ledger, webhooks, gateway calls, refunds and effects."""
    payment = _payment(order_id)
    click.echo(json.dumps(payment_json(payment, owner=False), indent=2, ensure_ascii=False))
    click.echo("\ntimeline (UTC):")
    for at, kind, text in sorted(_timeline(payment), key=lambda row: row[0]):
        click.echo(f"  {iso_utc(at)}  {kind:<8} {text}")


def _timeline(payment: Payment) -> list[tuple[datetime, str, str]]:
    rows: list[tuple[datetime, str, str]] = []
    for e in _all(sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id)):
        move = f"{e.from_status or '-'} -> {e.to_status or '-'}" if e.to_status else ""
        who = f" by {e.actor}" if e.actor else ""
        rows.append(
            (e.created_at, "ledger", f"{e.kind} {move} [{e.source}]{who} {e.reason or ''} {e.gateway_reference or ''}")
        )
    for w in _all(sa.select(WebhookEvent).where(_webhooks_of(payment))):
        note = f" ({w.last_error})" if w.last_error else ""
        rows.append((w.received_at, "webhook", f"{w.provider} {w.event_type} {w.state} x{w.deliveries}{note}"))
    for c in _all(sa.select(GatewayCall).where(GatewayCall.order_id == payment.order_id)):
        code = f" {c.error_code}" if c.error_code else ""
        status = f"{c.http_status or '-'}{code}"
        text = f"{c.operation} {c.outcome} {status} {c.duration_ms}ms key={c.idempotency_key or '-'}"
        rows.append((c.created_at, "gateway", text))
    for r in _all(sa.select(Refund).where(Refund.payment_id == payment.id)):
        rows.append(
            (
                r.created_at,
                "refund",
                f"{r.refund_id} {r.amount} {r.currency} {r.status} by {r.requested_by or r.source}: {r.reason}",
            )
        )
    for o in _all(sa.select(OutboxItem).where(OutboxItem.payment_id == payment.id)):
        rows.append((o.created_at, "effect", f"{o.effect} {o.state} attempts={o.attempts} {o.last_error or ''}"))
    return rows


def _webhooks_of(payment: Payment) -> Any:
    condition = WebhookEvent.order_id == payment.order_id
    if payment.payment_intent_id:  # Stripe charge.* events name the intent, not the order
        condition = sa.or_(condition, WebhookEvent.body.contains(payment.payment_intent_id))
    return condition


def _all(query: Any) -> list[Any]:
    return list(db.session.execute(query).scalars())


@cli.command("reconcile")
@click.argument("order_id", required=False)
def reconcile(order_id: str | None) -> None:
    """Reconcile now: one order, or everything the beat would pick up."""
    if order_id is not None:
        _payment(order_id)
    counts = jobs.reconcile(order_id)
    if counts.get("skipped"):
        raise click.ClickException("another reconciliation is running; try again in a moment")
    click.echo(", ".join(f"{name}: {count}" for name, count in counts.items()) or "nothing to reconcile")
    if order_id is not None:
        db.session.expire_all()
        click.echo(f"{order_id}: {_payment(order_id).status}")
    if counts.get("errors"):
        raise click.ClickException(f"{counts['errors']} item(s) failed; see the log")


@cli.command("refund")
@click.argument("order_id")
@click.option("--amount", type=click.IntRange(min=1), help="Minor units; the whole remainder when left out.")
@click.option("--reason", required=True, help="Why (1-200 characters); sent to the gateway.")
def refund(order_id: str, amount: int | None, reason: str) -> None:
    """Refund through the gateway and wait for its answer."""
    reason = reason.strip()
    if not 1 <= len(reason) <= 200:
        raise click.BadParameter("1-200 characters", param_hint="--reason")
    try:
        _, created = refunds.request_refund(order_id, amount, reason, actor="operator (cli)")
    except DomainError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    if not commit_then_enqueue():
        click.echo("the broker is unreachable: reconciliation will send the refund", err=True)
    click.echo(f"refund {created.refund_id} of {created.amount} {created.currency} requested; waiting for the gateway")
    outcome = _wait_for_refund(created.id)
    click.echo(
        f"refund {outcome.refund_id}: {outcome.status}"
        + (f" ({outcome.failure_code}: {outcome.failure_message})" if outcome.failure_code else "")
    )
    payment = db.session.get_one(Payment, outcome.payment_id)
    click.echo(
        f"{order_id}: {payment.status}, refunded {payment.refunded_amount} of {payment.amount} {payment.currency}"
    )
    if outcome.status != RefundStatus.SUCCEEDED:
        raise click.ClickException(
            "the refund did not succeed"
            if outcome.status == RefundStatus.FAILED
            else "no answer yet; reconciliation will follow it"
        )


def _wait_for_refund(refund_pk: int) -> Refund:
    deadline = time.monotonic() + REFUND_WAIT_SECONDS
    while True:
        db.session.rollback()
        refund = db.session.get_one(Refund, refund_pk, populate_existing=True)
        if refund.status != RefundStatus.PENDING or time.monotonic() > deadline:
            return refund
        time.sleep(0.2)
