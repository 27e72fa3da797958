"""Sign-in end to end: magic links through a real worker, tokens, the profile."""

from __future__ import annotations

import threading
from datetime import timedelta

import jwt as pyjwt
import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token, create_refresh_token

from chatju import create_app
from chatju.auth.models import MagicLink, User
from chatju.auth.service import hash_token
from chatju.db import utcnow
from chatju.extensions import db
from tests.support.mail import mails_to, sign_in_token, wait_for_mail

EMAIL = "saju.fan@example.com"


def request_link(client, mail_dir, email: str = EMAIL) -> str:
    mailbox = email.strip().lower()
    before = len(mails_to(mail_dir, mailbox))
    response = client.post("/auth/magic-link", json={"email": email})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"status": "sent"}
    return sign_in_token(wait_for_mail(mail_dir, mailbox, count=before + 1))


def verify(client, token: str):
    return client.post("/auth/magic-link/verify", json={"token": token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_magic_link_signs_in_and_creates_the_user(app, client, worker, mail_dir):
    token = request_link(client, mail_dir, "Saju.Fan@Example.com ")
    response = verify(client, token)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "user"}
    user = body["user"]
    assert set(user) == {"id", "email", "displayName", "isAdmin", "premiumReadings", "createdAt"}
    assert user["email"] == EMAIL
    assert user["isAdmin"] is False and user["premiumReadings"] == 0 and user["displayName"] is None
    assert user["createdAt"].endswith("Z")

    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.get_json() == user


def test_the_link_is_stored_hashed_and_mailed_to_the_frontend(app, client, worker, mail_dir):
    token = request_link(client, mail_dir)
    message = wait_for_mail(mail_dir, EMAIL)
    assert "http://127.0.0.1:8000/demo/auth/verify?token=" in message.get_payload(decode=True).decode()
    with app.app_context():
        link = db.session.execute(sa.select(MagicLink)).scalar_one()
        assert link.token_hash == hash_token(token) and token not in link.token_hash
        lifetime = link.expires_at - link.created_at
        assert timedelta(minutes=14) < lifetime <= timedelta(minutes=15)


def test_a_link_works_once(client, worker, mail_dir):
    token = request_link(client, mail_dir)
    assert verify(client, token).status_code == 200
    second = verify(client, token)
    assert second.status_code == 401
    assert second.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_an_expired_link_is_refused(app, client, worker, mail_dir):
    token = request_link(client, mail_dir)
    with app.app_context():
        db.session.execute(sa.update(MagicLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = verify(client, token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar() == 0


def test_a_tampered_link_is_refused(client, worker, mail_dir):
    token = request_link(client, mail_dir)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert verify(client, tampered).status_code == 401
    # The genuine token is still good: a failed guess does not burn it.
    assert verify(client, token).status_code == 200


def test_concurrent_redemptions_of_one_link_sign_in_once(app, client, worker, mail_dir):
    token = request_link(client, mail_dir)
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def redeem() -> None:
        local = app.test_client()
        barrier.wait()
        statuses.append(verify(local, token).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [401] * 7


def test_the_answer_is_the_same_for_new_and_known_addresses(client, make_user):
    make_user("known@example.com")
    known = client.post("/auth/magic-link", json={"email": "known@example.com"})
    unknown = client.post("/auth/magic-link", json={"email": "unknown@example.com"})
    assert (known.status_code, known.get_json()) == (unknown.status_code, unknown.get_json())


@pytest.mark.parametrize(
    "body",
    [{"email": "not-an-email"}, {"email": 42}, {}, {"email": "a@example.com", "extra": 1}, {"email": "x" * 300}],
)
def test_magic_link_request_validation(client, body):
    response = client.post("/auth/magic-link", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("body", [{}, {"token": 5}, {"token": "short"}, {"token": "x" * 500}])
def test_verify_validation(client, body):
    response = client.post("/auth/magic-link/verify", json=body)
    assert response.status_code == 400


def test_refresh_gives_a_new_token_pair(client, worker, mail_dir):
    tokens = verify(client, request_link(client, mail_dir)).get_json()
    response = client.post("/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 200
    assert set(response.get_json()) == {"access_token", "refresh_token"}  # SPEC §3: refresh tokens rotate
    assert client.get("/auth/me", headers=bearer(response.get_json()["access_token"])).status_code == 200


def test_token_types_are_not_interchangeable(app, client, make_user):
    user_id = make_user()
    with app.app_context():
        access = create_access_token(identity=str(user_id))
        refresh = create_refresh_token(identity=str(user_id))
    assert client.post("/auth/refresh", headers=bearer(access)).status_code == 401
    response = client.get("/auth/me", headers=bearer(refresh))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_expired_access_token_is_401(app, client, make_user):
    user_id = make_user()
    with app.app_context():
        expired = create_access_token(identity=str(user_id), expires_delta=timedelta(seconds=-5))
    response = client.get("/auth/me", headers=bearer(expired))
    assert response.status_code == 401
    assert response.get_json()["error"] == {"code": "UNAUTHORIZED", "message": "The token has expired."}


def test_tampered_and_forged_tokens_are_401(app, client, make_user, auth_headers):
    user_id = make_user()
    good = auth_headers(user_id)["Authorization"].split()[1]
    header, payload, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    forged_claims = pyjwt.encode({"sub": str(user_id), "type": "access", "role": "admin"}, "x" * 40, "HS256")
    unsigned = pyjwt.encode({"sub": str(user_id), "type": "access"}, None, algorithm="none")
    for token in (f"{header}.{payload}.{flipped}", forged_claims, unsigned, "not.a.jwt", "garbage"):
        response = client.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_missing_or_malformed_authorization_is_401(client):
    for headers in ({}, {"Authorization": "Token abc"}, {"Authorization": "Bearer"}):
        response = client.get("/auth/me", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_token_of_a_deleted_user_is_401(app, client, make_user, auth_headers):
    user_id = make_user()
    headers = auth_headers(user_id)
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.id == user_id))
        db.session.commit()
    assert client.get("/auth/me", headers=headers).status_code == 401


def test_admins_carry_a_role_claim(app, make_user, auth_headers):
    admin = auth_headers(make_user("boss@example.com", admin=True))["Authorization"].split()[1]
    plain = auth_headers(make_user("fan@example.com"))["Authorization"].split()[1]
    assert pyjwt.decode(admin, options={"verify_signature": False})["role"] == "admin"
    assert "role" not in pyjwt.decode(plain, options={"verify_signature": False})


def test_patch_me_updates_the_display_name(client, make_user, auth_headers):
    headers = auth_headers(make_user())
    response = client.patch("/auth/me", json={"displayName": "  사주 팬  "}, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["displayName"] == "사주 팬"
    assert client.get("/auth/me", headers=headers).get_json()["displayName"] == "사주 팬"
    cleared = client.patch("/auth/me", json={"displayName": None}, headers=headers)
    assert cleared.get_json()["displayName"] is None


@pytest.mark.parametrize(
    "body", [{"displayName": "x" * 101}, {"displayName": ""}, {"displayName": 3}, {"isAdmin": True}, {}]
)
def test_patch_me_rejects_bad_input_and_changes_nothing(client, make_user, auth_headers, body):
    headers = auth_headers(make_user())
    response = client.patch("/auth/me", json=body, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"
    me = client.get("/auth/me", headers=headers).get_json()
    assert me["displayName"] is None and me["isAdmin"] is False


def test_magic_link_requests_are_rate_limited(test_env):
    app = create_app(
        {**test_env, "RATE_LIMIT_MAGIC_LINK": "2 per minute", "REDIS_KEY_PREFIX": test_env["REDIS_KEY_PREFIX"] + "rl1:"}
    )
    client = app.test_client()
    for _ in range(2):
        assert client.post("/auth/magic-link", json={"email": "slow@example.com"}).status_code == 202
    limited = client.post("/auth/magic-link", json={"email": "slow@example.com"})
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) > 0
