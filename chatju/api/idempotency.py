"""`Idempotency-Key` on the create routes: the decorator that reserves, runs and remembers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from chatju.api.unit_of_work import commit_record
from chatju.extensions import db
from chatju.idempotency import service

ViewResult = tuple[dict[str, Any], int]
# The header's description in OpenAPI: the rule of chatju.validation, as clients read it.
IDEMPOTENCY_KEY_HEADER = (
    "1-255 visible ASCII characters (0x21-0x7E: letters, digits, punctuation; no spaces), anything else is a 400;"
    " the same key and body replay the first answer for 24 h."
)


def idempotent(
    route: str, user_id: Callable[[], int], on_replay: Callable[[ViewResult], ViewResult] | None = None
) -> Callable[[Callable[..., ViewResult]], Callable[..., Any]]:
    """Wrap a view that returns (body, status); its answer is stored in the transaction of its work.

    A view that must commit before it answers (to start a task it then waits for)
    calls `checkpoint`, so the answer it would give at that point is stored with the work.
    """

    def decorator(view: Callable[..., ViewResult]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ViewResult:
            key = request.headers.get("Idempotency-Key")
            if key is None:
                return view(*args, **kwargs)
            service.check_key(key)
            found = service.reserve(user_id(), route, key, service.request_hash(request.get_data(cache=True)))
            if isinstance(found, tuple):
                return on_replay(found) if on_replay else found
            g.idempotency_key_id = found
            try:
                body, status = view(*args, **kwargs)
            except BaseException:
                db.session.close()  # also after a commit whose after-commit hook raised
                if not g.get("idempotency_checkpointed"):
                    service.release(found)
                raise
            service.remember(found, body, status)  # committed with the work (chatju.api.unit_of_work)
            return body, status

        return wrapper

    return decorator


def checkpoint(body: dict[str, Any], status: int) -> None:
    """Commit the work so far with the answer a repeat gets should this request die from here on.

    A task the broker refuses here is not lost: the order is on record, and the beat's
    reconciliation sends it again (so this does not fail the request).
    """
    key_id = g.get("idempotency_key_id")
    if key_id is not None:
        service.remember(key_id, body, status, final=False)
        g.idempotency_checkpointed = True
    commit_record()
