"""Writing the gateway call audit trail, independent of the caller's transaction.

A call is recorded even when the task that made it rolls back or retries: the
trail is of what was sent, not of what we kept.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from chatju.db import table_of
from chatju.extensions import db
from chatju.gateways.models import GatewayCall
from chatju.gateways.port import CallRecord
from chatju.observability import metrics
from chatju.periodic import in_batches

log = logging.getLogger(__name__)


def record_call(call: CallRecord) -> None:
    metrics.observe_gateway_call(call.provider, call.operation, call.outcome, call.http_status, call.duration_ms / 1000)
    log.info(
        "gateway call",
        extra={
            "gateway": call.provider,
            "operation": call.operation,
            "order_id": call.order_id,
            "http_status": call.http_status,
            "outcome": call.outcome,
            "error_code": call.error_code,
            "duration_ms": call.duration_ms,
        },
    )
    try:
        # One INSERT in autocommit: its own transaction, committed as it returns, without the
        # ORM unit of work or a BEGIN and COMMIT round trip of its own.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                sa.insert(table_of(GatewayCall)),
                {
                    "provider": call.provider,
                    "operation": call.operation,
                    "order_id": call.order_id,
                    "idempotency_key": call.idempotency_key,
                    "http_status": call.http_status,
                    "duration_ms": call.duration_ms,
                    "outcome": call.outcome,
                    "error_code": call.error_code,
                    "response": dict(call.response) if call.response is not None else None,
                },
            )
    except Exception:  # the audit row must never turn a gateway answer into a failure
        log.exception("could not record gateway call", extra={"order_id": call.order_id})


def prune_responses(created_before: datetime) -> int:
    """Forget the gateways' answers after the retention; the rows (the trail itself) stay."""
    old = sa.and_(GatewayCall.created_at < created_before, GatewayCall.response.is_not(None))
    return in_batches(GatewayCall, old, {"response": None})
