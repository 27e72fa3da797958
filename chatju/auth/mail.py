"""The sign-in mail."""

from __future__ import annotations

from urllib.parse import urlencode

from chatju.config import Settings
from chatju.mail import Mail, send_mail


def send_magic_link(settings: Settings, email: str, token: str) -> None:
    link = f"{settings.frontend_url}/auth/verify?{urlencode({'token': token})}"
    minutes = settings.magic_link_seconds // 60
    text = (
        "Sign in to ChatJu with this link:\n\n"
        f"{link}\n\n"
        f"It works once and expires in {minutes} minutes. "
        "If you did not ask to sign in, ignore this mail.\n"
    )
    send_mail(settings, Mail(to=email, subject="Your ChatJu sign-in link", text=text))
