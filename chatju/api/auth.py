"""Sign-in routes: magic links, token rotation, logout and the signed-in user's profile."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask_jwt_extended import get_jwt

from chatju.api import responses, tokens
from chatju.api.docs import documented
from chatju.api.tokens import refresh_token_required, signed_in
from chatju.api.unit_of_work import commit_record
from chatju.api.validation import json_body, optional_json_body, peek_json_object
from chatju.auth import service, sign_ins
from chatju.auth.schemas import LogoutRequest, MagicLinkRequest, MagicLinkVerify, ProfileUpdate, user_json
from chatju.extensions import limiter
from chatju.settings import current_settings

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _email_key() -> str:
    """Per address; one shared key for every body without a readable one. Never raises."""
    email = peek_json_object().get("email")
    return "magic-link:" + (service.normalize_email(email)[:254] if isinstance(email, str) else "-")


@bp.post("/magic-link")
@documented("Mail a one-time sign-in link", {202: responses.Status}, body=MagicLinkRequest, tags=("auth",))
@limiter.limit(lambda: current_settings().rate_limit_magic_link)
@limiter.limit(lambda: current_settings().rate_limit_magic_link, key_func=_email_key)
def request_magic_link() -> tuple[Response, int]:
    body = json_body(MagicLinkRequest)
    service.request_magic_link(body.email)
    # The same answer whether or not the address has an account.
    return jsonify(status="sent"), 202


@bp.post("/magic-link/verify")
@documented(
    "Exchange a sign-in link for tokens", {200: responses.Tokens}, body=MagicLinkVerify, tags=("auth",), errors=(401,)
)
@limiter.limit(lambda: current_settings().rate_limit_auth)
def verify_magic_link() -> Response:
    body = json_body(MagicLinkVerify)
    user = service.redeem_magic_link(body.token)
    return jsonify(**tokens.issue_tokens(user), user=user_json(user))


@bp.post("/refresh")
@documented(
    "The next token pair (send the refresh token as Bearer; it is spent)",
    {200: responses.TokenPair},
    auth=True,
    tags=("auth",),
)
@limiter.limit(lambda: current_settings().rate_limit_auth)
@refresh_token_required
def refresh() -> Response:
    try:
        pair = sign_ins.refresh(tokens.signed_in_user(), get_jwt()["jti"], tokens.presented_token())
    except sign_ins.RefreshTokenReusedError:
        commit_record()  # the revoked sign-in must stay revoked although the answer is 401
        raise
    return jsonify(pair.as_json())


@bp.post("/logout")
@documented(
    "End this sign-in, or every sign-in of the user with {everywhere: true}",
    {204: None},
    body=LogoutRequest,
    body_required=False,
    auth=True,
    tags=("auth",),
)
@signed_in
def logout() -> tuple[str, int]:
    body = optional_json_body(LogoutRequest)
    sign_ins.end(tokens.signed_in_user(), get_jwt(), everywhere=body.everywhere)
    return "", 204


@bp.get("/me")
@documented("The signed-in user", {200: responses.User}, auth=True, tags=("auth",))
@signed_in
def me() -> Response:
    return jsonify(user_json(tokens.signed_in_user()))


@bp.patch("/me")
@documented("Change the display name", {200: responses.User}, body=ProfileUpdate, auth=True, tags=("auth",))
@signed_in
def update_me() -> Response:
    body = json_body(ProfileUpdate)
    user = service.update_profile(tokens.signed_in_user(), body.displayName)
    return jsonify(user_json(user))
