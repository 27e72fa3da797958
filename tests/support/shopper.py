"""What every test customer does, whichever the gateway: wait, and look at their order."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from chatju.extensions import db
from chatju.payments.models import Payment


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


class Shopper:
    def __init__(self, app: Flask, client: FlaskClient, sandbox: Any, headers: dict[str, str]) -> None:
        self.app = app
        self.client = client
        self.sandbox = sandbox
        self.headers = headers

    def payment(self, order: dict[str, Any]) -> Payment:
        with self.app.app_context():
            payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order["orderId"])).scalar_one()
            db.session.expunge(payment)
            return payment

    def status(self, order: dict[str, Any]) -> str:
        return str(self.payment(order).status)

    def wait_for(self, order: dict[str, Any], status: str, timeout: float = 30.0) -> None:
        wait_until(lambda: self.status(order) == status, timeout)
