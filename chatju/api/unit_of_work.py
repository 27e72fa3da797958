"""One place decides where a request's transaction ends.

A request's work is committed when its view answers below 400 and rolled back
otherwise; tasks asked for meanwhile are sent once the commit holds (chatju.jobs).
Views and services never commit, with two named exceptions for work that must be on
record before the answer: `commit_before_waiting` (create and confirm hand work to a
task and then wait for it) and `commit_record` (a refund, a cancel, a stored webhook:
answered once committed, even if the broker refused their task, which the beat sends
later instead; and a sign-in revoked for refresh-token reuse, answered 401).
"""

from __future__ import annotations

from flask import Flask, Response, current_app

from chatju.extensions import db
from chatju.jobs import commit_then_enqueue


def commit_before_waiting() -> None:
    """Commit now, so the task sent on commit finds the rows it needs; EnqueueError if it was not sent."""
    db.session.commit()


def commit_record() -> bool:
    """Commit now, whatever the answer will be; a task the broker refuses is left to the beat (False when not sent)."""
    return commit_then_enqueue()


def _end(response: Response) -> Response:
    if response.status_code >= 400:
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except Exception as exc:  # the commit, or the task sending after it: answered by its error handler
        db.session.close()  # not rollback(): after a commit whose after-commit hook raised, there is none
        return current_app.make_response(current_app.handle_user_exception(exc))
    return response


def init_app(app: Flask) -> None:
    app.after_request(_end)
