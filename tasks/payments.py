"""Payment gateway calls: thin tasks that load by id and call chatju services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from chatju import wakeups
from chatju.jobs import FORMER_TASK_NAMES, TaskNames, retry_countdown
from chatju.payments import cancel, confirm, refunds, start, sync
from chatju.settings import current_settings
from chatju.states import EventSource
from tasks import app

# A database hiccup is retried too: acknowledged late, a task that just raises would be lost.
DB_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
}
RETRIED: dict[str, Any] = {"bind": True, "max_retries": None, **DB_RETRY}


def confirm_payment(self: Task[Any, Any], payment_id: int, payment_key: str) -> None:
    """Confirm a checkout; retried with the same idempotency key while the gateway is unsure."""
    retry = confirm.run_confirm(payment_id, payment_key, self.request.retries)
    if retry is not None:
        raise self.retry(countdown=retry.countdown)
    wakeups.announce_after_commit(wakeups.payment_topic(payment_id))  # the confirm route is waiting


def start_payment(self: Task[Any, Any], payment_id: int) -> None:
    """Create the order's gateway payment; retried with the same idempotency key while the gateway is unsure."""
    countdown = start.run_start(payment_id, self.request.retries)
    if countdown is not None:
        raise self.retry(countdown=countdown)
    wakeups.announce_after_commit(wakeups.payment_topic(payment_id))  # the create route is waiting


def cancel_at_gateway(self: Task[Any, Any], payment_id: int) -> None:
    """Cancel a canceled or expired order's gateway payment (a late success still wins)."""
    if cancel.run_cancel_at_gateway(payment_id) and self.request.retries < current_settings().gateway_max_retries:
        raise self.retry(countdown=retry_countdown(self.request.retries))


@app.task(name=TaskNames.REFUND, **RETRIED)
def refund(self: Task[Any, Any], refund_pk: int) -> None:
    """Execute a reserved refund at the gateway, our refund id as the idempotency key."""
    countdown = refunds.run_refund(refund_pk, self.request.retries)
    if countdown is not None:
        raise self.retry(countdown=countdown)


@app.task(name=TaskNames.SYNC, **DB_RETRY)
def sync_payment(payment_id: int) -> str:
    """Re-fetch a payment from its gateway and apply what the gateway reports."""
    return sync.sync_payment(payment_id, EventSource.RECONCILE)


RUNS: dict[str, Callable[..., None]] = {
    TaskNames.CONFIRM: confirm_payment,
    TaskNames.START: start_payment,
    TaskNames.CANCEL_AT_GATEWAY: cancel_at_gateway,
}


def _register(name: str, run: Callable[..., None]) -> None:
    decorator: Callable[[Callable[..., None]], object] = app.task(name=name, **RETRIED)
    decorator(run)


for _name, _run in RUNS.items():
    _register(_name, _run)
# Messages still queued under a former name when a release deploys run as the task it became.
for _former, _current in FORMER_TASK_NAMES.items():
    _register(_former, RUNS[_current])
