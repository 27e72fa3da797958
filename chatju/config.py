"""Settings from the environment, validated once at start-up.

Every process (web, worker, beat, CLI) builds one `Settings` from the same
variables, so they always agree on the database, the broker and the keys.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENVIRONMENTS = ("development", "test", "production")
ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

# Keys of the bundled gateway sandbox: fine on a laptop, refused in production.
SANDBOX_TOSS_CLIENT_KEY = "test_ck_chatjuSandboxClientKey0000"
SANDBOX_TOSS_SECRET_KEY = "test_sk_chatjuSandboxSecretKey0000"  # noqa: S105 (public sandbox key)
SANDBOX_STRIPE_SECRET_KEY = "sk_test_chatjuSandboxSecretKey0000"  # noqa: S105 (public sandbox key)
SANDBOX_STRIPE_PUBLISHABLE_KEY = "pk_test_chatjuSandboxPublishableKey0"
SANDBOX_STRIPE_WEBHOOK_SECRET = "whsec_chatjuSandboxWebhookSecret000"  # noqa: S105 (public sandbox key)
SANDBOX_KEYS = frozenset(
    {
        SANDBOX_TOSS_CLIENT_KEY,
        SANDBOX_TOSS_SECRET_KEY,
        SANDBOX_STRIPE_SECRET_KEY,
        SANDBOX_STRIPE_PUBLISHABLE_KEY,
        SANDBOX_STRIPE_WEBHOOK_SECRET,
    }
)
TOSS_KEYS = ("TOSS_CLIENT_KEY", "TOSS_SECRET_KEY")
STRIPE_KEYS = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
MIN_JWT_SECRET_LENGTH = 32
DEFAULT_STRIPE_CURRENCIES = "USD,EUR,GBP,JPY,KRW,CAD,AUD,SGD,HKD,CHF"
DEFAULT_MAX_AMOUNTS = (
    "KRW=1000000,USD=100000,EUR=100000,GBP=100000,JPY=150000,CAD=130000,AUD=150000,SGD=130000,HKD=780000,CHF=90000"
)
# Where Toss sends webhooks from (reference/toss.md §1, the security page).
TOSS_WEBHOOK_IPS = "13.124.18.147,13.124.108.35,3.36.173.151,3.38.81.32"


class ConfigError(Exception):
    """The configuration cannot run: the message is one line naming what is wrong."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _prices(env: Mapping[str, str], name: str, default: str) -> dict[str, int]:
    """Parse `KRW=13000,USD=1000` into {"KRW": 13000, "USD": 1000}."""
    raw = env.get(name, "").strip() or default
    prices: dict[str, int] = {}
    for item in raw.split(","):
        currency, _, amount = item.strip().partition("=")
        if len(currency) != 3 or not currency.isalpha() or not amount.isdigit() or int(amount) <= 0:
            raise ConfigError(f"{name} must look like KRW=13000,USD=1000, got {raw!r}")
        prices[currency.upper()] = int(amount)
    return prices


