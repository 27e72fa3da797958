"""The sandbox's settings, read once from the environment (every variable is optional)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The sandbox's built-in keys (public test values): accepted unless TOSS_* and
# STRIPE_* keys are set in the environment.
SANDBOX_TOSS_CLIENT_KEY = "test_ck_chatjuSandboxClientKey0000"
SANDBOX_TOSS_SECRET_KEY = "test_sk_chatjuSandboxSecretKey0000"  # noqa: S105 (public sandbox key)
SANDBOX_STRIPE_SECRET_KEY = "sk_test_chatjuSandboxSecretKey0000"  # noqa: S105 (public sandbox key)
SANDBOX_STRIPE_PUBLISHABLE_KEY = "pk_test_chatjuSandboxPublishableKey0"
SANDBOX_STRIPE_WEBHOOK_SECRET = "whsec_chatjuSandboxWebhookSecret000"  # noqa: S105 (public sandbox key)

# `.env` at the repository root, shared with the service in development.
DOTENV_PATH = Path(__file__).resolve().parent.parent / ".env"


class SandboxConfigError(ValueError):
    """An environment variable of the sandbox holds an unusable value."""


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SandboxConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SandboxConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class SandboxConfig:
    port: int = 8081
    toss_client_key: str = SANDBOX_TOSS_CLIENT_KEY
    toss_secret_key: str = SANDBOX_TOSS_SECRET_KEY
    toss_webhook_url: str = "http://127.0.0.1:8000/payment/toss/webhook"
    toss_confirm_window_seconds: float = 600.0
    stripe_secret_key: str = SANDBOX_STRIPE_SECRET_KEY
    stripe_publishable_key: str = SANDBOX_STRIPE_PUBLISHABLE_KEY
    stripe_webhook_secret: str = SANDBOX_STRIPE_WEBHOOK_SECRET
    stripe_webhook_url: str = "http://127.0.0.1:8000/payment/stripe/webhook"
    webhook_retry_seconds: float = 60.0
    webhook_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SandboxConfig:
        return cls(
            port=int(_number(env, "SANDBOX_PORT", 8081, minimum=1)),
            toss_client_key=env.get("TOSS_CLIENT_KEY", "").strip() or SANDBOX_TOSS_CLIENT_KEY,
            toss_secret_key=env.get("TOSS_SECRET_KEY", "").strip() or SANDBOX_TOSS_SECRET_KEY,
            toss_webhook_url=env.get("SANDBOX_TOSS_WEBHOOK_URL", "").strip() or cls.toss_webhook_url,
            toss_confirm_window_seconds=_number(env, "SANDBOX_TOSS_CONFIRM_WINDOW_SECONDS", 600.0),
            stripe_secret_key=env.get("STRIPE_SECRET_KEY", "").strip() or SANDBOX_STRIPE_SECRET_KEY,
            stripe_publishable_key=env.get("STRIPE_PUBLISHABLE_KEY", "").strip() or SANDBOX_STRIPE_PUBLISHABLE_KEY,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", "").strip() or SANDBOX_STRIPE_WEBHOOK_SECRET,
            stripe_webhook_url=env.get("SANDBOX_STRIPE_WEBHOOK_URL", "").strip() or cls.stripe_webhook_url,
            webhook_retry_seconds=_number(env, "SANDBOX_WEBHOOK_RETRY_SECONDS", 60.0),
            webhook_timeout_seconds=_number(env, "SANDBOX_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.01),
        )


def load_dotenv_for_development() -> None:
    """Read `.env` (if any) unless CHATJU_ENV says test or production; the environment wins."""
    if os.environ.get("CHATJU_ENV", "development") not in ("", "development"):
        return
    from dotenv import load_dotenv

    load_dotenv(DOTENV_PATH, override=False)
