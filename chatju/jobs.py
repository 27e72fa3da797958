"""Sending Celery tasks from the app: by stable name, and only after the commit.

`chatju` never imports `tasks`; it names a task (`auth.send_magic_link`) and the
worker, which imports both, runs it. A task asked for inside a transaction is
held on the session and sent when that transaction commits, so a worker never
looks for a row that is not there yet; a rollback drops it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from celery import Celery
from flask import Flask, current_app
from kombu import Exchange, Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

from chatju import broker
from chatju.config import Settings
from chatju.extensions import db
from chatju.settings import current_settings

log = logging.getLogger(__name__)
PENDING = "chatju.pending_tasks"


class EnqueueError(Exception):
    """The transaction committed but a task could not be handed to the broker."""


class TaskNames:
    """Every task's name, in one place. Names are stable: messages in flight carry them."""

    SEND_MAGIC_LINK = "auth.send_magic_link"
    START = "payments.start"
    CONFIRM = "payments.confirm"
    CANCEL_AT_GATEWAY = "payments.cancel_at_gateway"
    REFUND = "payments.refund"
    SYNC = "payments.sync"
    PROCESS_WEBHOOK = "webhooks.process"
    DELIVER_EFFECT = "outbox.deliver"
    RECONCILE = "maintenance.reconcile"
    EXPIRE = "maintenance.expire"
    REDRIVE = "maintenance.redrive"
    PRUNE = "maintenance.prune"
    DRIFT = "maintenance.drift"


# The names tasks had before the gateway port: a worker still answers to them, so messages
# queued under them when a release deploys are run, not dropped.
FORMER_TASK_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "payments.confirm_toss": TaskNames.CONFIRM,
        "payments.create_stripe_intent": TaskNames.START,
        "payments.cancel_stripe_intent": TaskNames.CANCEL_AT_GATEWAY,
    }
)


class Kinds:
    """The kinds of work, each on its own queue `{CELERY_QUEUE}.{kind}` (SPEC §6).

    A slow gateway then never holds back webhook processing, nor mail a confirm; a large
    deployment runs workers per queue (`-Q chatju.gateways`), a small one a worker for all.
    """

    WEBHOOKS = "webhooks"  # processing stored inbox events
    GATEWAYS = "gateways"  # calls a customer may be waiting on: start, confirm, cancel, refund, sync
    EFFECTS = "effects"  # side effects and mail: entitlements, receipts, sign-in links
    MAINTENANCE = "maintenance"  # beat's periodic jobs


TASK_KINDS: Mapping[str, str] = MappingProxyType(
    {
        TaskNames.PROCESS_WEBHOOK: Kinds.WEBHOOKS,
        TaskNames.START: Kinds.GATEWAYS,
        TaskNames.CONFIRM: Kinds.GATEWAYS,
        TaskNames.CANCEL_AT_GATEWAY: Kinds.GATEWAYS,
        TaskNames.REFUND: Kinds.GATEWAYS,
        TaskNames.SYNC: Kinds.GATEWAYS,
        TaskNames.DELIVER_EFFECT: Kinds.EFFECTS,
        TaskNames.SEND_MAGIC_LINK: Kinds.EFFECTS,
        TaskNames.RECONCILE: Kinds.MAINTENANCE,
        TaskNames.EXPIRE: Kinds.MAINTENANCE,
        TaskNames.REDRIVE: Kinds.MAINTENANCE,
        TaskNames.PRUNE: Kinds.MAINTENANCE,
        TaskNames.DRIFT: Kinds.MAINTENANCE,
    }
)


def queue_for(settings: Settings, name: str) -> str:
    """The queue a task is sent to: its kind's, or CELERY_QUEUE itself for a name without one."""
    kind = TASK_KINDS.get(FORMER_TASK_NAMES.get(name, name))
    return f"{settings.celery_queue}.{kind}" if kind else settings.celery_queue


def queue_names(settings: Settings) -> list[str]:
    """Every queue a worker without `-Q` consumes: one per kind, and CELERY_QUEUE itself.

    CELERY_QUEUE stays consumed so tasks queued there before the split (or under a name
    with no kind) still run.
    """
    kinds = sorted(set(TASK_KINDS.values()))
    return [settings.celery_queue, *(f"{settings.celery_queue}.{kind}" for kind in kinds)]


