"""What `make run` prints once everything answers (chatju.demo.announce)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatju.config import Settings
from chatju.demo import announce


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path / "instance"), **env})


def test_the_block_names_the_demo_api_sandbox_mail_and_how_to_stop(tmp_path):
    where = announce.places(settings(tmp_path, FRONTEND_URL="http://127.0.0.1:8000/demo"), 8000, tmp_path)
    text = announce.block(where)
    lines = [line.split() for line in text.strip().splitlines()]
    assert lines[0] == ["ChatJu", "Payments", "is", "up."]
    rows = {words[0]: words[1] for words in lines[1:]}
    assert rows == {
        "Demo": "http://127.0.0.1:8000/demo/",
        "API": "http://127.0.0.1:8000",
        "Sandbox": "http://127.0.0.1:8081",
        "Mail": "instance/mail/*.eml,",
        "Stop": "Ctrl-C",
    }
    assert "docs/integration.md" in text
    assert where.probes() == {
        "the API": "http://127.0.0.1:8000/readyz",
        "the sandbox": "http://127.0.0.1:8081/_control/health",
        "the demo": "http://127.0.0.1:8000/demo/",
    }


def test_the_ports_follow_the_settings(tmp_path):
    env = {"SANDBOX_URL": "http://127.0.0.1:9181", "FRONTEND_URL": "http://127.0.0.1:9100/demo"}
    where = announce.places(settings(tmp_path, **env), 9100, tmp_path)
    assert (where.api, where.demo, where.sandbox, where.frontend) == (
        "http://127.0.0.1:9100",
        "http://127.0.0.1:9100/demo/",
        "http://127.0.0.1:9181",
        None,
    )


def test_a_frontend_of_its_own_is_named(tmp_path):
    where = announce.places(settings(tmp_path, FRONTEND_URL="http://localhost:5173/shop"), 8000, tmp_path)
    assert where.frontend == "http://localhost:5173/shop"
    assert "Frontend  http://localhost:5173/shop" in announce.block(where)


def test_mail_by_smtp_is_named_without_its_credentials(tmp_path):
    mail = "smtps://mailer:s3cret-pw@smtp.example.com:465"
    where = announce.places(settings(tmp_path, MAIL_URL=mail), 8000, tmp_path)
    text = announce.block(where)
    assert "smtps://smtp.example.com:465 (MAIL_URL)" in text
    assert "s3cret-pw" not in text and "mailer" not in text


def test_a_mail_folder_outside_the_checkout_is_shown_whole(tmp_path):
    where = announce.places(settings(tmp_path), 8000, Path("/somewhere/else"))
    assert where.mail.startswith(f"{tmp_path / 'instance' / 'mail'}/*.eml")


PROBES = {"the API": "http://api/readyz", "the sandbox": "http://sandbox/health", "the demo": "http://api/demo/"}


def test_waits_until_every_probe_answers(monkeypatch):
    monkeypatch.setattr(announce, "POLL_SECONDS", 0)
    asked: list[str] = []
    up_after = {"http://api/readyz": 3, "http://sandbox/health": 1, "http://api/demo/": 2}

    def answering(url: str) -> bool:
        asked.append(url)
        return asked.count(url) >= up_after[url]

    assert announce.wait_until_up(PROBES, lambda: True, give_up_after=30, answering=answering) == []
    # A probe that answered is not asked again.
    assert asked.count("http://sandbox/health") == 1 and asked.count("http://api/readyz") == 3


def test_names_what_never_answered(monkeypatch):
    monkeypatch.setattr(announce, "POLL_SECONDS", 0.01)
    silent = announce.wait_until_up(PROBES, lambda: True, give_up_after=0.05, answering=lambda url: "api" in url)
    assert silent == ["the sandbox"]


def test_stops_quietly_once_make_run_is_over():
    asked: list[str] = []
    silent = announce.wait_until_up(PROBES, lambda: False, answering=lambda url: asked.append(url) or False)
    assert silent == [] and asked == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/readyz", "not a url"])
def test_an_address_that_does_not_answer_is_not_up(url):
    assert announce.answers(url) is False
