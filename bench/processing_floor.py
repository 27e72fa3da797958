"""The floor of webhook processing: the least work a correct drain of the inbox can do.

One process, one psycopg2 connection, a plain loop: per event, in one transaction, claim the
inbox row (FOR UPDATE SKIP LOCKED), find the payment its intent names, take the per-payment
advisory lock, fetch the intent from the gateway sandbox with the service's call
(`GET /v1/payment_intents/{id}?expand[]=latest_charge`, one pooled HTTP connection), lock the
payment, move it to PAID with its card details, write the ledger row and the two outbox rows,
mark the event processed, commit, then push one message per outbox row to Redis.
No framework, no ORM, no task queue, no logging.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg2
import redis
import requests

SYNC_LOCK_SPACE = 0x70A5 << 48  # as chatju.payments.sync
CLAIM = """
SELECT body FROM webhook_events
WHERE id = %s AND state IN ('received', 'failed') FOR UPDATE SKIP LOCKED
"""
FIND = "SELECT id FROM payments WHERE provider = 'stripe' AND payment_intent_id = %s"
LOCK = "SELECT pg_advisory_xact_lock(%s)"
PAYMENT = "SELECT status, amount, currency, order_id FROM payments WHERE id = %s FOR UPDATE"
UPDATE = """
UPDATE payments SET status = 'PAID', paid_at = now(), updated_at = now(), synced_at = now(),
       method = 'card', card_brand = %s, card_last4 = %s, receipt_url = %s
WHERE id = %s
"""
LEDGER = """
INSERT INTO payment_events (payment_id, kind, from_status, to_status, amount, source, gateway_reference, created_at)
VALUES (%s, 'transition', %s, 'PAID', %s, 'webhook', %s, now())
"""
OUTBOX = """
INSERT INTO outbox (payment_id, effect, state, created_at, next_attempt_at)
VALUES (%s, 'grant_entitlement', 'pending', now(), now()), (%s, 'receipt_mail', 'pending', now(), now())
RETURNING id
"""
DONE = "UPDATE webhook_events SET state = 'processed', processed_at = now(), last_error = NULL WHERE id = %s"


class Floor:
    def __init__(self, database_url: str, stripe_base: str, secret_key: str, redis_url: str, queue: str) -> None:
        self.conn = psycopg2.connect(database_url)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {secret_key}"
        self.stripe_base = stripe_base.rstrip("/")
        self.broker = redis.Redis.from_url(redis_url)
        self.queue = queue

    def process(self, event_id: int) -> str:
        with self.conn.cursor() as cur:
            cur.execute(CLAIM, (event_id,))
            row = cur.fetchone()
            if row is None:
                self.conn.rollback()
                return "skipped"
            intent_id = json.loads(row[0])["data"]["object"]["id"]
            cur.execute(FIND, (intent_id,))
            payment_id = cur.fetchone()[0]
            cur.execute(LOCK, (SYNC_LOCK_SPACE + payment_id,))
            intent = self.fetch(intent_id)
            cur.execute(PAYMENT, (payment_id,))
            status, amount, currency, order_id = cur.fetchone()
            if (intent["amount"], intent["currency"].upper(), intent["metadata"].get("order_id")) != (
                amount,
                currency,
                order_id,
            ) or intent["status"] != "succeeded":
                raise RuntimeError(f"the gateway disagrees about {order_id}")
            charge = intent.get("latest_charge") or {}
            card = (charge.get("payment_method_details") or {}).get("card") or {}
            cur.execute(UPDATE, (card.get("brand"), card.get("last4"), charge.get("receipt_url"), payment_id))
            cur.execute(LEDGER, (payment_id, status, amount, intent_id))
            cur.execute(OUTBOX, (payment_id, payment_id))
            items = [item for (item,) in cur.fetchall()]
            cur.execute(DONE, (event_id,))
        self.conn.commit()
        with self.broker.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.lpush(self.queue, json.dumps([item]))
            pipe.execute()
        return "processed"

    def fetch(self, intent_id: str) -> Any:
        response = self.http.get(
            f"{self.stripe_base}/v1/payment_intents/{intent_id}", params={"expand[]": "latest_charge"}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.conn.close()
        self.http.close()
        self.broker.close()
