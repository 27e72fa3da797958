"""Counts the database knows exactly, read at scrape time.

A gauge kept in process memory would drift (a worker that dies mid-change, a row
changed by hand); these are the truth, read by the domains' own readers
(chatju.payments.gauges, chatju.webhooks.gauges), each a small indexed query. A slow
or unreachable database costs the scrape at most `STATEMENT_TIMEOUT_MS`, and then
only these families: the rest still answer, with `chatju_metrics_database_up 0`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection

from chatju.extensions import db

log = logging.getLogger(__name__)
STATEMENT_TIMEOUT_MS = 2000
# One domain's gauges from one connection; the provider names label them.
Reader = Callable[[Connection, Sequence[str]], list[Metric]]


class DatabaseCollector(Collector):
    """The families the readers produce, and whether the database could be read at all."""

    def __init__(self, readers: Sequence[Reader], providers: Sequence[str]) -> None:
        self._readers = readers
        self._providers = providers

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("chatju_metrics_database_up", "1 when the database gauges were read at this scrape")
        try:
            families = self._read()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics could not read the database", extra={"error": type(exc).__name__})
            families = []
        up.add_metric([], 1 if families else 0)
        yield from families
        yield up

    def _read(self) -> list[Metric]:
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            return [family for read in self._readers for family in read(conn, self._providers)]
