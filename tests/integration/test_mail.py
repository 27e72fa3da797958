"""Mail goes to SMTP when MAIL_URL is set, through a real SMTP conversation."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from chatju.config import Settings
from chatju.mail import Mail, send_mail


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_mail_url_sends_over_smtp_and_writes_no_file(smtp_server, tmp_path):
    controller, inbox = smtp_server
    settings = Settings.from_env(
        {"CHATJU_INSTANCE_DIR": str(tmp_path), "MAIL_URL": f"smtp://127.0.0.1:{controller.port}"}
    )
    send_mail(settings, Mail(to="fan@example.com", subject="Hello", text="body line", message_id="<fixed@chatju.app>"))
    [message] = inbox.messages
    assert message["To"] == "fan@example.com"
    assert message["Message-ID"] == "<fixed@chatju.app>"
    assert "body line" in message.get_payload()
    assert not (tmp_path / "mail").exists()


def test_without_mail_url_the_mail_is_a_file(tmp_path):
    settings = Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path), "CHATJU_ENV": "test"})
    send_mail(settings, Mail(to="fan@example.com", subject="Hello", text="body line"))
    [path] = (tmp_path / "mail").glob("*.eml")
    assert b"body line" in path.read_bytes()


def test_unreachable_smtp_raises_so_the_task_retries(tmp_path):
    settings = Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path), "MAIL_URL": f"smtp://127.0.0.1:{free_port()}"})
    with pytest.raises(OSError):
        send_mail(settings, Mail(to="fan@example.com", subject="Hello", text="x"))
