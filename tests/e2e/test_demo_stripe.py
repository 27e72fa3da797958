"""A customer in Chromium buys the reading with Stripe: the sandbox's card page stands in for Elements.

The outcome reaches the service by webhook (sandbox → live_server → worker), never by the
redirect back, so every return page here waits for our API, as the customer's does.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Page, Route, expect

from chatju.extensions import db
from chatju.payments.models import Payment
from sandbox.config import SANDBOX_STRIPE_PUBLISHABLE_KEY
from tests.e2e.test_demo_browser import api_payment, query_of, sign_in
from tests.support.live import LiveServer
from tests.support.sandbox import SandboxProcess

STRIPE_BUTTON = "Pay with Stripe (USD $10.00)"
SUCCEEDS = "4242 4242 4242 4242"
INSUFFICIENT_FUNDS = "4000 0000 0000 9995"
ORDERS_KEY = "chatju.demo.orders"  # where demo.js keeps the orders this browser created


def open_stripe_checkout(page: Page, demo: LiveServer, sandbox: SandboxProcess) -> dict[str, str]:
    """The sandbox's card page for the order just created; returns its query (client_secret, key, return_url)."""
    page.wait_for_url(f"{sandbox.base_url}/stripe/pay?*")
    expect(page.locator("#amount")).to_have_text("$10.00 USD")
    params = query_of(page.url)
    assert params["key"] == SANDBOX_STRIPE_PUBLISHABLE_KEY
    assert params["return_url"] == f"{demo.url}/demo/stripe/return"
    return params


def pay(page: Page, card_number: str) -> None:
    page.locator("#card-number").fill(card_number)
    page.locator("#pay").click()


def returned(page: Page, demo: LiveServer) -> dict[str, str]:
    """Back on our return page: its query, once the page has dropped the client secret from it."""
    page.wait_for_url(f"{demo.url}/demo/stripe/return?*")
    expect(page).not_to_have_url(re.compile("payment_intent_client_secret"))
    return query_of(page.url)


def stored_by_intent(app: Flask, intent_id: str) -> Payment:
    with app.app_context():
        payment = db.session.execute(sa.select(Payment).where(Payment.payment_intent_id == intent_id)).scalar_one()
        db.session.expunge(payment)
        return payment


def kept_orders(page: Page) -> list[dict]:
    return page.evaluate("key => JSON.parse(localStorage.getItem(key))", ORDERS_KEY)


