"""The metric families, and the few functions the domain code calls to count.

Labels are low-cardinality by construction: providers, statuses, gateway operations,
Flask's URL rule (never the path, which holds order ids) and webhook event types from
the set we handle (anything else a sender invents is `other`). Never an order id.

What changes with a transaction (a payment's status, an inbox row) is counted when
that transaction commits, like `chatju.jobs` sends tasks: a task that rolls back and
retries counts once. What happened regardless (a gateway call, a refused signature)
is counted at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from chatju.db import utcnow
from chatju.extensions import db

PENDING = "chatju.pending_metrics"
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Refund statuses by their `kind` label, and the inbox outcomes (plain names: this module knows no domain).
REFUNDS = {"PARTIALLY_REFUNDED": "partial", "REFUNDED": "full"}
OUTCOMES = ("processed", "ignored")
# provider -> the webhook event types it handles (the only event types used as labels).
_event_types: dict[str, frozenset[str]] = {}

PAYMENTS_CREATED = Counter("chatju_payments_created", "Orders created", ["provider"])
PAYMENTS_PAID = Counter("chatju_payments_paid", "Payments that became PAID", ["provider"])
PAYMENTS_FAILED = Counter("chatju_payments_failed", "Payments that became FAILED", ["provider"])
PAYMENTS_REFUNDED = Counter(
    "chatju_payments_refunded", "Refunds applied: kind=partial (PARTIALLY_REFUNDED) or full", ["provider", "kind"]
)
PAYMENTS_CANCELED = Counter("chatju_payments_canceled", "Orders that became CANCELED", ["provider"])
PAYMENTS_EXPIRED = Counter("chatju_payments_expired", "Orders that became EXPIRED", ["provider"])
STATUS_COUNTERS = {
    "PAID": PAYMENTS_PAID,
    "FAILED": PAYMENTS_FAILED,
    "CANCELED": PAYMENTS_CANCELED,
    "EXPIRED": PAYMENTS_EXPIRED,
}
PAYMENTS_FLAGGED = Counter(
    "chatju_payments_flagged", "Times a payment was held for review (NEEDS_REVIEW), repeats included", ["provider"]
)

WEBHOOKS_RECEIVED = Counter(
    "chatju_webhook_events_received", "Webhook events stored (first delivery)", ["provider", "type"]
)
WEBHOOK_DUPLICATES = Counter(
    "chatju_webhook_duplicate_deliveries", "Deliveries of an event already stored", ["provider", "type"]
)
WEBHOOKS_PROCESSED = Counter(
    "chatju_webhook_events_processed",
    "Inbox events done: outcome=processed or ignored",
    ["provider", "type", "outcome"],
)
WEBHOOKS_FAILED = Counter(
    "chatju_webhook_events_failed",
    "Processing attempts that raised; final=true when the event gave up and stays failed",
    ["provider", "type", "final"],
)
WEBHOOK_SIGNATURE_FAILURES = Counter(
    "chatju_webhook_signature_failures", "Webhooks refused for a bad signature", ["provider"]
)
WEBHOOK_LAG = Histogram(
    "chatju_webhook_lag_seconds",
    "From the gateway's event time to the event applied by a worker",
    ["provider", "type"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600),
)

GATEWAY_LATENCY = Histogram(
    "chatju_gateway_request_duration_seconds",
    "Gateway API calls, by outcome (ok, error, timeout, connection_error)",
    ["gateway", "operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GATEWAY_ERRORS = Counter(
    "chatju_gateway_errors",
    "Gateway API calls that did not succeed; status is the HTTP status class, or none",
    ["gateway", "operation", "outcome", "status"],
)
# The last success of any process, dead ones included (a recycled worker made the call): max, not live.
GATEWAY_LAST_SUCCESS = Gauge(
    "chatju_gateway_last_success_timestamp_seconds",
    "When a call to the gateway last succeeded (Unix time)",
    ["gateway"],
    multiprocess_mode="max",
)

# Periodic jobs: when each last ran to its end (max over processes, as for the gateways' last success).
# Labelled `task`, not `job`: Prometheus gives every scraped series a `job` label of its own.
JOB_LAST_FINISHED = Gauge(
    "chatju_job_last_finished_timestamp_seconds",
    "When a periodic job (task: reconcile, expire, redrive, prune) last ran to its end (Unix time)",
    ["task"],
    multiprocess_mode="max",
)

REQUEST_LATENCY = Histogram(
    "chatju_http_request_duration_seconds",
    "HTTP requests, by route (the URL rule), method and status class",
    ["route", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def on_commit(action: Callable[[], None]) -> None:
    """Run `action` once the current transaction commits; a rollback drops it."""
    db.session().info.setdefault(PENDING, []).append(action)


# First among the after-commit listeners: one that raises (chatju.jobs) must not swallow the counts.
@event.listens_for(Session, "after_commit", insert=True)
def _count_committed(session: Session) -> None:
    for action in session.info.pop(PENDING, []):
        action()


@event.listens_for(Session, "after_rollback")
def _drop_uncommitted(session: Session) -> None:
    session.info.pop(PENDING, None)


def configure(event_types: dict[str, frozenset[str]]) -> None:
    """The providers this process counts for, with the webhook event types each handles."""
    _event_types.clear()
    _event_types.update(event_types)


def count_created(provider: str) -> None:
    on_commit(PAYMENTS_CREATED.labels(provider=provider).inc)


def count_move(provider: str, target: str) -> None:
    """A status change the state machine made (chatju.payments.transitions.move)."""
    if target in REFUNDS:
        on_commit(PAYMENTS_REFUNDED.labels(provider=provider, kind=REFUNDS[target]).inc)
        return
    counter = STATUS_COUNTERS.get(target)
    if counter is not None:
        on_commit(counter.labels(provider=provider).inc)


def count_flag(provider: str) -> None:
    on_commit(PAYMENTS_FLAGGED.labels(provider=provider).inc)


def count_stored(provider: str, event_type: str | None, first: bool, ignored: bool) -> None:
    """One delivery stored by the inbox: a new event (perhaps ignored at once) or a duplicate."""
    labels = {"provider": provider, "type": event_type_label(provider, event_type)}
    if not first:
        on_commit(WEBHOOK_DUPLICATES.labels(**labels).inc)
        return
    on_commit(WEBHOOKS_RECEIVED.labels(**labels).inc)
    if ignored:
        on_commit(WEBHOOKS_PROCESSED.labels(**labels, outcome="ignored").inc)


def count_finished(provider: str, event_type: str | None, outcome: str, lag_from: datetime | None) -> None:
    """An inbox event's processing ended; an applied one observes its lag from the gateway's clock."""
    labels = {"provider": provider, "type": event_type_label(provider, event_type)}
    on_commit(WEBHOOKS_PROCESSED.labels(**labels, outcome=outcome).inc)
    if outcome == "processed" and lag_from is not None:
        lag = _seconds_since(lag_from, utcnow())
        on_commit(functools.partial(WEBHOOK_LAG.labels(**labels).observe, lag))


def count_failed(provider: str, event_type: str | None, final: bool) -> None:
    """A processing attempt raised (recorded in its own transaction, so counted at once)."""
    WEBHOOKS_FAILED.labels(
        provider=provider, type=event_type_label(provider, event_type), final=str(final).lower()
    ).inc()


def count_signature_failure(provider: str) -> None:
    WEBHOOK_SIGNATURE_FAILURES.labels(provider=provider).inc()


def observe_gateway_call(gateway: str, operation: str, outcome: str, http_status: int | None, seconds: float) -> None:
    GATEWAY_LATENCY.labels(gateway=gateway, operation=operation, outcome=outcome).observe(seconds)
    if outcome == "ok":
        GATEWAY_LAST_SUCCESS.labels(gateway=gateway).set(utcnow().timestamp())
        return
    status = f"{http_status // 100}xx" if http_status else "none"
    GATEWAY_ERRORS.labels(gateway=gateway, operation=operation, outcome=outcome, status=status).inc()


def mark_job_finished(task: str) -> None:
    JOB_LAST_FINISHED.labels(task=task).set(utcnow().timestamp())


def observe_request(rule: Rule | None, method: str, status: int, seconds: float) -> None:
    """One answered request; unmatched paths (404s, scanners) share one label."""
    REQUEST_LATENCY.labels(
        route=rule.rule if rule is not None else "unmatched",
        method=method if method in METHODS else OTHER,
        status=f"{status // 100}xx",
    ).observe(seconds)


def event_type_label(provider: str, event_type: str | None) -> str:
    """The event type if it is one we handle; webhook bodies are not ours to size our label sets."""
    return event_type if event_type is not None and event_type in _event_types.get(provider, ()) else OTHER


def initialise() -> None:
    """Zero the series whose labels are known in advance, so they exist before the first event."""
    for provider, event_types in _event_types.items():
        for counter in (PAYMENTS_CREATED, PAYMENTS_PAID, PAYMENTS_FAILED, PAYMENTS_CANCELED, PAYMENTS_EXPIRED):
            counter.labels(provider=provider)
        for kind in REFUNDS.values():
            PAYMENTS_REFUNDED.labels(provider=provider, kind=kind)
        PAYMENTS_FLAGGED.labels(provider=provider)
        WEBHOOK_SIGNATURE_FAILURES.labels(provider=provider)
        for event_type in event_types:
            labels = {"provider": provider, "type": event_type}
            WEBHOOKS_RECEIVED.labels(**labels)
            WEBHOOK_DUPLICATES.labels(**labels)
            for outcome in OUTCOMES:
                WEBHOOKS_PROCESSED.labels(**labels, outcome=outcome)
            for final in ("true", "false"):
                WEBHOOKS_FAILED.labels(**labels, final=final)


def _seconds_since(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)
