"""Tasks are routed by kind (SPEC §6), from the config the app, beat and worker share.

A worker without -Q consumes every queue.
"""

from __future__ import annotations

from celery import Celery

from chatju.config import Settings
from chatju.jobs import FORMER_TASK_NAMES, TASK_KINDS, TaskNames, producer_config, queue_names

KINDS = {"webhooks", "gateways", "effects", "maintenance"}


def producer(tmp_path, queue: str = "shop") -> Celery:
    settings = Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path), "CELERY_QUEUE": queue})
    app = Celery("routes", set_as_current=False)
    app.conf.update(producer_config(settings))
    return app


def routed(app: Celery, name: str) -> str:
    return str(app.amqp.router.route({}, name)["queue"].name)


def test_every_task_has_a_kind():
    names = {value for key, value in vars(TaskNames).items() if key.isupper()}
    assert set(TASK_KINDS) == names
    assert set(TASK_KINDS.values()) == KINDS


def test_each_task_is_sent_to_its_kinds_queue_named_from_celery_queue(tmp_path):
    app = producer(tmp_path)
    expected = {
        TaskNames.PROCESS_WEBHOOK: "shop.webhooks",
        TaskNames.START: "shop.gateways",
        TaskNames.CONFIRM: "shop.gateways",
        TaskNames.CANCEL_AT_GATEWAY: "shop.gateways",
        TaskNames.REFUND: "shop.gateways",
        TaskNames.SYNC: "shop.gateways",
        TaskNames.DELIVER_EFFECT: "shop.effects",
        TaskNames.SEND_MAGIC_LINK: "shop.effects",
        TaskNames.RECONCILE: "shop.maintenance",
        TaskNames.EXPIRE: "shop.maintenance",
        TaskNames.REDRIVE: "shop.maintenance",
        TaskNames.PRUNE: "shop.maintenance",
    }
    assert {name: routed(app, name) for name in expected} == expected
    for former, current in FORMER_TASK_NAMES.items():
        assert routed(app, former) == routed(app, current)
    assert routed(app, "no.such.kind") == "shop"


def test_a_worker_without_q_consumes_every_queue_each_on_its_own_exchange(tmp_path):
    app = producer(tmp_path)
    queues = app.amqp.queues  # what `celery worker` consumes when no -Q selects among them
    assert sorted(queues) == ["shop", "shop.effects", "shop.gateways", "shop.maintenance", "shop.webhooks"]
    assert sorted(queues) == sorted(
        queue_names(Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path), "CELERY_QUEUE": "shop"}))
    )
    for name, queue in queues.items():
        assert (queue.exchange.name, queue.exchange.type, queue.routing_key) == (name, "direct", name)