def _dev_jwt_secret(instance_dir: Path) -> str:
    """A random signing key generated once per checkout (development only)."""
    path = instance_dir / "jwt-secret"
    if not path.exists():
        # Written whole to a private temporary file, then linked into place: processes
        # starting together all read the one key that won, never a half-written file.
        instance_dir.mkdir(parents=True, exist_ok=True)
        draft = instance_dir / f".jwt-secret-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    env: str
    instance_dir: Path
    database_url: str
    redis_url: str | None
    redis_key_prefix: str
    celery_queue: str
    broker_url: str
    result_backend: str
    jwt_secret_key: str
    jwt_secret_generated: bool
    access_token_seconds: int
    refresh_token_seconds: int
    magic_link_seconds: int
    frontend_url: str
    mail_url: str | None
    mail_from: str
    mail_dir: Path
    max_request_bytes: int
    rate_limit_magic_link: str
    rate_limit_auth: str
    rate_limit_default: str
    product_prices: dict[str, int]
    max_amounts: dict[str, int]
    stripe_currencies: frozenset[str]
    rate_limit_payment: str
    rate_limit_webhook: str
    trusted_proxy_hops: int
    toss_webhook_ips: frozenset[str]
    toss_client_key: str
    toss_secret_key: str
    toss_api_base: str
    stripe_secret_key: str
    stripe_publishable_key: str
    stripe_webhook_secret: str
    stripe_api_base: str
    sandbox_port: int
    gateway_timeout_seconds: int
    gateway_max_retries: int
    gateway_retry_backoff_seconds: int
    payment_sync_wait_seconds: int
    pending_order_ttl_seconds: int
    reconcile_interval_seconds: int
    reconcile_after_seconds: int
    retention_days: int
    log_level: str
    provided: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        mode = env.get("CHATJU_ENV", "").strip() or "development"
        if mode not in ENVIRONMENTS:
            raise ConfigError(f"CHATJU_ENV must be one of {', '.join(ENVIRONMENTS)}, got {mode!r}")
        instance_dir = Path(env.get("CHATJU_INSTANCE_DIR") or INSTANCE_DIR)
        provided = frozenset(name for name, value in env.items() if value.strip())

        redis_url = env.get("REDIS_URL", "").strip() or None
        prefix = env.get("REDIS_KEY_PREFIX", "").strip() or "chatju:"
        if redis_url:
            broker_url, result_backend = redis_url, redis_url
        else:
            broker_url = f"sqla+sqlite:///{instance_dir / 'celery-broker.sqlite'}"
            result_backend = f"db+sqlite:///{instance_dir / 'celery-results.sqlite'}"

        jwt_secret = env.get("JWT_SECRET_KEY", "").strip()
        generated = not jwt_secret and mode != "production"
        if generated:
            jwt_secret = _dev_jwt_secret(instance_dir)

        sandbox_port = _int(env, "SANDBOX_PORT", 8081, minimum=1)
        sandbox_base = (env.get("SANDBOX_URL", "").strip() or f"http://127.0.0.1:{sandbox_port}").rstrip("/")
        live = mode == "production"
        return cls(
            env=mode,
            instance_dir=instance_dir,
            database_url=env.get("DATABASE_URL", "").strip() or f"sqlite:///{instance_dir / 'chatju.sqlite'}",
            redis_url=redis_url,
            redis_key_prefix=prefix,
            celery_queue=env.get("CELERY_QUEUE", "").strip() or "chatju",
            broker_url=broker_url,
            result_backend=result_backend,
            jwt_secret_key=jwt_secret,
            jwt_secret_generated=generated,
            access_token_seconds=_int(env, "ACCESS_TOKEN_EXPIRES_SECONDS", 900, minimum=1),
            refresh_token_seconds=_int(env, "REFRESH_TOKEN_EXPIRES_SECONDS", 30 * 86400, minimum=1),
            magic_link_seconds=_int(env, "MAGIC_LINK_EXPIRES_SECONDS", 900, minimum=1),
            frontend_url=(env.get("FRONTEND_URL", "").strip() or "http://127.0.0.1:8000/demo").rstrip("/"),
            mail_url=env.get("MAIL_URL", "").strip() or None,
            mail_from=env.get("MAIL_FROM", "").strip() or "ChatJu <no-reply@chatju.app>",
            mail_dir=instance_dir / "mail",
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 64 * 1024, minimum=1024),
            rate_limit_magic_link=env.get("RATE_LIMIT_MAGIC_LINK", "").strip() or "5 per minute;30 per hour",
            rate_limit_auth=env.get("RATE_LIMIT_AUTH", "").strip() or "30 per minute",
            rate_limit_default=env.get("RATE_LIMIT_DEFAULT", "").strip() or "300 per minute",
            product_prices=_prices(env, "PREMIUM_READING_PRICES", "KRW=13000,USD=1000"),
            max_amounts=_prices(env, "PAYMENT_MAX_AMOUNTS", DEFAULT_MAX_AMOUNTS),
            stripe_currencies=frozenset(
                c.strip().upper()
                for c in (env.get("STRIPE_CURRENCIES", "").strip() or DEFAULT_STRIPE_CURRENCIES).split(",")
                if c.strip()
            ),
            rate_limit_payment=env.get("RATE_LIMIT_PAYMENT", "").strip() or "30 per minute",
            rate_limit_webhook=env.get("RATE_LIMIT_WEBHOOK", "").strip() or "300 per minute",
            trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0),
            toss_webhook_ips=frozenset(
                ip.strip()
                for ip in (env.get("TOSS_WEBHOOK_IPS", "").strip() or TOSS_WEBHOOK_IPS).split(",")
                if ip.strip()
            ),
            toss_client_key=env.get("TOSS_CLIENT_KEY", "").strip() or ("" if live else SANDBOX_TOSS_CLIENT_KEY),
            toss_secret_key=env.get("TOSS_SECRET_KEY", "").strip() or ("" if live else SANDBOX_TOSS_SECRET_KEY),
            toss_api_base=(
                env.get("TOSS_API_BASE", "").strip()
                or ("https://api.tosspayments.com" if live else f"{sandbox_base}/toss")
            ).rstrip("/"),
            stripe_secret_key=env.get("STRIPE_SECRET_KEY", "").strip() or ("" if live else SANDBOX_STRIPE_SECRET_KEY),
            stripe_publishable_key=env.get("STRIPE_PUBLISHABLE_KEY", "").strip()
            or ("" if live else SANDBOX_STRIPE_PUBLISHABLE_KEY),
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", "").strip()
            or ("" if live else SANDBOX_STRIPE_WEBHOOK_SECRET),
            stripe_api_base=(
                env.get("STRIPE_API_BASE", "").strip()
                or ("https://api.stripe.com" if live else f"{sandbox_base}/stripe")
            ).rstrip("/"),
            sandbox_port=sandbox_port,
            gateway_timeout_seconds=_int(env, "GATEWAY_TIMEOUT_SECONDS", 30, minimum=1),
            gateway_max_retries=_int(env, "GATEWAY_MAX_RETRIES", 5),
            gateway_retry_backoff_seconds=_int(env, "GATEWAY_RETRY_BACKOFF_SECONDS", 2),
            payment_sync_wait_seconds=_int(env, "PAYMENT_SYNC_WAIT_SECONDS", 5),
            pending_order_ttl_seconds=_int(env, "PENDING_ORDER_TTL_SECONDS", 2700, minimum=1),
            reconcile_interval_seconds=_int(env, "RECONCILE_INTERVAL_SECONDS", 60, minimum=1),
            reconcile_after_seconds=_int(env, "RECONCILE_AFTER_SECONDS", 120, minimum=1),
            retention_days=_int(env, "RETENTION_DAYS", 90, minimum=1),
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
            provided=provided,
        )

    def problems(self) -> list[str]:
        """What stops this configuration from running in production (empty elsewhere)."""
        if not self.is_production:
            return []
        found: list[str] = []
        if "JWT_SECRET_KEY" not in self.provided:
            found.append("JWT_SECRET_KEY is missing")
        elif len(self.jwt_secret_key) < MIN_JWT_SECRET_LENGTH:
            found.append(f"JWT_SECRET_KEY must be at least {MIN_JWT_SECRET_LENGTH} characters")
        if "DATABASE_URL" not in self.provided:
            found.append("DATABASE_URL is missing")
        elif not self.database_url.startswith("postgresql"):
            found.append("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
        if not self.redis_url:
            found.append("REDIS_URL is missing")
        if not self.mail_url:
            found.append("MAIL_URL is missing (sign-in mail would only be written to disk)")
        found.extend(self._gateway_problems())
        return found

    def _gateway_problems(self) -> list[str]:
        found: list[str] = []
        enabled = 0
        for name, keys in (("Toss", TOSS_KEYS), ("Stripe", STRIPE_KEYS)):
            present = [key for key in keys if key in self.provided]
            if not present:
                continue
            enabled += 1
            missing = [key for key in keys if key not in present]
            if missing:
                found.append(f"{name} is half-configured: {', '.join(missing)} missing")
        if not enabled:
            found.append("no gateway is configured: set the TOSS_* or STRIPE_* keys")
        sandbox = [name for name in TOSS_KEYS + STRIPE_KEYS if getattr(self, name.lower()) in SANDBOX_KEYS]
        if sandbox:
            found.append(f"{', '.join(sandbox)} hold the sandbox's built-in keys")
        return found

    @property
    def toss_enabled(self) -> bool:
        return bool(self.toss_secret_key and self.toss_client_key)

    @property
    def stripe_enabled(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_publishable_key and self.stripe_webhook_secret)

    def validate(self) -> Settings:
        """Raise ConfigError with one line naming every problem; return self when fine."""
        found = self.problems()
        if found:
            raise ConfigError("refusing to start in production: " + "; ".join(found))
        return self


def load_dotenv_for_development() -> None:
    """Read `.env` at the repository root unless the process runs in test or production."""
    if os.environ.get("CHATJU_ENV", "development") not in ("", "development"):
        return
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env", override=False)


def settings_or_exit() -> Settings:
    """Settings for a process entry point: one clear line and exit status 2 when unusable."""
    import sys

    load_dotenv_for_development()
    try:
        return Settings.from_env().validate()
    except ConfigError as exc:
        print(f"chatju: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