def test_buy_with_stripe_success_card_is_paid(page, app, demo_server, sandbox, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-stripe-buyer@example.com")
    page.get_by_role("button", name=STRIPE_BUTTON).click()
    checkout = open_stripe_checkout(page, demo_server, sandbox)
    pay(page, SUCCEEDS)

    params = returned(page, demo_server)
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#message")).to_contain_text("Payment complete")
    expect(page.locator("#bank-said-status")).to_have_text("succeeded")
    expect(page.locator("#p-provider")).to_have_text("Stripe")
    expect(page.locator("#p-amount")).to_have_text("US$10.00")
    expect(page.locator("#p-card")).to_have_text("visa •••• 4242")
    expect(page.locator("#p-receipt a")).to_have_attribute("href", re.compile(rf"^{sandbox.base_url}/stripe/receipt/"))
    expect(page.locator("#retry")).to_be_hidden()

    intent_id = params["payment_intent"]
    assert checkout["client_secret"].startswith(f"{intent_id}_secret_") and params["redirect_status"] == "succeeded"
    payment = stored_by_intent(app, intent_id)
    assert (payment.status, payment.amount, payment.currency) == ("PAID", 1000, "USD")
    seen = api_payment(page, demo_server, payment.order_id)
    assert seen["status"] == "PAID" and seen["provider"] == "stripe" and seen["clientSecret"] is None

    # A browser that did not keep the order (storage cleared, another device) finds it in the history.
    kept = kept_orders(page)
    page.evaluate("key => localStorage.removeItem(key)", ORDERS_KEY)
    with page.expect_response(re.compile(r"/payment/history/me\?provider=stripe")) as history:
        page.reload()
    assert history.value.status == 200
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#p-order-id")).to_have_text(payment.order_id)
    page.evaluate("([key, kept]) => localStorage.setItem(key, JSON.stringify(kept))", [ORDERS_KEY, kept])

    page.get_by_role("link", name="처음으로 Back to the start").click()
    row = page.locator(f"#history-rows tr[data-order-id='{payment.order_id}']")
    expect(row.locator(".item")).to_contain_text("Stripe")
    expect(row.locator(".amount")).to_have_text("US$10.00")
    expect(row.locator(".status")).to_have_attribute("data-status", "PAID")
    order_link = row.locator(f"a[href$='/demo/orders/{payment.order_id}']")
    order_link.click()
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#p-order-id")).to_have_text(payment.order_id)
    expect(page.locator("#retry")).to_be_hidden()


def test_insufficient_funds_fails_then_another_card_pays_the_same_intent(page, app, demo_server, sandbox, mail_dir):
    sign_in(page, demo_server, mail_dir, "e2e-stripe-decline@example.com")
    page.get_by_role("button", name=STRIPE_BUTTON).click()
    checkout = open_stripe_checkout(page, demo_server, sandbox)
    pay(page, INSUFFICIENT_FUNDS)

    intent_id = returned(page, demo_server)["payment_intent"]
    expect(page.locator("#status")).to_have_attribute("data-status", "FAILED")
    expect(page.locator("#bank-said-status")).to_have_text("failed")
    expect(page.locator("#f-code")).to_have_text("card_declined")
    expect(page.locator("#f-decline-code")).to_have_text("insufficient_funds")
    expect(page.locator("#f-message")).to_have_text("Your card has insufficient funds.")
    expect(page.locator("#message")).to_contain_text("card_declined (insufficient_funds)")
    payment = stored_by_intent(app, intent_id)
    assert (payment.status, payment.failure_decline_code) == ("FAILED", "insufficient_funds")

    page.get_by_role("button", name=re.compile("Try another card")).click()
    again = open_stripe_checkout(page, demo_server, sandbox)
    assert again["client_secret"] == checkout["client_secret"]  # the same intent, another card
    expect(page.locator("#last-error")).to_contain_text("insufficient funds")
    pay(page, SUCCEEDS)

    assert returned(page, demo_server)["payment_intent"] == intent_id
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    expect(page.locator("#message")).to_contain_text("Payment complete")
    expect(page.locator("#stripe-failure")).to_be_hidden()
    assert stored_by_intent(app, intent_id).status == "PAID"
    assert api_payment(page, demo_server, payment.order_id)["failure"] is None


def test_an_intent_stripe_is_slow_to_create_is_waited_for(page, demo_server, demo_settings, sandbox, mail_dir):
    demo_settings(payment_sync_wait_seconds=0)  # create answers 202 before the worker has the intent
    sandbox.fault("stripe", mode="timeout", seconds=0.5, operation="create_intent")  # which takes a while
    sign_in(page, demo_server, mail_dir, "e2e-stripe-slow@example.com")
    with page.expect_response(re.compile(r"/payment/stripe/create$")) as created:
        page.get_by_role("button", name=STRIPE_BUTTON).click()
    assert created.value.status == 202 and created.value.json()["clientSecret"] is None
    expect(page.locator("#message")).to_contain_text("Waiting for Stripe")
    open_stripe_checkout(page, demo_server, sandbox)
    pay(page, SUCCEEDS)

    returned(page, demo_server)  # the order is found by the intent id kept once it appeared
    expect(page.locator("#status")).to_have_attribute("data-status", "PAID")
    [order] = kept_orders(page)
    assert order["paymentIntentId"].startswith("pi_") and "clientSecret" not in order


# Stripe.js cannot be loaded here: a stand-in records how the page uses it.
FAKE_STRIPE_JS = """
window.stripeCalls = [];
window.Stripe = (key) => {
  stripeCalls.push(["Stripe", key]);
  return {
    elements(options) {
      stripeCalls.push(["elements", options]);
      return {
        create(type) {
          stripeCalls.push(["create", type]);
          return { mount(selector) { stripeCalls.push(["mount", selector]); } };
        },
      };
    },
    async confirmPayment({ elements, confirmParams }) {
      stripeCalls.push(["confirmPayment", { elements: Boolean(elements), confirmParams }]);
      return { error: { type: "card_error", message: "Your card was declined." } };
    },
  };
};
"""


def test_with_real_stripe_keys_the_payment_element_is_mounted(page, demo_server, demo_settings, mail_dir):
    key = "pk_test_realMerchantKey000"
    demo_settings(stripe_publishable_key=key)

    def stripe_js(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=FAKE_STRIPE_JS)

    page.route("https://js.stripe.com/v3/", stripe_js)
    sign_in(page, demo_server, mail_dir, "e2e-stripe-elements@example.com")
    page.get_by_role("button", name=STRIPE_BUTTON).click()
    expect(page.locator("#stripe-checkout")).to_be_visible()
    expect(page.locator("#message")).to_contain_text("Enter your card below")
    page.locator("#stripe-submit").click()
    expect(page.locator("#stripe-error")).to_have_text("Your card was declined.")

    [order] = kept_orders(page)
    client_secret = api_payment(page, demo_server, order["orderId"])["clientSecret"]
    return_url = f"{demo_server.url}/demo/stripe/return"
    assert page.evaluate("window.stripeCalls") == [
        ["Stripe", key],
        ["elements", {"clientSecret": client_secret}],
        ["create", "payment"],
        ["mount", "#payment-element"],
        ["confirmPayment", {"elements": True, "confirmParams": {"return_url": return_url}}],
    ]
