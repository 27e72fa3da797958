"""Sign-ins that can be ended, through HTTP: rotation, reuse, the grace, logout, revoked access tokens."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from chatju import create_app
from chatju.auth import blocklist
from chatju.auth.models import MagicLink, RefreshToken, RevokedToken, SignIn
from chatju.auth.service import hash_token
from chatju.db import utcnow
from chatju.extensions import db
from chatju.maintenance import prune

EMAIL = "sessions@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(app: Flask, email: str = EMAIL) -> dict:
    """A sign-in link stored as the mail would have it, then redeemed through HTTP."""
    token = secrets.token_urlsafe(32)
    with app.app_context():
        db.session.add(MagicLink(email=email, token_hash=hash_token(token), expires_at=utcnow() + timedelta(minutes=5)))
        db.session.commit()
    response = app.test_client().post("/auth/magic-link/verify", json={"token": token})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refresh(app: Flask, refresh_token: str):
    return app.test_client().post("/auth/refresh", headers=bearer(refresh_token))


def me(app: Flask, access_token: str):
    return app.test_client().get("/auth/me", headers=bearer(access_token))


def logout(app: Flask, access_token: str, **body):
    return app.test_client().post("/auth/logout", headers=bearer(access_token), json=body or None)


def age_the_spend(app: Flask, refresh_token: str, seconds: int = 60) -> None:
    """Move the token's spend back in time, past the grace."""
    jti = _claims(refresh_token)["jti"]
    with app.app_context():
        db.session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.jti == jti)
            .values(spent_at=utcnow() - timedelta(seconds=seconds))
        )
        db.session.commit()


def _claims(token: str) -> dict:
    import jwt as pyjwt

    return pyjwt.decode(token, options={"verify_signature": False})


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


@pytest.fixture(scope="module")
def embedded_app(test_env) -> Flask:
    """Without REDIS_URL, as the embedded default runs: the blocklist is the database's."""
    return create_app({**test_env, "REDIS_URL": ""})


@pytest.fixture(params=["redis", "database"])
def auth_app(request, app, embedded_app, test_env) -> Flask:
    """The app with each blocklist: Redis (production's) and the database (the embedded default's)."""
    if request.param == "database":
        return embedded_app
    if not test_env["REDIS_URL"]:
        pytest.skip("Redis is not reachable")
    return app


def test_verify_starts_a_sign_in_and_stores_only_hashes(app):
    tokens = sign_in(app)
    claims = _claims(tokens["refresh_token"])
    with app.app_context():
        stored = db.session.execute(sa.select(RefreshToken)).scalar_one()
        sign_in_row = db.session.get(SignIn, stored.sign_in_id)
        assert stored.jti == claims["jti"] and sign_in_row.sid == claims["sid"] and sign_in_row.revoked_at is None
        assert stored.token_hash == hash_token(tokens["refresh_token"])
        assert tokens["refresh_token"] not in stored.token_hash
    assert _claims(tokens["access_token"])["sid"] == claims["sid"]


def test_refresh_rotates_and_the_new_pair_works(app):
    first = sign_in(app)
    response = refresh(app, first["refresh_token"])
    assert response.status_code == 200
    second = response.get_json()
    assert set(second) == {"access_token", "refresh_token"}
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert me(app, second["access_token"]).status_code == 200
    third = refresh(app, second["refresh_token"])
    assert third.status_code == 200 and me(app, third.get_json()["access_token"]).status_code == 200


def test_a_second_refresh_within_the_grace_gets_the_same_pair(app):
    tokens = sign_in(app)
    first = refresh(app, tokens["refresh_token"])
    again = refresh(app, tokens["refresh_token"])
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    # The sign-in lives on through the pair both tabs now hold.
    assert refresh(app, first.get_json()["refresh_token"]).status_code == 200


def test_concurrent_refreshes_within_the_grace_get_one_pair(app):
    if app.extensions["chatju.settings"].uses_sqlite:
        pytest.skip("the row lock that orders concurrent refreshes is PostgreSQL's")
    tokens = sign_in(app)
    barrier = threading.Barrier(6)
    answers: list = []

    def tab() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=tab) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 6, answers
    assert len({body["refresh_token"] for _, body in answers}) == 1
    assert len({body["access_token"] for _, body in answers}) == 1
    with app.app_context():
        # One successor was minted, however many refreshed at once.
        assert db.session.execute(sa.select(sa.func.count()).select_from(RefreshToken)).scalar() == 2


