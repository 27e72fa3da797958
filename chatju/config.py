"""Settings from the environment, validated once at start-up.

Every process (web, worker, beat, CLI) builds one `Settings` from the same
variables, so they always agree on the database, the broker and the keys.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

Environment = Literal["development", "test", "production"]
ENVIRONMENTS = get_args(Environment)
ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

# Keys built in for development and tests (the local gateway sandbox accepts them); production refuses them.
DEVELOPMENT_TOSS_CLIENT_KEY = "test_ck_chatjuSandboxClientKey0000"
DEVELOPMENT_TOSS_SECRET_KEY = "test_sk_chatjuSandboxSecretKey0000"  # noqa: S105 (public development key)
DEVELOPMENT_STRIPE_SECRET_KEY = "sk_test_chatjuSandboxSecretKey0000"  # noqa: S105 (public development key)
DEVELOPMENT_STRIPE_PUBLISHABLE_KEY = "pk_test_chatjuSandboxPublishableKey0"
DEVELOPMENT_STRIPE_WEBHOOK_SECRET = "whsec_chatjuSandboxWebhookSecret000"  # noqa: S105 (public development key)
DEVELOPMENT_KEYS = frozenset(
    {
        DEVELOPMENT_TOSS_CLIENT_KEY,
        DEVELOPMENT_TOSS_SECRET_KEY,
        DEVELOPMENT_STRIPE_SECRET_KEY,
        DEVELOPMENT_STRIPE_PUBLISHABLE_KEY,
        DEVELOPMENT_STRIPE_WEBHOOK_SECRET,
    }
)
# Each gateway's keys: any of them set enables it, and then all must be (SPEC §2).
GATEWAY_KEYS = {
    "Toss": ("TOSS_CLIENT_KEY", "TOSS_SECRET_KEY"),
    "Stripe": ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"),
}
MIN_JWT_SECRET_LENGTH = 32
DEFAULT_STRIPE_CURRENCIES = frozenset({"USD", "EUR", "GBP", "JPY", "KRW", "CAD", "AUD", "SGD", "HKD", "CHF"})
DEFAULT_MAX_AMOUNTS = {
    "KRW": 1_000_000,
    "USD": 100_000,
    "EUR": 100_000,
    "GBP": 100_000,
    "JPY": 150_000,
    "CAD": 130_000,
    "AUD": 150_000,
    "SGD": 130_000,
    "HKD": 780_000,
    "CHF": 90_000,
}
# Where Toss sends webhooks from (reference/toss.md §1, the security page).
TOSS_WEBHOOK_IPS = frozenset({"13.124.18.147", "13.124.108.35", "3.36.173.151", "3.38.81.32"})


class ConfigError(Exception):
    """The configuration cannot run: the message is one line naming what is wrong."""


def _items(raw: object) -> object:
    """`a, b,c` from the environment as ["a", "b", "c"]; a default passes through."""
    return [item.strip() for item in raw.split(",") if item.strip()] if isinstance(raw, str) else raw


def _prices(raw: object) -> object:
    """`KRW=13000,USD=1000` from the environment as {"KRW": 13000, "USD": 1000}; a default passes through."""
    if not isinstance(raw, str):
        return raw
    prices: dict[str, int] = {}
    for item in raw.split(","):
        currency, _, amount = item.strip().partition("=")
        if len(currency) != 3 or not currency.isalpha() or not amount.isdecimal() or int(amount) <= 0:
            raise ValueError(f"must look like KRW=13000,USD=1000, got {raw!r}")
        prices[currency.upper()] = int(amount)
    return prices


def _day_time(value: str) -> str:
    """`HH:MM` on a 24-hour clock."""
    hours, _, minutes = value.partition(":")
    if not (len(hours) == len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"must look like 00:30 (HH:MM, UTC), got {value!r}")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError(f"must be a time of day from 00:00 to 23:59, got {value!r}")
    return value


Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
BaseUrl = Annotated[str, AfterValidator(lambda url: url.rstrip("/"))]
Prices = Annotated[dict[str, int], BeforeValidator(_prices)]
Currencies = Annotated[
    frozenset[str], BeforeValidator(_items), AfterValidator(lambda cs: frozenset(c.upper() for c in cs))
]
Addresses = Annotated[frozenset[str], BeforeValidator(_items)]
DayTime = Annotated[str, AfterValidator(_day_time)]


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


# Defaults that depend on the mode; `data` holds the fields declared above them.


def _jwt_secret_default(data: dict[str, Any]) -> str:
    return "" if data["env"] == "production" else _dev_jwt_secret(data["instance_dir"])


def _key_default(development_key: str) -> Callable[[dict[str, Any]], str]:
    """Production has no default key: it must be given one."""
    return lambda data: "" if data["env"] == "production" else development_key


def _api_base_default(live: str, path: str) -> Callable[[dict[str, Any]], str]:
    """The real gateway in production, the development gateway (the local sandbox) elsewhere."""
    return lambda data: live if data["env"] == "production" else data["development_gateway_url"] + path


class Settings(BaseSettings):
    """Every setting, read from the environment variable of its name in capitals unless aliased."""

    model_config = SettingsConfigDict(alias_generator=str.upper, case_sensitive=True, extra="ignore", frozen=True)

    env: Environment = Field("development", alias="CHATJU_ENV")
    instance_dir: Path = Field(INSTANCE_DIR, alias="CHATJU_INSTANCE_DIR")
    # Where the gateways answer outside production: the origin of the default API bases below.
    development_gateway_url: BaseUrl = Field("http://127.0.0.1:8081", alias="SANDBOX_URL")
    database_url: str = Field(default_factory=lambda data: f"sqlite:///{data['instance_dir'] / 'chatju.sqlite'}")
    redis_url: str | None = None
    redis_key_prefix: str = "chatju:"
    celery_queue: str = "chatju"
    # How long a task taken by a worker that then dies stays invisible before Redis hands it out again.
    broker_visibility_timeout_seconds: Positive = 300
    # Where beat keeps its schedule state; its folder is created when beat starts (tasks/beat.py).
    celery_beat_schedule: Path = Field(default_factory=lambda data: data["instance_dir"] / "celerybeat-schedule")
    jwt_secret_key: str = Field(default_factory=_jwt_secret_default)
    access_token_seconds: Positive = Field(900, alias="ACCESS_TOKEN_EXPIRES_SECONDS")
    refresh_token_seconds: Positive = Field(30 * 86400, alias="REFRESH_TOKEN_EXPIRES_SECONDS")
    refresh_reuse_grace_seconds: NonNegative = 10
    magic_link_seconds: Positive = Field(900, alias="MAGIC_LINK_EXPIRES_SECONDS")
    frontend_url: BaseUrl = "http://127.0.0.1:8000/demo"
    mail_url: str | None = None
    mail_from: str = "ChatJu <no-reply@chatju.app>"
    max_request_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    # The gateways' webhook routes: a legitimate event (a charge with many refunds) must never be refused.
    webhook_max_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    rate_limit_magic_link: str = "5 per minute;30 per hour"
    rate_limit_auth: str = "30 per minute"
    rate_limit_default: str = "300 per minute"
    rate_limit_payment: str = "30 per minute"
    rate_limit_webhook: str = "300 per minute"
    product_prices: Prices = Field({"KRW": 13000, "USD": 1000}, alias="PREMIUM_READING_PRICES")
    max_amounts: Prices = Field(DEFAULT_MAX_AMOUNTS, alias="PAYMENT_MAX_AMOUNTS")
    stripe_currencies: Currencies = DEFAULT_STRIPE_CURRENCIES
    trusted_proxy_hops: NonNegative = 0
    toss_webhook_ips: Addresses = TOSS_WEBHOOK_IPS
    toss_client_key: str = Field(default_factory=_key_default(DEVELOPMENT_TOSS_CLIENT_KEY))
    toss_secret_key: str = Field(default_factory=_key_default(DEVELOPMENT_TOSS_SECRET_KEY))
    toss_api_base: BaseUrl = Field(default_factory=_api_base_default("https://api.tosspayments.com", "/toss"))
    stripe_secret_key: str = Field(default_factory=_key_default(DEVELOPMENT_STRIPE_SECRET_KEY))
    stripe_publishable_key: str = Field(default_factory=_key_default(DEVELOPMENT_STRIPE_PUBLISHABLE_KEY))
    stripe_webhook_secret: str = Field(default_factory=_key_default(DEVELOPMENT_STRIPE_WEBHOOK_SECRET))
    stripe_api_base: BaseUrl = Field(default_factory=_api_base_default("https://api.stripe.com", "/stripe"))
    gateway_timeout_seconds: Positive = 30
    gateway_max_retries: NonNegative = 5
    gateway_retry_backoff_seconds: NonNegative = 2
    payment_sync_wait_seconds: NonNegative = 5
    pending_order_ttl_seconds: Positive = 2700
    reconcile_interval_seconds: Positive = 60
    reconcile_after_seconds: Positive = 120
    retention_days: Positive = 90
    # Rows per page when the drift report lists a gateway's payments (each gateway caps it: Stripe at 100).
    drift_page_size: Positive = 100
    # When beat runs the drift report for the previous UTC day, as HH:MM in UTC.
    drift_report_at: DayTime = "00:30"
    log_level: Annotated[str, AfterValidator(str.upper)] = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: the process environment); a blank value means the default."""
        env = os.environ if environ is None else environ
        given: dict[str, Any] = {name: value.strip() for name, value in env.items() if value.strip()}
        try:
            return cls(**given)
        except ValidationError as exc:
            # A factory default left uncomputed only echoes an error already named.
            named = [error for error in exc.errors() if error["type"] != "default_factory_not_called"]
            raise ConfigError("; ".join(map(_explain, named))) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only what `from_env` hands in (the process's environment or a test's): no other source."""
        return (init_settings,)

    @property
    def provided(self) -> frozenset[str]:
        """The variables the environment set (every other setting holds its default)."""
        fields = type(self).model_fields
        return frozenset(fields[name].alias or name for name in self.model_fields_set)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def jwt_secret_generated(self) -> bool:
        return not self.is_production and "JWT_SECRET_KEY" not in self.provided

    @property
    def broker_url(self) -> str:
        """Redis when configured, else the embedded broker (kombu's SQLAlchemy transport on SQLite)."""
        return self.redis_url or f"sqla+sqlite:///{self.instance_dir / 'celery-broker.sqlite'}"

    @property
    def result_backend(self) -> str:
        return self.redis_url or f"db+sqlite:///{self.instance_dir / 'celery-results.sqlite'}"

    @property
    def mail_dir(self) -> Path:
        return self.instance_dir / "mail"

    @property
    def toss_enabled(self) -> bool:
        return bool(self.toss_secret_key and self.toss_client_key)

    @property
    def stripe_enabled(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_publishable_key and self.stripe_webhook_secret)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        """The production guard runs whenever settings are built, so no entry point can skip it."""
        return self.validate()

    def validate(self) -> Self:  # type: ignore[override]  # pydantic's is a deprecated alias of model_validate
        """Raise ConfigError with one line naming every problem; return self when fine."""
        found = self.problems()
        if found:
            raise ConfigError("refusing to start in production: " + "; ".join(found))
        return self

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
        for name, keys in GATEWAY_KEYS.items():
            present = [key for key in keys if key in self.provided]
            if not present:
                continue
            enabled += 1
            missing = [key for key in keys if key not in present]
            if missing:
                found.append(f"{name} is half-configured: {', '.join(missing)} missing")
        if not enabled:
            found.append("no gateway is configured: set the TOSS_* or STRIPE_* keys")
        every_key = [key for keys in GATEWAY_KEYS.values() for key in keys]
        built_in = [name for name in every_key if getattr(self, name.lower()) in DEVELOPMENT_KEYS]
        if built_in:
            found.append(f"{', '.join(built_in)} hold the sandbox's built-in keys")
        return found


def _explain(error: ErrorDetails) -> str:
    """One validation error in the variable's words: `NAME must ..., got ...`."""
    name, given, context = error["loc"][0], error["input"], error.get("ctx", {})
    match error["type"]:
        case "int_parsing":
            return f"{name} must be an integer, got {given!r}"
        case "greater_than_equal":
            return f"{name} must be at least {context['ge']}, got {given}"
        case "literal_error":  # CHATJU_ENV is the one Literal
            return f"{name} must be one of {', '.join(ENVIRONMENTS)}, got {given!r}"
        case "value_error":
            return f"{name} {context['error']}"
        case _:
            return f"{name}: {error['msg']}"


def load_dotenv_for_development() -> None:
    """Read `.env` at the repository root unless the process runs in test or production."""
    if os.environ.get("CHATJU_ENV", "development") not in ("", "development"):
        return
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env", override=False)


def settings_or_exit() -> Settings:
    """Settings for a process entry point: one clear line and exit status 2 when unusable."""
    load_dotenv_for_development()
    try:
        return Settings.from_env().validate()
    except ConfigError as exc:
        print(f"chatju: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
