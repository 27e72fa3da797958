"""The hosted page standing in for Stripe Elements + `stripe.confirmPayment`, and receipts.

`GET /stripe/pay?client_secret=&return_url=&key=` shows the amount and the test cards;
`POST /stripe/pay` (the same fields plus `card_number`, spaces allowed) makes one payment
attempt and answers 303 to `return_url` with `payment_intent`,
`payment_intent_client_secret` and `redirect_status=succeeded|failed`, as Stripe returns
the customer after a redirect. A declined card leaves the intent payable (another card
may be tried); a card number failing the Luhn check is refused on the page, as Elements
does, without an attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request

from sandbox.state import current_sandbox
from sandbox.stripe import cards
from sandbox.stripe.api import request_id, store
from sandbox.stripe.errors import StripeError
from sandbox.stripe.events import Origin
from sandbox.stripe.money import format_amount
from sandbox.stripe.objects import REQUIRES_PAYMENT_METHOD
from sandbox.stripe.store import StateError
from sandbox.urls import is_web_url, with_query

bp = Blueprint("pay", __name__)

Page = str | tuple[str, int]


@dataclass(frozen=True)
class Checkout:
    client_secret: str
    return_url: str
    key: str
    intent: dict[str, Any]


def read_checkout(values: Mapping[str, str]) -> tuple[Checkout | None, list[str], int]:
    """The intent the merchant asked to collect, or what is wrong (with the page's status)."""
    problems: list[str] = []
    key = values.get("key", "")
    if key != current_sandbox().config.stripe_publishable_key:
        problems.append("key is not the sandbox's publishable key")
    return_url = values.get("return_url", "")
    if not is_web_url(return_url):
        problems.append("return_url must be an http(s) URL")
    client_secret = values.get("client_secret", "")
    try:
        intent = store().by_client_secret(client_secret)
    except StripeError:
        return None, [*problems, "client_secret does not belong to any PaymentIntent"], 400
    if problems:
        return None, problems, 400
    if intent["status"] != REQUIRES_PAYMENT_METHOD:
        return None, [f"This PaymentIntent's status is {intent['status']}: it cannot be paid."], 409
    return Checkout(client_secret, return_url, key, intent), [], 200


def _error_page(problems: list[str], status: int) -> tuple[str, int]:
    return render_template("stripe/error.html", problems=problems), status


def _page(checkout: Checkout, error: str | None = None, status: int = 200) -> tuple[str, int]:
    intent = checkout.intent
    amount = format_amount(intent["amount"], intent["currency"])
    page = render_template(
        "stripe/pay.html", checkout=checkout, intent=intent, amount=amount, cards=cards.TEST_CARDS, error=error
    )
    return page, status


@bp.get("/pay")
def show() -> Page:
    checkout, problems, status = read_checkout(request.args)
    return _error_page(problems, status) if checkout is None else _page(checkout)


@bp.post("/pay")
def submit() -> Response | Page:
    checkout, problems, status = read_checkout(request.form)
    if checkout is None:
        return _error_page(problems, status)
    number = cards.normalise(request.form.get("card_number", ""))
    if number is None:
        return _page(checkout, "Your card number is incorrect.", 400)
    try:
        intent = store().pay(checkout.client_secret, number, request.host_url.rstrip("/"), Origin(request_id()))
    except StateError as error:
        return _error_page([str(error)], 409)
    outcome = "succeeded" if intent["status"] == "succeeded" else "failed"
    query = {"payment_intent": intent["id"], "payment_intent_client_secret": checkout.client_secret,
             "redirect_status": outcome}  # fmt: skip
    return redirect(with_query(checkout.return_url, query), 303)


@bp.get("/receipt/<charge_id>")
def receipt(charge_id: str) -> Page:
    try:
        charge = store().get_charge(charge_id)
    except StripeError:
        return _error_page(["no such charge"], 404)
    amount = format_amount(charge["amount"], charge["currency"])
    refunded = format_amount(charge["amount_refunded"], charge["currency"])
    return render_template("stripe/receipt.html", charge=charge, amount=amount, refunded=refunded)
