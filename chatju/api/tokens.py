"""Access and refresh tokens (flask-jwt-extended) and the errors they raise."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, request
from flask_jwt_extended import current_user, jwt_required

from chatju.auth import blocklist, sign_ins
from chatju.auth.models import User
from chatju.auth.tokens import sign_access
from chatju.errors import error_response
from chatju.exceptions import NotAllowedError
from chatju.extensions import db, jwt

F = TypeVar("F", bound=Callable[..., Any])
# A user id as tokens carry it: ASCII digits that fit the id column ("²" is a digit to str.isdigit).
SUBJECT = re.compile(r"[1-9][0-9]{0,17}")


def issue_tokens(user: User) -> dict[str, str]:
    """A new sign-in of `user`: its first access and refresh tokens."""
    return sign_ins.start(user).as_json()


def access_token_for(user: User) -> str:
    """One access token outside any sign-in (operators and tests); logging out with it revokes it alone."""
    return sign_access(user)


def presented_token() -> str:
    """The token of `Authorization: Bearer <token>`, once flask-jwt-extended has verified that header."""
    for field in re.split(r",\s*", request.headers.get("Authorization", "")):
        parts = field.split()
        if len(parts) == 2 and parts[0] == "Bearer":
            return parts[1]
    return ""


def signed_in_user() -> User:
    user: User = current_user
    return user


def signed_in(view: F) -> F:
    """A valid access token is required (flask-jwt-extended's `jwt_required`, typed)."""
    return cast(F, jwt_required()(view))


def refresh_token_required(view: F) -> F:
    """A valid refresh token is required."""
    return cast(F, jwt_required(refresh=True)(view))


def admin_required(view: F) -> F:
    """Signed in and an admin now (the database decides, not a possibly stale claim)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not signed_in_user().is_admin:
            raise NotAllowedError("This action needs an administrator.")
        return view(*args, **kwargs)

    return signed_in(cast(F, wrapper))


def _unauthorized(message: str) -> Response:
    return error_response(401, "UNAUTHORIZED", message)


@jwt.user_lookup_loader
def _load_user(jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> User | None:
    subject = jwt_data.get("sub")
    if not isinstance(subject, str) or not SUBJECT.fullmatch(subject):
        return None  # 401, like a user that no longer exists
    return db.session.get(User, int(subject))


@jwt.user_lookup_error_loader
def _user_gone(jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> Response:
    return _unauthorized("The account of this token no longer exists.")


@jwt.expired_token_loader
def _expired(jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> Response:
    return _unauthorized("The token has expired.")


@jwt.invalid_token_loader
def _invalid(reason: str) -> Response:
    return _unauthorized("The token is invalid.")


@jwt.unauthorized_loader
def _missing(reason: str) -> Response:
    return _unauthorized("Sign in first: send Authorization: Bearer <access token>.")


@jwt.revoked_token_loader
def _revoked(jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> Response:
    return _unauthorized("The token has been revoked.")


@jwt.needs_fresh_token_loader
def _needs_fresh(jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> Response:
    return _unauthorized("A fresh sign-in is needed.")


@jwt.token_verification_failed_loader
def _verification_failed(jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> Response:
    return _unauthorized("The token is invalid.")


@jwt.token_in_blocklist_loader
def _revoked_access(jwt_header: dict[str, Any], jwt_data: dict[str, Any]) -> bool:
    # Refresh tokens are checked against their rows, under the sign-in's lock (chatju.auth.sign_ins).
    return jwt_data.get("type") == "access" and blocklist.current().refuses(jwt_data)
