"""Running the drift report: both sides of a window per gateway, the differences stored and flagged.

The gateway's side is what its adapter lists for the window (`Gateway.list_payments`); ours
is every payment that side names (by reference, else by order id) and every payment we
took or refunded in the window. One of ours that the listing does not name is looked up
on its own, so a payment at the window's edge is compared, not reported as missing.
The caller commits: the run, its differences and the flags are written together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from chatju.db import utcnow
from chatju.extensions import db
from chatju.gateways.port import Gateway, GatewayError, GatewayPayment, Window
from chatju.gateways.registry import gateway
from chatju.payments.adapter import bound_reference, order_of
from chatju.payments.drift.compare import Held, compare, theirs_json
from chatju.payments.drift.models import DriftDifference, DriftRun, RunOutcome
from chatju.payments.models import Payment, Refund, RefundStatus
from chatju.payments.transitions import flag_review, lock_payment
from chatju.states import EventSource
from chatju.validation import is_clean_text

log = logging.getLogger(__name__)
CHUNK = 500  # ids per IN (...) query


@dataclass
class Report:
    run: DriftRun
    differences: list[DriftDifference] = field(default_factory=list)


def run_report(window: Window, providers: Sequence[str], trigger: str) -> Report:
    """Compare each provider's window with ours; a gateway that fails ends the run as failed."""
    run = DriftRun(
        since=window.since, until=window.until, trigger=trigger, providers=list(providers), outcome=RunOutcome.RUNNING
    )
    run.checked = {}
    pairs: list[tuple[str, Payment | None, GatewayPayment | None]] = []
    name = ""
    try:
        for name in providers:
            compared = _pairs(gateway(name), window)
            run.checked[name] = len(compared)
            pairs.extend((name, payment, seen) for payment, seen in compared)
    except GatewayError as error:
        log.error("drift report could not finish", extra={"gateway": name, "error": error.code})
        run.outcome, run.error = RunOutcome.FAILED, f"{name}: {error.code}: {error.message}"[:500]
        db.session.add(run)
        db.session.flush()
        return Report(run)
    refunding = _refunds_in_flight([payment.id for _, payment, _ in pairs if payment is not None])
    found = (_difference(name, payment, seen, refunding) for name, payment, seen in pairs)
    report = Report(run, [difference for difference in found if difference is not None])
    run.outcome = RunOutcome.DIFFERENCES if report.differences else RunOutcome.CLEAN
    run.finished_at = utcnow()
    db.session.add(run)
    db.session.flush()
    for difference in report.differences:
        difference.run_id = run.id
        db.session.add(difference)
        _flag(difference)
    db.session.flush()
    log.info("drift report finished", extra={"outcome": str(run.outcome), "differences": len(report.differences)})
    return report


def _pairs(adapter: Gateway, window: Window) -> list[tuple[Payment | None, GatewayPayment | None]]:
    """Each gateway payment beside ours, then each of ours in the window the listing left out."""
    listed = adapter.list_payments(window)
    named = _named(adapter.name, listed)
    pairs: list[tuple[Payment | None, GatewayPayment | None]] = []
    matched: set[int] = set()
    for seen in listed:
        payment = named.get(("ref", seen.reference)) or named.get(("order", seen.order_id or ""))
        pairs.append((payment, seen))
        if payment is not None and bound_reference(payment) in (None, seen.reference):
            matched.add(payment.id)
    for payment in _ours_in(adapter.name, window):
        if payment.id not in matched:
            pairs.append((payment, _look_up(adapter, payment)))
    return pairs


