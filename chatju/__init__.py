"""ChatJu Payments: the Flask application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from chatju.config import Settings, load_dotenv_for_development


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment, with `overrides` taking precedence (tests)."""
    if overrides is None:
        load_dotenv_for_development()
    settings = Settings.from_env({**os.environ, **(overrides or {})}).validate()

    from chatju import errors, http, jobs, logs, wakeups
    from chatju.api import unit_of_work
    from chatju.auth import blocklist
    from chatju.extensions import cors, db, jwt, limiter, migrate
    from chatju.gateways import audit, registry
    from chatju.observability import metrics

    logs.configure_logging(settings.log_level)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config.update(flask_config(settings))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["chatju.settings"] = settings
    if settings.trusted_proxy_hops:
        # Behind a load balancer: the client address (rate limits) comes from X-Forwarded-For.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    import chatju.models  # noqa: F401  (registers every table on the metadata)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    jwt.init_app(app)
    blocklist.init_app(app, settings)
    limiter.init_app(app)
    cors.init_app(app, resources={r"/*": {"origins": [settings_origin(settings)]}})
    jobs.init_app(app, settings)
    wakeups.init_app(app, settings)
    registry.init_app(app, settings, audit.record_call)
    gateways = registry.gateways(app)
    metrics.configure({adapter.name: adapter.handled_events for adapter in gateways.all()})
    errors.register_error_handlers(app)
    http.init_app(app)
    unit_of_work.init_app(app)  # after http: its commit decides the answer http then logs
    _register_blueprints(app)
    return app


def flask_config(settings: Settings) -> dict[str, Any]:
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if settings.database_url.startswith("postgresql"):
        engine_options["connect_args"] = {"connect_timeout": 3}
    return {
        "SECRET_KEY": settings.jwt_secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "MAX_CONTENT_LENGTH": settings.max_request_bytes,
        "JWT_SECRET_KEY": settings.jwt_secret_key,
        "JWT_ALGORITHM": "HS256",
        "JWT_TOKEN_LOCATION": ["headers"],
        # Headers only, so no CSRF claim: it would be random, and a grant must sign the same pair twice.
        "JWT_COOKIE_CSRF_PROTECT": False,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=settings.access_token_seconds),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=settings.refresh_token_seconds),
        "RATELIMIT_STORAGE_URI": settings.redis_url or "memory://",
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": f"{settings.redis_key_prefix}limits"} if settings.redis_url else {},
        # Retry-After goes on 429 answers only (chatju.errors), not on every response.
        "RATELIMIT_HEADERS_ENABLED": False,
        # Redis down must not turn every limited route into a 500: count in memory meanwhile.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_DEFAULT": settings.rate_limit_default,
        "RATELIMIT_DEFAULTS_EXEMPT_WHEN": None,
    }


def settings_origin(settings: Settings) -> str:
    """The scheme://host[:port] of FRONTEND_URL: the only origin CORS allows."""
    scheme, _, rest = settings.frontend_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _register_blueprints(app: Flask) -> None:
    from chatju.api.auth import bp as auth_bp
    from chatju.api.docs import bp as docs_bp
    from chatju.api.health import bp as health_bp
    from chatju.api.history import bp as history_bp
    from chatju.api.metrics import bp as metrics_bp
    from chatju.api.payments import bp as payments_bp
    from chatju.api.products import bp as products_bp
    from chatju.api.readings import bp as readings_bp
    from chatju.api.stripe import bp as stripe_bp
    from chatju.api.toss import bp as toss_bp
    from chatju.api.webhooks import bp as webhooks_bp
    from chatju.cli.auth import cli as auth_cli
    from chatju.cli.payments import cli as payments_cli
    from chatju.cli.webhooks import cli as webhooks_cli
    from chatju.demo.routes import bp as demo_bp
    from chatju.demo.routes import root as root_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(products_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(readings_bp)
    app.register_blueprint(toss_bp)
    app.register_blueprint(stripe_bp)
    app.register_blueprint(history_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(demo_bp)  # answers 404 in production (chatju/demo/routes.py)
    if not app.extensions["chatju.settings"].is_production:
        app.register_blueprint(root_bp)  # `/` leads to the demo; in production it is a 404 like any unknown path
    app.cli.add_command(auth_cli)
    app.cli.add_command(payments_cli)
    app.cli.add_command(webhooks_cli)
