"""The operator commands, run as an operator runs them: `flask --app wsgi ...`."""

from __future__ import annotations

import os
import subprocess
import sys

import jwt as pyjwt

from tests.support.cli import ROOT, flask


def test_auth_token_prints_only_a_working_token(app, client, test_env):
    result = flask(test_env, "auth", "token", "operator@example.com")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == "operator@example.com" and me.get_json()["isAdmin"] is False


def test_auth_token_admin_makes_an_admin_and_plain_keeps_it(app, client, test_env):
    admin = flask(test_env, "auth", "token", "boss@example.com", "--admin").stdout.strip()
    assert pyjwt.decode(admin, options={"verify_signature": False})["role"] == "admin"
    again = flask(test_env, "auth", "token", "boss@example.com").stdout.strip()
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {again}"}).get_json()["isAdmin"] is True


def test_auth_token_rejects_a_non_address(app, test_env):
    result = flask(test_env, "auth", "token", "nobody")
    assert result.returncode != 0
    assert result.stdout == ""


def test_db_upgrade_is_idempotent(test_env):
    result = flask(test_env, "db", "upgrade")
    assert result.returncode == 0, result.stderr


def test_production_refuses_to_start_with_one_clear_line(tmp_path):
    env = {
        "CHATJU_ENV": "production",
        "CHATJU_INSTANCE_DIR": str(tmp_path),
        "DATABASE_URL": "sqlite:////tmp/x.sqlite",
        "JWT_SECRET_KEY": "",
        "REDIS_URL": "",
    }
    for command in (
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        [sys.executable, "-c", "import celeryconfig"],
    ):
        result = subprocess.run(
            command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("chatju: refusing to start in production:")
        for problem in ("JWT_SECRET_KEY is missing", "must be a PostgreSQL URL", "REDIS_URL is missing"):
            assert problem in lines[0]
    assert not (tmp_path / "jwt-secret").exists()