def test_reuse_after_the_grace_revokes_the_whole_sign_in(auth_app):
    tokens = sign_in(auth_app)
    rotated = refresh(auth_app, tokens["refresh_token"]).get_json()
    age_the_spend(auth_app, tokens["refresh_token"])

    reused = refresh(auth_app, tokens["refresh_token"])
    assert_unauthorized(reused)
    # The sign-in is over: the live refresh token fails too, and so do its access tokens.
    assert_unauthorized(refresh(auth_app, rotated["refresh_token"]))
    assert_unauthorized(me(auth_app, rotated["access_token"]))
    assert_unauthorized(me(auth_app, tokens["access_token"]))
    with auth_app.app_context():
        sign_in_row = db.session.execute(sa.select(SignIn)).scalar_one()
        assert sign_in_row.revoked_reason == "reuse"
        assert all(row.revoked_at for row in db.session.execute(sa.select(RefreshToken)).scalars())


def test_reuse_ends_only_that_sign_in(app):
    phone, laptop = sign_in(app), sign_in(app)
    refresh(app, phone["refresh_token"])
    age_the_spend(app, phone["refresh_token"])
    assert_unauthorized(refresh(app, phone["refresh_token"]))
    assert me(app, laptop["access_token"]).status_code == 200
    assert refresh(app, laptop["refresh_token"]).status_code == 200


def test_without_a_grace_any_second_use_is_reuse(test_env, app):
    strict = create_app({**test_env, "REFRESH_REUSE_GRACE_SECONDS": "0"})
    tokens = sign_in(strict)
    rotated = refresh(strict, tokens["refresh_token"]).get_json()
    assert_unauthorized(refresh(strict, tokens["refresh_token"]))
    assert_unauthorized(refresh(strict, rotated["refresh_token"]))


def test_logout_ends_this_sign_in_only(auth_app):
    here, elsewhere = sign_in(auth_app), sign_in(auth_app)
    response = logout(auth_app, here["access_token"])
    assert response.status_code == 204 and response.data == b""

    revoked = me(auth_app, here["access_token"])
    assert_unauthorized(revoked)
    assert revoked.get_json()["error"]["message"] == "The token has been revoked."
    assert_unauthorized(refresh(auth_app, here["refresh_token"]))
    assert me(auth_app, elsewhere["access_token"]).status_code == 200
    assert refresh(auth_app, elsewhere["refresh_token"]).status_code == 200


def test_logout_everywhere_ends_every_sign_in_of_the_user(auth_app):
    here, elsewhere, other_user = sign_in(auth_app), sign_in(auth_app), sign_in(auth_app, "other@example.com")
    rotated = refresh(auth_app, elsewhere["refresh_token"]).get_json()

    assert logout(auth_app, here["access_token"], everywhere=True).status_code == 204
    for access in (here["access_token"], elsewhere["access_token"], rotated["access_token"]):
        assert_unauthorized(me(auth_app, access))
    for refresh_token in (here["refresh_token"], rotated["refresh_token"]):
        assert_unauthorized(refresh(auth_app, refresh_token))
    assert me(auth_app, other_user["access_token"]).status_code == 200
    # Signing in again starts a new sign-in that works.
    again = sign_in(auth_app)
    assert me(auth_app, again["access_token"]).status_code == 200


def test_logout_body_is_validated(app):
    tokens = sign_in(app)
    client = app.test_client()
    for body in ({"everywhere": "yes"}, {"everywhere": True, "extra": 1}, [1]):
        response = client.post("/auth/logout", headers=bearer(tokens["access_token"]), json=body)
        assert response.status_code == 400, body
    assert me(app, tokens["access_token"]).status_code == 200
    assert client.post("/auth/logout", headers=bearer(tokens["refresh_token"])).status_code == 401
    assert client.post("/auth/logout").status_code == 401


