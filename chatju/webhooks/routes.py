"""Webhook endpoints: recognise, store once, answer at once (SPEC §5)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from chatju.extensions import db, limiter
from chatju.payments.states import Provider
from chatju.settings import current_settings
from chatju.webhooks import service, toss
from chatju.webhooks.models import InboxState

bp = Blueprint("webhooks", __name__, url_prefix="/payment")


@bp.post("/toss/webhook")
@limiter.limit(lambda: current_settings().rate_limit_webhook)  # per source address
def toss_webhook() -> tuple[Response, int]:
    raw = request.get_data(cache=False)
    delivery = toss.parse(raw, request.headers.get(toss.TRANSMISSION_ID))
    state = InboxState.RECEIVED if delivery.handled else InboxState.IGNORED
    event_id, first = service.store(
        Provider.TOSS,
        delivery.event_id,
        delivery.event_type,
        delivery.order_id,
        raw.decode("utf-8", errors="replace"),
        service.kept_headers(request.headers),
        delivery.created_at,
        state,
    )
    db.session.commit()
    if first and state == InboxState.RECEIVED:
        service.enqueue(event_id)
    return jsonify(status="ok"), 200
