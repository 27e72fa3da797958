"""The rest of the customer's journey in Chromium: history, cancel, sign out, and success pages that never pay twice."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Locator, Page, Request, expect

from chatju.extensions import db
from chatju.payments.models import PaymentEvent
from tests.e2e.test_demo_browser import (
    ACCESS_KEY,
    REFRESH_KEY,
    bearer,
    me_status,
    pay,
    sign_in,
    start_checkout,
    stored,
    stored_token,
)
from tests.support.live import LiveServer
from tests.support.sandbox import SandboxProcess

PAGE_SIZE = 10  # demo.js HISTORY_PAGE


def create_order(demo: LiveServer, token: str, gateway: str = "toss", **body: object) -> dict:
    body = body or {"productId": "premium_reading"}
    headers = bearer(token) if not token.startswith("Bearer ") else {"Authorization": token}
    response = requests.post(f"{demo.url}/payment/{gateway}/create", json=body, headers=headers, timeout=15)
    assert response.status_code == 201, response.text
    return response.json()


def row(page: Page, order_id: str) -> Locator:
    return page.locator(f"#history-rows tr[data-order-id='{order_id}']")


def paid_events(app: Flask, order_id: str) -> list[PaymentEvent]:
    payment = stored(app, order_id)
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(PaymentEvent).where(PaymentEvent.payment_id == payment.id, PaymentEvent.to_status == "PAID")
            ).scalars()
        )


def confirms_at_toss(sandbox: SandboxProcess) -> list[dict]:
    return [r for r in sandbox.requests_log() if r["operation"] == "confirm"]


def watch_confirms(page: Page) -> list[str]:
    """The confirm calls this page makes, across reloads."""
    sent: list[str] = []

    def note(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/payment/toss/confirm"):
            sent.append(request.url)

    page.on("request", note)
    return sent


def watch_origins(page: Page) -> set[str]:
    """Every origin the page loads anything from (scripts, styles, fonts, API calls, frames)."""
    origins: set[str] = set()
    page.on("request", lambda request: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(request.url))))
    return origins


def test_history_shows_the_accounts_orders_a_page_at_a_time(
    page, app, demo_server, sandbox, mail_dir, make_user, auth_headers
):
    sign_in(page, demo_server, mail_dir, "e2e-history@example.com")
    paid = start_checkout(page, sandbox)
    pay(page, "success")
    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")

    token = stored_token(page, ACCESS_KEY)
    yen = create_order(demo_server, token, "stripe", amount=1500, currency="jpy")
    dollars = create_order(demo_server, token, "stripe", productId="premium_reading", currency="USD")
    pending = [create_order(demo_server, token)["orderId"] for _ in range(PAGE_SIZE - 2)]
    someone_else = auth_headers(make_user("e2e-history-other@example.com"))["Authorization"]
    others = create_order(demo_server, someone_else)["orderId"]

    page.goto(f"{demo_server.url}/demo/")
    rows = page.locator("#history-rows tr")
    expect(rows).to_have_count(PAGE_SIZE)
    # Newest first: the last order made heads the list; the paid one is on the next page.
    expect(rows.first).to_have_attribute("data-order-id", pending[-1])
    expect(row(page, paid)).to_have_count(0)
    expect(row(page, others)).to_have_count(0)

    with page.expect_response(re.compile(r"/payment/history/me\?limit=10&cursor=")) as more:
        page.get_by_role("button", name="더 보기 Show more").click()
    assert more.value.status == 200 and more.value.json()["nextCursor"] is None
    expect(rows).to_have_count(PAGE_SIZE + 1)
    expect(page.get_by_role("button", name="더 보기 Show more")).to_be_hidden()
    expect(row(page, others)).to_have_count(0)  # only the account's own orders

    # Each row: the date, the item, the amount in its currency's own units, the status in words.
    won = row(page, paid)
    expect(won.locator(".amount")).to_have_text("₩13,000")
    expect(won.locator(".status")).to_have_attribute("data-status", "PAID")
    expect(won.locator(".status")).to_have_text("결제 완료 Paid")
    expect(won.locator(".date")).to_contain_text(str(stored(app, paid).created_at.year))
    expect(won.locator(".item")).to_contain_text("토스 Toss")
    receipt = won.get_by_role("link", name="영수증 보기 View receipt")
    expect(receipt).to_have_attribute("href", re.compile(rf"^{sandbox.base_url}/toss/receipt/"))
    expect(won.get_by_role("button", name="취소 Cancel")).to_have_count(0)  # a paid order is not canceled here
    expect(row(page, yen["orderId"]).locator(".amount")).to_have_text("JP¥1,500")
    expect(row(page, dollars["orderId"]).locator(".amount")).to_have_text("US$10.00")
    pending_row = row(page, pending[0])
    expect(pending_row.locator(".status")).to_have_text("결제 대기 Awaiting payment")
    expect(pending_row.get_by_role("button", name="취소 Cancel")).to_be_visible()
    expect(pending_row.get_by_role("link", name="영수증 보기 View receipt")).to_have_count(0)


def test_cancel_a_pending_order_from_the_history_and_from_its_page(page, app, demo_server, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-cancel@example.com")
    token = stored_token(page, ACCESS_KEY)
    first, second, third = (create_order(demo_server, token)["orderId"] for _ in range(3))
    page.reload()

    row(page, first).get_by_role("button", name="취소 Cancel").click()
    expect(row(page, first).locator(".status")).to_have_attribute("data-status", "CANCELED")
    expect(row(page, first).locator(".status")).to_have_text("취소됨 Canceled")
    expect(row(page, first).get_by_role("button", name="취소 Cancel")).to_have_count(0)
    expect(page.locator("#message")).to_contain_text("The order is canceled")
    assert stored(app, first).status == "CANCELED"
    assert stored(app, second).status == "PENDING"  # only the one clicked

    # The order moved on behind the page's back: the cancel is refused, said, and the row shows the truth.
    gone = requests.post(f"{demo_server.url}/payment/{second}/cancel", headers=bearer(token), timeout=10)
    assert gone.status_code == 200
    with page.expect_response(re.compile(rf"/payment/{second}/cancel$")) as refused:
        row(page, second).get_by_role("button", name="취소 Cancel").click()
    assert refused.value.status == 409 and refused.value.json()["error"]["code"] == "INVALID_STATE"
    expect(page.locator("#message")).to_contain_text("can no longer be canceled")
    expect(row(page, second).locator(".status")).to_have_attribute("data-status", "CANCELED")

    page.goto(f"{demo_server.url}/demo/orders/{third}")
    expect(page.locator("#status")).to_have_attribute("data-status", "PENDING")
    page.get_by_role("button", name=re.compile("Cancel the order")).click()
    expect(page.locator("#status")).to_have_attribute("data-status", "CANCELED")
    expect(page.locator("#cancel")).to_be_hidden()
    expect(page.locator("#retry")).to_be_hidden()  # a canceled order is not paid from here
    assert stored(app, third).status == "CANCELED"


def test_sign_out_ends_the_sign_in_and_hides_the_account(page, demo_server, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-sign-out@example.com")
    create_order(demo_server, stored_token(page, ACCESS_KEY))
    page.reload()
    expect(page.locator("#history-rows tr")).to_have_count(1)
    access, refresh = stored_token(page, ACCESS_KEY), stored_token(page, REFRESH_KEY)

    page.get_by_role("link", name="로그아웃 Sign out", exact=True).click()
    expect(page.locator("#sign-in-form")).to_be_visible()
    expect(page.locator("#signed-in")).to_be_hidden()
    assert page.evaluate("keys => keys.map((key) => localStorage.getItem(key))", [ACCESS_KEY, REFRESH_KEY]) == [
        None,
        None,
    ]
    page.reload()
    expect(page.locator("#sign-in-form")).to_be_visible()
    expect(page.locator("#history")).to_be_hidden()
    # Ended on the server too: neither token works any more.
    assert me_status(demo_server, access) == 401
    refreshed = requests.post(f"{demo_server.url}/auth/refresh", headers=bearer(refresh), timeout=10)
    assert refreshed.status_code == 401


def test_reloading_a_success_page_never_confirms_twice(page, browser, app, demo_server, sandbox, mail_dir):
    origins = watch_origins(page)
    sent = watch_confirms(page)
    sign_in(page, demo_server, mail_dir, "e2e-reload@example.com")
    order_id = start_checkout(page, sandbox)
    sandbox.fault("toss", latency_ms=1200)  # a confirm that takes a while, to look at the page meanwhile
    pay(page, "success")

    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress-text")).to_contain_text("Confirming the payment")
    assert page.locator("button:visible").count() == 0  # nothing to click twice while it runs
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#progress")).to_be_hidden()
    sandbox.clear_faults()
    assert len(sent) == 1

    page.reload()
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#message")).to_contain_text("Payment complete")
    # The same address in another tab of this browser, and in a fresh one signed in as the same customer.
    second_tab = page.context.new_page()
    second_sent = watch_confirms(second_tab)
    second_tab.goto(page.url)
    expect(second_tab.locator("#status")).to_have_attribute("data-status", "PAID")
    second_tab.close()

    assert len(sent) == 1 and second_sent == []
    assert len(confirms_at_toss(sandbox)) == 1
    assert len(paid_events(app, order_id)) == 1
    # Offline with the sandbox keys: nothing came from anywhere but the app and the sandbox.
    assert origins <= {demo_server.url, sandbox.base_url}, origins


def test_reloading_a_refused_success_page_offers_another_card_without_confirming_again(
    page, app, demo_server, sandbox, mail_dir
):
    sent = watch_confirms(page)
    sign_in(page, demo_server, mail_dir, "e2e-reload-refused@example.com")
    order_id = start_checkout(page, sandbox)
    pay(page, "reject")
    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")
    expect(page.locator("#status")).to_have_attribute("data-status", "FAILED")

    page.reload()
    expect(page.locator("#status")).to_have_attribute("data-status", "FAILED")
    expect(page.locator("#p-failure")).to_contain_text("REJECT_CARD_PAYMENT")
    expect(page.get_by_role("button", name=re.compile("Try another card"))).to_be_visible()
    assert len(sent) == 1 and len(confirms_at_toss(sandbox)) == 1
    assert stored(app, order_id).status == "FAILED"


def test_reloading_while_a_deposit_is_awaited_polls_without_confirming(page, app, demo_server, sandbox, mail_dir):
    sent = watch_confirms(page)
    sign_in(page, demo_server, mail_dir, "e2e-reload-deposit@example.com")
    order_id = start_checkout(page, sandbox)
    pay(page, "virtual_account")
    page.wait_for_url(f"{demo_server.url}/demo/toss/success?*")
    expect(page.locator("#status")).to_have_attribute("data-status", "PROCESSING")

    page.reload()
    expect(page.locator("#status")).to_have_attribute("data-status", "PROCESSING")
    expect(page.locator("#progress-text")).to_contain_text("being processed")
    sandbox.deposit(order_id)
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#progress")).to_be_hidden()
    assert len(sent) == 1 and len(confirms_at_toss(sandbox)) == 1
    assert len(paid_events(app, order_id)) == 1


def test_a_checkout_toss_does_not_know_is_confirmed_once_then_offered_again(page, app, demo_server, sandbox, mail_dir):
    sent = watch_confirms(page)
    sign_in(page, demo_server, mail_dir, "e2e-reload-unknown@example.com")
    order_id = start_checkout(page, sandbox)
    # A success address whose key Toss never issued (forged, or older than Toss keeps it).
    page.goto(f"{demo_server.url}/demo/toss/success?paymentKey=tsbx_never_issued_000&orderId={order_id}&amount=13000")
    expect(page.locator("#message")).to_contain_text("please pay again")
    expect(page.locator("#message")).to_contain_text("NOT_FOUND_PAYMENT")
    expect(page.locator("#progress")).to_be_hidden()
    assert stored(app, order_id).status == "PENDING"  # left as it was

    page.reload()
    expect(page.locator("#message")).to_contain_text("you can pay again")
    expect(page.locator("#status")).to_have_attribute("data-status", "PENDING")
    page.get_by_role("button", name="다시 결제 (Pay again)").click()  # the same order, back to the checkout
    page.wait_for_url(f"{sandbox.base_url}/toss/checkout?*")
    assert len(sent) == 1 and len(confirms_at_toss(sandbox)) == 1
