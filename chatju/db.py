"""The declarative base, UTC timestamps and per-dialect tuning shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL, JSON text elsewhere.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
# BIGINT identity on PostgreSQL; SQLite only auto-increments an INTEGER primary key.
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime, dict[str, Any]: JSONType},
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


def enum_column(enum_cls: type, name: str, length: int = 20, checked: bool = True) -> sa.Enum:
    """An enum stored by value as a string, with a CHECK constraint unless `checked` is off."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=checked,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL and a busy timeout let web, worker and beat share one SQLite file."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def table_of(model: type[Base]) -> sa.Table:
    """A model's Table, for Core statements (INSERT ... ON CONFLICT, UPDATE ... RETURNING)."""
    table = model.__table__
    assert isinstance(table, sa.Table)  # noqa: S101 (every model here maps one table)
    return table


def insert_for(bind: Any, table: Any) -> Any:
    """The dialect's INSERT (for a session or a connection), with ON CONFLICT on both dialects."""
    dialect = bind.dialect if hasattr(bind, "dialect") else bind.get_bind().dialect
    if dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)
