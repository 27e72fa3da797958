"""Before and after, in one process: the acknowledgement's two costliest steps, each as it was and as it is.

    .venv/bin/python -m bench.hot_path [--rounds 30]

CPU time (`time.process_time`) per operation, the minimum over rounds of 100 publishes or 50
inserts, the two variants alternating round by round, so a busy machine slows both alike and
the minimum shows the cost when nothing interfered:
- publishing a task: kombu's own Redis transport (a new redis client per message) against
  `chatju.broker` (one client per channel), to a queue of the run's own prefix, removed after;
- the inbox INSERT: SQLAlchemy's PostgreSQL INSERT ... ON CONFLICT construct (compiled again
  for every delivery: it cannot be cached) against the typed text statement
  `chatju.webhooks.service.insert_event` (compiled once), in a database of its own, rolled
  back each round and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from celery import Celery

from bench import stack


def minimum_ms(
    rounds: int, per_round: int, variants: dict[str, Callable[[], None]], after: Callable[[], None]
) -> dict[str, float]:
    best = {name: float("inf") for name in variants}
    for _ in range(rounds):
        for name, operation in variants.items():
            started = time.process_time()
            for _ in range(per_round):
                operation()
            best[name] = min(best[name], (time.process_time() - started) / per_round * 1000)
            after()
    return best


def publishing(rounds: int, env: dict[str, str]) -> dict[str, float]:
    from chatju.config import Settings
    from chatju.jobs import producer_config

    settings = Settings(
        **{
            key: value
            for key, value in env.items()
            if key in ("REDIS_URL", "REDIS_KEY_PREFIX", "CELERY_QUEUE", "DATABASE_URL")
        }
    )  # type: ignore[arg-type]
    apps = {}
    for name in ("kombu's Redis transport", "chatju.broker"):
        config = producer_config(settings)
        if name.startswith("kombu"):
            config.pop("broker_transport")
        app = Celery(name, set_as_current=False)
        app.conf.update(config)
        apps[name] = app
    queue = f"{settings.celery_queue}.hot-path"
    variants = {
        name: (lambda app=app: app.send_task("bench.nothing", args=[1], queue=queue, ignore_result=True))
        for name, app in apps.items()
    }
    return minimum_ms(rounds, 100, variants, lambda: None)


def inserting(rounds: int) -> dict[str, float]:
    from chatju import create_app
    from chatju.db import insert_for, table_of, utcnow
    from chatju.extensions import db
    from chatju.webhooks import service
    from chatju.webhooks.models import InboxState, WebhookEvent

    app = create_app()
    with app.app_context():
        table = table_of(WebhookEvent)
        columns = [table.c[name] for name in service.INSERTED_COLUMNS]
        construct = (
            insert_for(db.session, table)
            .values({c.name: sa.bindparam(c.name, type_=c.type) for c in columns})
            .on_conflict_do_nothing(index_elements=["provider", "event_id"])
            .returning(table.c.id)
        )

        def values() -> dict[str, object]:
            now = utcnow()
            return {
                "provider": "stripe", "event_id": "evt_" + secrets.token_hex(8), "event_type": "bench",
                "order_id": "ord_bench", "body": "{}", "headers": {"stripe-signature": "t=1,v1=x"},
                "state": InboxState.RECEIVED, "gateway_created_at": None, "received_at": now,
                "processed_at": None, "last_error": None,
            }  # fmt: skip

        variants = {
            "INSERT construct, compiled per delivery": lambda: db.session.execute(construct, values()),
            "typed text statement, compiled once": lambda: db.session.execute(service.insert_event(), values()),
        }
        best = minimum_ms(rounds, 50, variants, db.session.rollback)
        db.engine.dispose()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(f"hot path: {stack.machine()}")
    with stack.run_resources("hot") as (_, url, prefix), tempfile.TemporaryDirectory() as tmp:
        env = stack.production_env(url, prefix, Path(tmp) / "instance")
        os.environ.update(env)
        for title, figures in (
            ("publishing a task", publishing(args.rounds, env)),
            ("the inbox INSERT", inserting(args.rounds)),
        ):
            print(f"  {title}:")
            for name, ms in figures.items():
                print(f"    {name:<44} {ms:.3f} ms CPU")


if __name__ == "__main__":
    main()
