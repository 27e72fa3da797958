"""Sign-in mail."""

from __future__ import annotations

import smtplib

from chatju.auth.mail import send_magic_link as send_magic_link_mail
from chatju.jobs import TaskNames
from chatju.settings import current_settings
from tasks import app


@app.task(
    name=TaskNames.SEND_MAGIC_LINK,
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=2,
    retry_jitter=True,
    max_retries=5,
)
def send_magic_link(email: str, token: str) -> None:
    send_magic_link_mail(current_settings(), email, token)
