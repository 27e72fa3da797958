"""Outgoing mail: SMTP when MAIL_URL is set, else `instance/mail/*.eml` and the log."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from chatju.config import Settings

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    # Stable per effect, so a mail re-sent after a crash is recognisably the same one.
    message_id: str | None = None


def build_message(settings: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = mail.message_id or make_msgid(domain="chatju.app")
    # 8bit keeps a long link on one readable line in the .eml (no quoted-printable).
    message.set_content(mail.text, cte="8bit")
    return message


def send_mail(settings: Settings, mail: Mail) -> None:
    message = build_message(settings, mail)
    if settings.mail_url:
        _send_smtp(settings.mail_url, message)
    else:
        _write_eml(settings.mail_dir, message, show_in_log=settings.env == "development")


def _send_smtp(url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("MAIL_URL must start with smtp:// or smtps://")
    host, port = parts.hostname or "localhost", parts.port
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port or 465, timeout=SMTP_TIMEOUT_SECONDS, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, port or 25, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        if parts.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
    log.info("mail sent", extra={"to_domain": message["To"].rpartition("@")[2], "subject": message["Subject"]})


def _write_eml(directory: Path, message: EmailMessage, show_in_log: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stem = message["Message-ID"].strip("<>").replace("@", "_").replace("/", "_")
    path = directory / f"{stem}.eml"
    path.write_bytes(bytes(message))
    if show_in_log:
        # Development only (production refuses to start without MAIL_URL): the
        # message goes to the log too, so a developer can follow the sign-in link.
        log.info("mail written to %s\n%s", path, message.get_content(), extra={"dev_mail": True})
    else:
        log.info("mail written to %s", path)
