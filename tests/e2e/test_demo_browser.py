"""A customer in Chromium: signs in by the mailed link, buys the reading through the sandbox checkout."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import sqlalchemy as sa
from flask import Flask
from flask_jwt_extended import create_access_token
from playwright.sync_api import Page, expect

from chatju.auth.models import MagicLink, User
from chatju.auth.service import hash_token
from chatju.db import utcnow
from chatju.extensions import db
from chatju.payments.models import Payment
from tests.support.live import LiveServer
from tests.support.mail import LINK, wait_for_mail
from tests.support.sandbox import SandboxProcess

ACCESS_KEY = "chatju.demo.access"  # where demo.js keeps the access token
REFRESH_KEY = "chatju.demo.refresh"  # and the refresh token
DEFAULT_FRONTEND = "http://127.0.0.1:8000/demo"


def mailed_link(mail_dir: Path, email: str) -> str:
    return LINK.search(wait_for_mail(mail_dir, email).get_payload(decode=True).decode()).group(0)


def sign_in(page: Page, demo: LiveServer, mail_dir: Path, email: str) -> None:
    """Ask for the link on /demo/, read the mail, open the link, land on /demo/ signed in."""
    page.goto(f"{demo.url}/demo/")
    page.get_by_label("이메일 Email").fill(email)
    page.get_by_role("button", name=re.compile("Send me a sign-in link")).click()
    expect(page.locator("#mail-sent")).to_be_visible()
    expect(page.locator("#mail-sent-to")).to_have_text(email)
    link = mailed_link(mail_dir, email)
    # The session's worker writes links with the default FRONTEND_URL (port 8000, where `make run`
    # serves); the path and query are the link's own, only the origin is this test server's.
    assert link.startswith(f"{DEFAULT_FRONTEND}/auth/verify?token="), link
    parts = urlsplit(link)
    page.goto(f"{demo.url}{parts.path}?{parts.query}")
    expect(page).to_have_url(f"{demo.url}/demo/")
    expect(page.locator("#who")).to_have_text(email)


def start_checkout(page: Page, sandbox: SandboxProcess) -> str:
    """Press the buy button; the sandbox's hosted checkout opens. Returns the order id."""
    page.get_by_role("button", name="토스로 결제 Buy with Toss (₩13,000)").click()
    page.wait_for_url(f"{sandbox.base_url}/toss/checkout?*")
    expect(page.locator("#amount")).to_have_text("13,000원")
    return parse_qs(urlsplit(page.url).query)["orderId"][0]


def pay(page: Page, card: str) -> None:
    page.locator(f"input[name='card'][value='{card}']").check()
    page.locator("button[name='action'][value='pay']").click()


def stored(app: Flask, order_id: str) -> Payment:
    with app.app_context():
        payment = db.session.execute(sa.select(Payment).where(Payment.order_id == order_id)).scalar_one()
        db.session.expunge(payment)
        return payment