def test_an_operator_token_is_revoked_alone(app, make_user, auth_headers):
    headers = auth_headers(make_user(EMAIL))
    tokens = sign_in(app)
    assert app.test_client().post("/auth/logout", headers=headers).status_code == 204
    assert_unauthorized(app.test_client().get("/auth/me", headers=headers))
    assert me(app, tokens["access_token"]).status_code == 200


def test_while_redis_is_down_the_database_decides(app, test_env):
    if not test_env["REDIS_URL"]:
        pytest.skip("Redis is not reachable")
    down = create_app({**test_env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    ended, live, reused = sign_in(app), sign_in(app), sign_in(app)
    assert logout(app, ended["access_token"]).status_code == 204

    # A revoked sign-in's token is still refused, from the sign-ins' record; a live one is served.
    assert_unauthorized(me(down, ended["access_token"]))
    assert me(down, live["access_token"]).status_code == 200
    # A logout that cannot be recorded is not answered as done: 503, retry, nothing changed.
    unrecorded = logout(down, live["access_token"])
    assert unrecorded.status_code == 503 and unrecorded.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert me(app, live["access_token"]).status_code == 200
    assert refresh(app, live["refresh_token"]).status_code == 200
    # Reuse still ends the sign-in, and its access tokens are refused while Redis is down.
    refresh(down, reused["refresh_token"])
    age_the_spend(app, reused["refresh_token"])
    assert_unauthorized(refresh(down, reused["refresh_token"]))
    assert_unauthorized(me(down, reused["access_token"]))
    with app.app_context():
        reasons = set(db.session.execute(sa.select(SignIn.revoked_reason)).scalars())
        assert reasons == {"logout", "reuse", None}


def test_a_revoked_access_token_is_refused_until_it_would_have_expired(auth_app, test_env):
    redis_backed = isinstance(auth_app.extensions[blocklist.EXTENSION], blocklist.RedisBlocklist)
    redis_url = test_env["REDIS_URL"] if redis_backed else ""
    short = create_app({**test_env, "REDIS_URL": redis_url, "ACCESS_TOKEN_EXPIRES_SECONDS": "3"})
    tokens = sign_in(short)
    claims = _claims(tokens["access_token"])
    assert logout(short, tokens["access_token"]).status_code == 204
    assert me(short, tokens["access_token"]).get_json()["error"]["message"] == "The token has been revoked."

    entry = f"access:{claims['jti']}"
    if redis_backed:
        client = redis.Redis.from_url(test_env["REDIS_URL"])
        ttl = client.pttl(f"{test_env['REDIS_KEY_PREFIX']}auth:revoked:{entry}")
        assert 0 < ttl <= 3000
    else:
        with short.app_context():
            stored = db.session.execute(sa.select(RevokedToken).where(RevokedToken.entry == entry)).scalar_one()
            assert int(stored.expires_at.timestamp()) == claims["exp"]

    time.sleep(max(claims["exp"] - time.time(), 0) + 1.1)
    assert me(short, tokens["access_token"]).get_json()["error"]["message"] == "The token has expired."
    with short.app_context():
        # The entry lapsed with the token: nothing is left to refuse a token that passes its checks.
        assert not short.extensions[blocklist.EXTENSION].refuses({"jti": claims["jti"]})


def test_prune_forgets_lapsed_entries_and_expired_refresh_tokens(app, embedded_app):
    embedded = embedded_app
    tokens = sign_in(embedded)
    assert logout(embedded, tokens["access_token"]).status_code == 204
    with embedded.app_context():
        db.session.execute(sa.update(RevokedToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.execute(sa.update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        counts = prune()
        assert counts["revoked_tokens"] == 2 and counts["refresh_tokens"] == 1
        assert db.session.execute(sa.select(sa.func.count()).select_from(SignIn)).scalar() == 1


def test_a_refresh_token_from_before_sign_ins_is_refused(app, make_user):
    from flask_jwt_extended import create_refresh_token

    user_id = make_user(EMAIL)
    with app.app_context():
        legacy = create_refresh_token(identity=str(user_id))
    assert_unauthorized(refresh(app, legacy))
