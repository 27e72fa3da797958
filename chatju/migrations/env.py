"""Alembic environment, run through Flask-Migrate (`flask --app wsgi db ...`).

Logging stays as the app configured it (JSON to stderr). SQLite gets batch mode,
since it cannot ALTER most constraints in place.
"""

from typing import Any

from alembic import context
from flask import current_app

from chatju.db import UTCDateTime

config = context.config
target_db = current_app.extensions["migrate"].db


def run_migrations_offline() -> None:
    context.configure(
        url=target_db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_db.metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Write chatju's UTCDateTime as a plain timezone-aware DateTime in migrations."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _skip_empty_autogenerate(context: Any, revision: Any, directives: list[Any]) -> None:
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def run_migrations_online() -> None:
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", _skip_empty_autogenerate)
    with target_db.engine.connect() as connection:
        options["render_as_batch"] = connection.dialect.name == "sqlite"
        options["compare_type"] = True
        options["render_item"] = _render_item
        context.configure(
            connection=connection,
            target_metadata=target_db.metadata,
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