def api_payment(page: Page, demo: LiveServer, order_id: str) -> dict:
    token = page.evaluate("key => localStorage.getItem(key)", ACCESS_KEY)
    response = requests.get(f"{demo.url}/payment/{order_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def stored_token(page: Page, key: str) -> str:
    token = page.evaluate("key => localStorage.getItem(key)", key)
    assert token, key
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me_status(demo: LiveServer, token: str) -> int:
    return requests.get(f"{demo.url}/auth/me", headers=bearer(token), timeout=10).status_code


def sign_in_elsewhere(app: Flask, demo: LiveServer, email: str) -> dict:
    """Another device's sign-in of the same account, through the API (its link stored as the mail has it)."""
    token = secrets.token_urlsafe(32)
    with app.app_context():
        expires = utcnow() + timedelta(minutes=5)
        db.session.add(MagicLink(email=email, token_hash=hash_token(token), expires_at=expires))
        db.session.commit()
    response = requests.post(f"{demo.url}/auth/magic-link/verify", json={"token": token}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def stored_user_id(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.execute(sa.select(User.id).where(User.email == email)).scalar_one()


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_sign_in_through_the_mailed_link(page, demo_server, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-sign-in@example.com")
    expect(page.get_by_role("button", name="토스로 결제 Buy with Toss (₩13,000)")).to_be_enabled()
    expect(page.locator("#product-name")).to_contain_text("Premium saju reading")

    access = stored_token(page, ACCESS_KEY)
    page.get_by_role("link", name=re.compile("Sign out")).click()
    expect(page.locator("#sign-in-form")).to_be_visible()
    assert page.evaluate("key => localStorage.getItem(key)", ACCESS_KEY) is None
    # Signing out ended the sign-in on the server too: the token it held is refused.
    assert me_status(demo_server, access) == 401


def test_end_every_sign_in_from_the_demo(page, app, demo_server, mail_dir):
    email = "e2e-everywhere@example.com"
    sign_in(page, demo_server, mail_dir, email)
    elsewhere = sign_in_elsewhere(app, demo_server, email)
    assert me_status(demo_server, elsewhere["access_token"]) == 200

    page.get_by_role("link", name=re.compile("End every sign-in")).click()
    expect(page.locator("#sign-in-form")).to_be_visible()
    # The other device's sign-in ended too: its access token and its refresh token are refused.
    assert me_status(demo_server, elsewhere["access_token"]) == 401
    refreshed = requests.post(f"{demo_server.url}/auth/refresh", headers=bearer(elsewhere["refresh_token"]), timeout=10)
    assert refreshed.status_code == 401


def test_a_used_link_shows_the_error(page, demo_server, mail_dir):
    email = "e2e-used-link@example.com"
    sign_in(page, demo_server, mail_dir, email)
    used = query_of(mailed_link(mail_dir, email))["token"]
    page.goto(f"{demo_server.url}/demo/auth/verify?token={used}")
    expect(page.locator("#message")).to_contain_text("Ask for a new link")
    assert "token=" not in page.url  # the page drops the token from the address bar and history


def test_an_expired_access_token_is_refreshed_once(page, app, demo_server, mail_dir):
    email = "e2e-refresh@example.com"
    sign_in(page, demo_server, mail_dir, email)
    first_refresh = stored_token(page, REFRESH_KEY)
    user_id = stored_user_id(app, email)
    with app.app_context():
        expired = create_access_token(identity=str(user_id), expires_delta=timedelta(seconds=-60))
    page.evaluate("([key, token]) => localStorage.setItem(key, token)", [ACCESS_KEY, expired])
    page.reload()
    expect(page.locator("#who")).to_have_text(email)
    fresh = page.evaluate("key => localStorage.getItem(key)", ACCESS_KEY)
    assert fresh and fresh != expired
    # The refresh token rotated: the page keeps the new one, and the spent one is not kept.
    rotated = stored_token(page, REFRESH_KEY)
    assert rotated and rotated != first_refresh


def test_buy_with_toss_success_card_is_paid(page, app, demo_server, sandbox, mail_dir, tmp_path):
    sign_in(page, demo_server, mail_dir, "e2e-buyer@example.com")
    order_id = start_checkout(page, sandbox)
    pay(page, "success")

    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#message")).to_contain_text("Payment complete")
    expect(page.locator("#p-method")).to_contain_text("Card")
    expect(page.locator("#p-receipt a")).to_have_attribute("href", re.compile(rf"^{sandbox.base_url}/toss/receipt/"))
    page.screenshot(path=tmp_path / "toss-success.png", full_page=True)
    print(f"screenshot: {tmp_path / 'toss-success.png'}")

    params = query_of(page.url)
    assert params["orderId"] == order_id and params["amount"] == "13000"
    payment = stored(app, order_id)
    assert payment.status == "PAID" and payment.payment_key == params["paymentKey"] and payment.amount == 13000
    assert api_payment(page, demo_server, order_id)["status"] == "PAID"

    page.get_by_role("link", name="처음으로 Back to the start").click()
    order_link = page.locator(f"#history-rows a[href$='/demo/orders/{order_id}']")
    expect(order_link).to_be_visible()
    order_link.click()
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#p-order-id")).to_have_text(order_id)


def test_declined_in_the_checkout_lands_on_fail_and_the_order_stays_pending(page, app, demo_server, sandbox, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-decline@example.com")
    order_id = start_checkout(page, sandbox)
    pay(page, "decline")

    page.wait_for_url(f"{demo_server.url}/demo/toss/fail?*")
    expect(page.locator("#fail-code")).to_have_text("REJECT_CARD_COMPANY")
    expect(page.locator("#fail-order")).to_have_text(order_id)
    expect(page.locator("#fail-status")).to_have_text("PENDING")
    expect(page.locator("#retry")).to_be_visible()
    assert stored(app, order_id).status == "PENDING"
    assert [r for r in sandbox.requests_log() if r["operation"] == "confirm"] == []

    page.locator("#retry").click()  # the same order goes back to the checkout
    page.wait_for_url(f"{sandbox.base_url}/toss/checkout?*")
    assert query_of(page.url)["orderId"] == order_id


def test_rejected_card_then_another_card_pays_the_same_order(page, app, demo_server, sandbox, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-reject@example.com")
    order_id = start_checkout(page, sandbox)
    pay(page, "reject")

    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")
    rejected_key = query_of(page.url)["paymentKey"]
    expect(page.locator("#status")).to_have_attribute("data-status", "FAILED")
    expect(page.locator("#p-failure")).to_contain_text("REJECT_CARD_PAYMENT")
    assert stored(app, order_id).status == "FAILED"

    page.get_by_role("button", name=re.compile("Try another card")).click()
    page.wait_for_url(f"{sandbox.base_url}/toss/checkout?*")
    assert query_of(page.url)["orderId"] == order_id
    pay(page, "success")

    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    paid_key = query_of(page.url)["paymentKey"]
    assert paid_key != rejected_key
    payment = stored(app, order_id)
    assert payment.status == "PAID" and payment.payment_key == paid_key
    assert api_payment(page, demo_server, order_id)["failure"] is None


def test_a_virtual_account_is_polled_until_the_deposit_pays_it(page, app, demo_server, sandbox, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-deposit@example.com")
    order_id = start_checkout(page, sandbox)
    pay(page, "virtual_account")

    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")  # confirm answers 202: awaiting the deposit
    expect(page.locator("#status")).to_have_attribute("data-status", "PROCESSING")
    expect(page.locator("#progress-text")).to_contain_text("being processed")
    sandbox.deposit(order_id)  # the customer pays into the account; Toss tells us by webhook

    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#message")).to_contain_text("Payment complete")
    assert stored(app, order_id).status == "PAID"
