"""The demo pages in headless Chromium (Debian's, driven by Playwright) against a live app.

The app under test is built with `FRONTEND_URL` pointing at itself, so the
successUrl and failUrl it hands the checkout bring the browser back to it. It
shares the session's database, broker, worker and sandbox; the session's
`live_server` stays up because the sandbox delivers its webhooks there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from chatju import create_app
from tests.support import services
from tests.support.live import LiveServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; missing, the browser tests skip (fail under CHATJU_REQUIRE_SERVICES=1)."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Chromium is missing at {CHROMIUM} (apt-get install chromium; never `playwright install`)"
        if services.services_required():
            pytest.fail(f"{message}; CHATJU_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def demo_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def demo_app(test_env: dict[str, str], demo_port: int) -> Flask:
    """The app under test, with FRONTEND_URL = its own /demo."""
    return create_app({**test_env, "FRONTEND_URL": f"http://127.0.0.1:{demo_port}/demo"})


@pytest.fixture(scope="session")
def demo_server(demo_app: Flask, demo_port: int, live_server: LiveServer, worker: Any) -> Iterator[LiveServer]:
    """The app served on its own port."""
    server = LiveServer(demo_app, demo_port).start()
    yield server
    server.stop()


@pytest.fixture
def demo_settings(demo_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Change the served app's settings for one test: `demo_settings(payment_sync_wait_seconds=0)`."""

    def change(**values: Any) -> None:
        settings = demo_app.extensions["chatju.settings"]
        monkeypatch.setitem(demo_app.extensions, "chatju.settings", settings.model_copy(update=values))

    return change


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium: Path) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, app: Flask, demo_server: LiveServer) -> Iterator[Page]:
    """A fresh browser profile (empty localStorage) per test; fails the test on a script error of ours."""
    context = browser.new_context(locale="ko-KR", viewport={"width": 900, "height": 1100})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: _note_console_error(message, demo_server.url, problems))
    try:
        yield page
    finally:
        context.close()
    assert problems == [], problems


def _note_console_error(message: ConsoleMessage, origin: str, problems: list[str]) -> None:
    # Errors on the demo's own pages (a CSP refusal shows up here); the sandbox's pages are not ours,
    # and an API answer of 4xx (a 401 before a refresh) is the page working, not failing.
    if message.type != "error" or message.text.startswith("Failed to load resource"):
        return
    if message.location.get("url", "").startswith(origin):
        problems.append(f"console error: {message.text} at {message.location}")
