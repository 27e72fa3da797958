"""Reading the development mailer's `.eml` files, as a user reads their inbox."""

from __future__ import annotations

import email
import re
import time
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

LINK = re.compile(r"https?://\S+/auth/verify\?token=\S+")


def mails_to(mail_dir: Path, address: str) -> list[Message]:
    if not mail_dir.exists():
        return []
    found = []
    for path in sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address:
            found.append(message)
    return found


def wait_for_mail(mail_dir: Path, address: str, count: int = 1, timeout: float = 20.0) -> Message:
    """Wait until `address` has `count` mails; return the newest."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails_to(mail_dir, address)
        if len(found) >= count:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no mail #{count} to {address} within {timeout}s")


def sign_in_token(message: Message) -> str:
    body = message.get_payload(decode=True).decode()
    link = LINK.search(body)
    assert link, body
    return parse_qs(urlsplit(link.group(0)).query)["token"][0]
