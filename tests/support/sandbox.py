"""The gateway sandbox as a real process for the tests, with a small client of its control API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from sandbox.config import (
    SANDBOX_STRIPE_PUBLISHABLE_KEY,
    SANDBOX_STRIPE_SECRET_KEY,
    SANDBOX_STRIPE_WEBHOOK_SECRET,
    SANDBOX_TOSS_CLIENT_KEY,
    SANDBOX_TOSS_SECRET_KEY,
)

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30
CALL_TIMEOUT_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SandboxError(AssertionError):
    """A control call the sandbox refused."""


class SandboxProcess:
    """`python -m sandbox` on a free port of 127.0.0.1, logging to `log_path`.

    `env` is added to the process environment; the Toss and Stripe keys default to the
    sandbox's own, e.g. `{"SANDBOX_TOSS_WEBHOOK_URL": ..., "SANDBOX_STRIPE_WEBHOOK_URL": ...,
    "SANDBOX_WEBHOOK_RETRY_SECONDS": "0.05"}`.
    """

    def __init__(self, log_path: Path, env: dict[str, str] | None = None, port: int | None = None):
        self.log_path = log_path
        self.port = port or free_port()
        self.env = {
            "TOSS_CLIENT_KEY": SANDBOX_TOSS_CLIENT_KEY,
            "TOSS_SECRET_KEY": SANDBOX_TOSS_SECRET_KEY,
            "STRIPE_SECRET_KEY": SANDBOX_STRIPE_SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": SANDBOX_STRIPE_PUBLISHABLE_KEY,
            "STRIPE_WEBHOOK_SECRET": SANDBOX_STRIPE_WEBHOOK_SECRET,
            **(env or {}),
            "SANDBOX_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def toss_api_base(self) -> str:
        return f"{self.base_url}/toss"

    @property
    def toss_secret_key(self) -> str:
        return self.env["TOSS_SECRET_KEY"]

    @property
    def toss_client_key(self) -> str:
        return self.env["TOSS_CLIENT_KEY"]

    @property
    def stripe_api_base(self) -> str:
        """STRIPE_API_BASE for the service; the SDK's `base_addresses={"api": ...}`."""
        return f"{self.base_url}/stripe"

    @property
    def stripe_secret_key(self) -> str:
        return self.env["STRIPE_SECRET_KEY"]

    @property
    def stripe_publishable_key(self) -> str:
        return self.env["STRIPE_PUBLISHABLE_KEY"]

    @property
    def stripe_webhook_secret(self) -> str:
        return self.env["STRIPE_WEBHOOK_SECRET"]

    def start(self) -> SandboxProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sandbox"],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox exited with {self.process.returncode}:\n{self.log()}")
            try:
                requests.get(f"{self.base_url}/_control/health", timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sandbox not answering after {READY_TIMEOUT_SECONDS}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The control API.

    def control(self, method: str, path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
        response = requests.request(
            method, f"{self.base_url}/_control{path}", json=body, params=params or None, timeout=CALL_TIMEOUT_SECONDS
        )
        if not response.ok:
            raise SandboxError(f"{method} /_control{path} → {response.status_code}: {response.text}")
        return response.json()

    def reset(self) -> None:
        self.control("POST", "/reset")

    def fault(self, gateway: str = "toss", **fault: Any) -> dict[str, Any]:
        """e.g. fault(mode="timeout", seconds=2, operation="confirm", count=1) or fault(latency_ms=50)."""
        return self.control("POST", "/faults", {"gateway": gateway, **fault})

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def webhooks(self, gateway: str = "toss", **settings: Any) -> dict[str, Any]:
        """e.g. webhooks(duplicate=True), webhooks(paused=True), webhooks(url=...)."""
        return self.control("POST", "/webhooks", {"gateway": gateway, **settings})

    def requests_log(self, gateway: str = "toss") -> list[dict[str, Any]]:
        return self.control("GET", "/requests", gateway=gateway)

    def webhook_log(self, gateway: str = "toss") -> list[dict[str, Any]]:
        return self.control("GET", "/webhooks/log", gateway=gateway)

    def deposit(self, order_id: str) -> dict[str, Any]:
        return self.control("POST", "/toss/deposit", {"orderId": order_id})

    def send_webhook(self, order_id: str, **kwargs: Any) -> str:
        """Send a Toss webhook for the order now (kwargs: eventType, status); returns its transmission id."""
        return self.control("POST", "/toss/webhook", {"orderId": order_id, **kwargs})["transmissionId"]

    def expire(self, order_id: str) -> dict[str, Any]:
        return self.control("POST", "/toss/expire", {"orderId": order_id})

    def checkout(
        self,
        order_id: str,
        amount: int,
        order_name: str = "ChatJu 프리미엄 사주",
        customer_key: str = "cust_sandbox_test",
        success_url: str = "http://127.0.0.1:8000/demo/toss/success",
        fail_url: str = "http://127.0.0.1:8000/demo/toss/fail",
        card: str = "success",
        client_key: str | None = None,
    ) -> dict[str, Any]:
        """Pay in the hosted checkout as the customer would: `{"url": "success"|"fail", "params", "location"}`."""
        form = {
            "clientKey": client_key or self.toss_client_key,
            "customerKey": customer_key,
            "orderId": order_id,
            "orderName": order_name,
            "amount": str(amount),
            "successUrl": success_url,
            "failUrl": fail_url,
            "card": card,
        }
        response = requests.post(
            f"{self.toss_api_base}/checkout", data=form, allow_redirects=False, timeout=CALL_TIMEOUT_SECONDS
        )
        if response.status_code != 303:
            raise SandboxError(f"checkout answered {response.status_code}: {response.text[:500]}")
        location = response.headers["Location"]
        params = dict(parse_qsl(urlsplit(location).query))
        return {"url": "success" if "paymentKey" in params else "fail", "params": params, "location": location}

    # Stripe.

    def stripe_pay(
        self,
        client_secret: str,
        card: str = "4242424242424242",
        return_url: str = "http://127.0.0.1:8000/demo/stripe/return",
        key: str | None = None,
    ) -> dict[str, Any]:
        """Pay on the hosted page as the customer would.

        Returns `{"url": "succeeded"|"failed" (the redirect_status), "params": the return_url's
        query (payment_intent, payment_intent_client_secret, redirect_status), "location"}`.
        """
        form = {
            "client_secret": client_secret,
            "return_url": return_url,
            "key": key or self.stripe_publishable_key,
            "card_number": card,
        }
        response = requests.post(
            f"{self.stripe_api_base}/pay", data=form, allow_redirects=False, timeout=CALL_TIMEOUT_SECONDS
        )
        if response.status_code != 303:
            raise SandboxError(f"stripe pay answered {response.status_code}: {response.text[:500]}")
        location = response.headers["Location"]
        params = dict(parse_qsl(urlsplit(location).query))
        return {"url": params.get("redirect_status"), "params": params, "location": location}

    def stripe_process(self, intent_id: str) -> dict[str, Any]:
        """requires_payment_method → processing (event payment_intent.processing); returns the intent."""
        return self.control("POST", "/stripe/process", {"payment_intent": intent_id})

    def stripe_succeed(self, intent_id: str) -> dict[str, Any]:
        """processing (or requires_payment_method) → succeeded as if paid with 4242; the intent, charge expanded."""
        return self.control("POST", "/stripe/succeed", {"payment_intent": intent_id})

    def stripe_dispute(self, intent_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        """Dispute the intent's charge (event charge.dispute.created); returns the Dispute."""
        return self.control("POST", "/stripe/dispute", {"payment_intent": intent_id, "reason": reason})

    def stripe_event(self, intent_id: str, type: str, **overrides: Any) -> str:
        """Send an event of `type` about the intent now, `overrides` replacing fields of its object; its id."""
        body = {"payment_intent": intent_id, "type": type, "object": overrides}
        return self.control("POST", "/stripe/event", body)["id"]

    def stripe_intents(self) -> list[dict[str, Any]]:
        return self.control("GET", "/stripe/intents")
