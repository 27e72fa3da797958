"""The floor of a webhook acknowledgement: the least work a correct one can do (`gunicorn bench.floor:app`).

Verify Stripe's HMAC (Toss deliveries carry none: their transmission id and the body's hash
are the key), insert the raw event with ON CONFLICT DO NOTHING, commit (synchronous_commit
on, as the service), push one message to Redis, answer 200. No framework, no ORM, no logging.
Served by gunicorn with the service's workers and threads, so the ratio measures our code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg2
import redis

SECRET = os.environ["STRIPE_WEBHOOK_SECRET"].encode()
QUEUE = os.environ["REDIS_KEY_PREFIX"] + "floor"
INSERT = """
INSERT INTO webhook_events (provider, event_id, event_type, body, headers, state, received_at, next_attempt_at)
VALUES (%s, %s, %s, %s, %s, 'received', now(), now())
ON CONFLICT (provider, event_id) DO NOTHING RETURNING id
"""
local = threading.local()
broker = redis.Redis.from_url(os.environ["REDIS_URL"])
OK = [b'{"status":"ok"}']
BAD = [b'{"error":{"code":"INVALID_SIGNATURE"}}']


def connection() -> Any:
    if not hasattr(local, "conn"):
        local.conn = psycopg2.connect(os.environ["DATABASE_URL"])
    return local.conn


def verified(body: bytes, header: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300 and hmac.compare_digest(expected, signature)


def store(provider: str, event_id: str, event_type: str, body: bytes, headers: dict[str, str]) -> None:
    conn = connection()
    with conn.cursor() as cur:
        cur.execute(INSERT, (provider, event_id, event_type, body.decode(), json.dumps(headers)))
        row = cur.fetchone()
    conn.commit()
    if row is not None:
        broker.lpush(QUEUE, json.dumps([row[0]]))


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ["PATH_INFO"] == "/payment/stripe/webhook":
        header = environ.get("HTTP_STRIPE_SIGNATURE", "")
        if not verified(body, header):
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return BAD
        event = json.loads(body)
        store("stripe", event["id"], event["type"], body, {"stripe-signature": header})
    elif environ["PATH_INFO"] == "/payment/toss/webhook":
        event = json.loads(body)
        transmission = environ.get("HTTP_TOSSPAYMENTS_WEBHOOK_TRANSMISSION_ID", "")
        event_id = f"{transmission}:{hashlib.sha256(body).hexdigest()[:32]}"
        store("toss", event_id, event["eventType"], body, {"tosspayments-webhook-transmission-id": transmission})
    start_response("200 OK", [("Content-Type", "application/json")])
    return OK
