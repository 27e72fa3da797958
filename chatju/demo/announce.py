"""What `make run` prints once everything answers: where the demo, the API, the sandbox and the mail are.

The Makefile starts this beside honcho (`python -m chatju.demo.announce`). It polls the
web app's /readyz, the sandbox's health and the demo page, prints one block, and exits.
It exits silently when `make run` ends first (Ctrl-C, or a process that would not start),
and says which address never answered if they are not all up within `GIVE_UP_SECONDS`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from chatju.config import Settings, load_dotenv_for_development

POLL_SECONDS = 0.5
GIVE_UP_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Places:
    """The addresses a newcomer needs, and the ones that must answer before they are printed."""

    api: str
    demo: str
    sandbox: str
    mail: str
    frontend: str | None  # FRONTEND_URL, when it is not the demo (successUrl and failUrl go there)

    def probes(self) -> dict[str, str]:
        return {
            "the API": f"{self.api}/readyz",
            "the sandbox": f"{self.sandbox}/_control/health",
            "the demo": self.demo,
        }


def places(settings: Settings, port: int, cwd: Path) -> Places:
    api = f"http://127.0.0.1:{port}"
    demo = f"{api}/demo/"
    frontend = str(settings.frontend_url).rstrip("/")
    return Places(
        api=api,
        demo=demo,
        sandbox=str(settings.development_gateway_url).rstrip("/"),
        mail=mail_place(settings, cwd),
        frontend=None if f"{frontend}/" == demo else frontend,
    )


def mail_place(settings: Settings, cwd: Path) -> str:
    """MAIL_URL without its credentials, else the development mail folder (relative when under `cwd`)."""
    if settings.mail_url:
        parts = urlsplit(settings.mail_url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port} (MAIL_URL)"
    folder = settings.mail_dir
    if folder.is_relative_to(cwd):
        folder = folder.relative_to(cwd)
    return f"{folder}/*.eml, and the worker's log"


def block(where: Places) -> str:
    rows = [
        ("Demo", f"{where.demo}   sign in, buy with Toss or Stripe, history"),
        ("API", f"{where.api}   OpenAPI at {where.api}/openapi.json; guide: docs/integration.md"),
        ("Sandbox", f"{where.sandbox}   stands in for Toss and Stripe (their checkout pages)"),
        ("Mail", where.mail),
    ]
    if where.frontend:
        rows.insert(1, ("Frontend", f"{where.frontend}   FRONTEND_URL: where the checkouts send customers back"))
    rows.append(("Stop", "Ctrl-C"))
    lines = ["", "  ChatJu Payments is up.", *(f"    {name:<9} {text}" for name, text in rows), ""]
    return "\n".join(lines) + "\n"


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=REQUEST_TIMEOUT_SECONDS, allow_redirects=False).status_code == 200
    except requests.RequestException:
        return False


def wait_until_up(
    probes: Mapping[str, str],
    still_wanted: Callable[[], bool],
    give_up_after: float = GIVE_UP_SECONDS,
    answering: Callable[[str], bool] = answers,
) -> list[str]:
    """Poll until every probe answers 200: the names still silent ([] once all are up, or when not wanted)."""
    deadline = time.monotonic() + give_up_after
    silent = list(probes)
    while still_wanted():
        silent = [name for name in silent if not answering(probes[name])]
        if not silent or time.monotonic() >= deadline:
            return silent
        time.sleep(POLL_SECONDS)
    return []


def main() -> int:
    load_dotenv_for_development()
    port = int(os.environ.get("CHATJU_WEB_PORT", "8000"))
    where = places(Settings.from_env(os.environ), port, Path.cwd())
    # The shell that starts us and then becomes honcho (exec): while it lives, `make run` runs.
    parent = int(os.environ.get("CHATJU_RUN_PID") or os.getppid())
    try:
        silent = wait_until_up(where.probes(), still_wanted=lambda: os.getppid() == parent)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole foreground group, us included
        return 130
    if os.getppid() != parent:
        return 0  # `make run` is over: nothing to announce
    if silent:
        names = ", ".join(f"{name} ({where.probes()[name]})" for name in silent)
        sys.stderr.write(f"\n  ChatJu Payments: no answer from {names} after {GIVE_UP_SECONDS:.0f} s; see the log.\n")
        return 1
    sys.stdout.write(block(where))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