def _routing(settings: Settings) -> dict[str, Any]:
    # Each queue its own direct exchange and routing key, as Celery makes a queue it was not
    # told of: on Redis, a message then lands in exactly one list.
    queues = [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in queue_names(settings)]
    names = [*TASK_KINDS, *FORMER_TASK_NAMES]
    return {
        "task_default_queue": settings.celery_queue,
        "task_queues": queues,
        "task_routes": {name: {"queue": queue_for(settings, name)} for name in names},
    }


def producer_config(settings: Settings) -> dict[str, Any]:
    """What sending a task needs: the broker, serialisation, and not hanging on a dead broker.

    The web app's producer uses these, routes included, so the app and beat send each task to
    its kind's queue; `celeryconfig.py` adds the worker's and beat's own.
    """
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        **_routing(settings),
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        # A web request must not hang on a dead broker.
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
    }
    if settings.redis_url:
        config["broker_transport"] = broker.TRANSPORT  # kombu's Redis transport, one client per channel
        # Minutes, not the default hour, before an unacknowledged task is redelivered. It must
        # outlast the longest task (a confirm's retries wait in the worker, not on the broker).
        config["broker_transport_options"] = {
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            "global_keyprefix": settings.redis_key_prefix,
            "socket_connect_timeout": 3,
        }
        config["result_backend_transport_options"] = {
            "global_keyprefix": settings.redis_key_prefix,
            # The default retries for 20 s: far too long inside a web request.
            "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        }
    else:
        # kombu's SQLAlchemy transport hands these to create_engine; it polls once a second.
        config["broker_transport_options"] = {"connect_args": {"timeout": 10}}
    return config


def retry_countdown(retries_done: int, at_least: float = 0) -> float:
    """Exponential backoff from GATEWAY_RETRY_BACKOFF_SECONDS, doubled each retry, with jitter."""
    base = max(current_settings().gateway_retry_backoff_seconds, at_least)
    return float(base * 2**retries_done) + random.uniform(0, base)  # noqa: S311 (jitter, not security)


def init_app(app: Flask, settings: Settings) -> None:
    producer = Celery("chatju", set_as_current=False)
    producer.conf.update(producer_config(settings))
    app.extensions["chatju.celery"] = producer


def producer() -> Celery:
    celery: Celery = current_app.extensions["chatju.celery"]
    return celery


def send(name: str, args: Sequence[Any] = (), **options: Any) -> None:
    """Send a task now (outside any transaction); raise EnqueueError when the broker refuses."""
    try:
        producer().send_task(name, args=list(args), **options)
    except Exception as exc:  # kombu raises many transport-specific errors
        log.error("could not enqueue task", extra={"task": name, "error": type(exc).__name__})
        raise EnqueueError(name) from exc


def enqueue_after_commit(name: str, args: Sequence[Any] = (), **options: Any) -> None:
    """Send the task once the current transaction commits; drop it on rollback."""
    db.session().info.setdefault(PENDING, []).append((name, tuple(args), options))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(PENDING, [])
    failed = []
    for name, args, options in pending:
        try:
            send(name, args, **options)
        except EnqueueError:
            failed.append(name)
    if failed:
        raise EnqueueError(", ".join(failed))


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(PENDING, None)


def commit_then_enqueue() -> bool:
    """Commit; a task the broker refuses afterwards is left to the beat's re-drive or reconciliation.

    For work whose record is the commit itself (a refund in flight, a cancel): answering
    503 after it committed would invite the client to do it twice. False when not sent.
    """
    try:
        db.session.commit()
        return True
    except EnqueueError:
        db.session.close()
        log.warning("committed; its task will be sent by the beat")
        return False


def broker_reachable(timeout: float = 2.0) -> bool:
    """Connect and declare our queue: exercises the transport the way sending a task does."""
    celery = producer()
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=int(timeout))
            channel: Any = conn.default_channel  # each transport's channel declares queues its own way
            channel.queue_declare(queue=celery.conf.task_default_queue, durable=True, auto_delete=False)
        return True
    except Exception:  # any transport error means "not ready"
        return False