def _named(provider: str, listed: Sequence[GatewayPayment]) -> dict[tuple[str, str], Payment]:
    """Our payments the gateway names, by its reference and by order id."""
    references = [seen.reference for seen in listed if seen.reference]
    order_ids = [seen.order_id for seen in listed if seen.order_id]
    found: dict[tuple[str, str], Payment] = {}
    for chunk in _chunks(references):
        bound = sa.or_(Payment.payment_key.in_(chunk), Payment.payment_intent_id.in_(chunk))
        for payment in _payments(sa.and_(Payment.provider == provider, bound)):
            for reference in (payment.payment_key, payment.payment_intent_id):
                if reference:
                    found[("ref", reference)] = payment
    for chunk in _chunks(order_ids):
        for payment in _payments(sa.and_(Payment.provider == provider, Payment.order_id.in_(chunk))):
            found[("order", payment.order_id)] = payment
    return found


def _ours_in(provider: str, window: Window) -> list[Payment]:
    """Our payments of `provider` paid in the window, or with a refund asked for or imported in it."""
    paid = sa.and_(Payment.paid_at >= window.since, Payment.paid_at < window.until)
    in_window = sa.and_(Refund.created_at >= window.since, Refund.created_at < window.until)
    refunded = Payment.id.in_(sa.select(Refund.payment_id).where(in_window))
    return _payments(sa.and_(Payment.provider == provider, sa.or_(paid, refunded)))


def _look_up(adapter: Gateway, payment: Payment) -> GatewayPayment | None:
    """The gateway's view of one of ours; None when it has no such payment."""
    try:
        return adapter.fetch(order_of(payment))
    except GatewayError as error:
        if error.missing:
            return None
        raise


def _difference(
    provider: str, payment: Payment | None, seen: GatewayPayment | None, refunding: set[int]
) -> DriftDifference | None:
    held = _held(payment, payment.id in refunding) if payment is not None else None
    finding = compare(held, seen)
    if finding is None:
        return None
    order_id = payment.order_id if payment is not None else _order_id(seen)
    return DriftDifference(
        provider=provider,
        kind=finding.kind,
        order_id=order_id,
        reference=(seen.reference if seen is not None else None) or (held.reference if held else None),
        payment_id=payment.id if payment is not None else None,
        ours=held.to_json() if held is not None else None,
        theirs=theirs_json(seen) if seen is not None else None,
        detail=finding.detail[:500],
    )


def _refunds_in_flight(payment_ids: list[int]) -> set[int]:
    """Which of these payments have a refund still waiting for the gateway's answer."""
    found: set[int] = set()
    for start in range(0, len(payment_ids), CHUNK):
        chunk = payment_ids[start : start + CHUNK]
        pending = sa.and_(Refund.payment_id.in_(chunk), Refund.status == RefundStatus.PENDING)
        found.update(db.session.execute(sa.select(Refund.payment_id).where(pending)).scalars())
    return found


def _held(payment: Payment, refund_in_flight: bool) -> Held:
    return Held(
        order_id=payment.order_id,
        status=payment.status,
        amount=payment.amount,
        refunded_amount=payment.refunded_amount,
        currency=payment.currency,
        reference=bound_reference(payment),
        refund_in_flight=refund_in_flight,
    )


def _flag(difference: DriftDifference) -> None:
    """Hold the payment for a person, once: a payment already held gains no second flag."""
    if difference.payment_id is None:
        return
    payment = lock_payment(difference.payment_id)
    if payment.needs_review:
        return
    detail: dict[str, object] = {
        "drift": {"run": difference.run_id, "kind": str(difference.kind), "theirs": difference.theirs}
    }
    flag_review(payment, EventSource.RECONCILE, f"drift report: {difference.kind}: {difference.detail}", detail)
    difference.flagged = True


def _order_id(seen: GatewayPayment | None) -> str | None:
    """The order id a gateway names, kept only if it can be stored as text."""
    order_id = seen.order_id if seen is not None else None
    return order_id[:64] if order_id and is_clean_text(order_id) else None


def _payments(condition: sa.ColumnElement[bool]) -> list[Payment]:
    return list(db.session.execute(sa.select(Payment).where(condition).order_by(Payment.id)).scalars())


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
