"""The configuration guard: production refuses to start on missing or development values."""

from __future__ import annotations

import pytest

from chatju.config import ConfigError, Settings
from sandbox.config import SANDBOX_STRIPE_SECRET_KEY, SANDBOX_TOSS_CLIENT_KEY, SANDBOX_TOSS_SECRET_KEY

GOOD_PRODUCTION = {
    "CHATJU_ENV": "production",
    "JWT_SECRET_KEY": "k" * 48,
    "DATABASE_URL": "postgresql://chatju@db.internal/chatju",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "MAIL_URL": "smtps://mailer:pw@smtp.internal:465",
    "TOSS_CLIENT_KEY": "live_ck_abcdefghijklmnop",
    "TOSS_SECRET_KEY": "live_sk_abcdefghijklmnop",
}


def production(tmp_path, **changes: str) -> Settings:
    env = {**GOOD_PRODUCTION, "CHATJU_INSTANCE_DIR": str(tmp_path), **changes}
    return Settings.from_env({k: v for k, v in env.items() if v is not None})


def test_complete_production_configuration_starts(tmp_path):
    settings = production(tmp_path).validate()
    assert settings.toss_api_base == "https://api.tosspayments.com"
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert settings.toss_enabled and not settings.stripe_enabled
    assert not (tmp_path / "jwt-secret").exists()


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("JWT_SECRET_KEY", "JWT_SECRET_KEY is missing"),
        ("DATABASE_URL", "DATABASE_URL is missing"),
        ("REDIS_URL", "REDIS_URL is missing"),
        ("MAIL_URL", "MAIL_URL is missing"),
    ],
)
def test_production_names_what_is_missing(tmp_path, missing, expected):
    with pytest.raises(ConfigError) as raised:
        production(tmp_path, **{missing: ""}).validate()
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_production_lists_every_problem_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as raised:
        production(tmp_path, JWT_SECRET_KEY="", REDIS_URL="").validate()
    assert "JWT_SECRET_KEY is missing" in str(raised.value)
    assert "REDIS_URL is missing" in str(raised.value)


def test_production_refuses_sqlite(tmp_path):
    with pytest.raises(ConfigError, match="must be a PostgreSQL URL"):
        production(tmp_path, DATABASE_URL="sqlite:////tmp/x.sqlite").validate()


def test_production_refuses_a_short_signing_key(tmp_path):
    with pytest.raises(ConfigError, match="at least 32 characters"):
        production(tmp_path, JWT_SECRET_KEY="short").validate()


def test_production_refuses_the_sandbox_keys(tmp_path):
    with pytest.raises(ConfigError, match="sandbox's built-in keys"):
        production(
            tmp_path, TOSS_CLIENT_KEY=SANDBOX_TOSS_CLIENT_KEY, TOSS_SECRET_KEY=SANDBOX_TOSS_SECRET_KEY
        ).validate()


def test_production_refuses_a_half_configured_gateway(tmp_path):
    with pytest.raises(ConfigError, match="Stripe is half-configured: STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET"):
        production(tmp_path, STRIPE_SECRET_KEY="sk_live_abc").validate()


def test_production_needs_one_gateway(tmp_path):
    with pytest.raises(ConfigError, match="no gateway is configured"):
        production(tmp_path, TOSS_CLIENT_KEY="", TOSS_SECRET_KEY="").validate()


def test_development_defaults_need_nothing(tmp_path):
    settings = Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path)}).validate()
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'chatju.sqlite'}"
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert settings.redis_url is None
    assert settings.stripe_secret_key == SANDBOX_STRIPE_SECRET_KEY
    assert settings.toss_api_base.startswith("http://127.0.0.1:")
    # The generated signing key is created once and then reused.
    assert settings.jwt_secret_generated
    assert Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path)}).jwt_secret_key == settings.jwt_secret_key
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_redis_url_makes_redis_the_broker_and_result_store(tmp_path):
    settings = Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert settings.broker_url == settings.result_backend == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CHATJU_ENV", "staging", "CHATJU_ENV must be one of"),
        ("GATEWAY_TIMEOUT_SECONDS", "ten", "GATEWAY_TIMEOUT_SECONDS must be an integer"),
        ("GATEWAY_TIMEOUT_SECONDS", "0", "must be at least 1"),
        ("PREMIUM_READING_PRICES", "KRW=13000.5", "PREMIUM_READING_PRICES must look like"),
        ("DRIFT_REPORT_AT", "0:30", "DRIFT_REPORT_AT must look like 00:30"),
        ("DRIFT_REPORT_AT", "24:00", "DRIFT_REPORT_AT must be a time of day"),
        ("DRIFT_PAGE_SIZE", "0", "must be at least 1"),
    ],
)
def test_malformed_values_are_named(tmp_path, name, value, expected):
    with pytest.raises(ConfigError, match=expected):
        Settings.from_env({"CHATJU_INSTANCE_DIR": str(tmp_path), name: value})
