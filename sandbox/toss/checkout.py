"""The hosted checkout standing in for the payment widget's `requestPayment`, and receipts.

`GET /toss/checkout?clientKey=&customerKey=&orderId=&orderName=&amount=&successUrl=&failUrl=`
shows the order and the test cards; `POST /toss/checkout` (the same fields plus `card`)
answers 303 to successUrl (`paymentType, orderId, paymentKey, amount`) or to failUrl
(`code, message, orderId`), as Toss redirects the browser (reference §6).

Test cards: success (approved at confirm), decline (refused inside the checkout: the
customer goes to failUrl with REJECT_CARD_COMPANY and no payment is created, as with a
real card refused in the widget), reject (authenticates, then confirm answers 403
REJECT_CARD_PAYMENT), virtual_account (confirm issues an account waiting for deposit);
`card=cancel` (or `action=cancel`) is the customer closing the checkout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint, Response, redirect, render_template, request

from sandbox.state import current_sandbox
from sandbox.toss.api import store
from sandbox.toss.errors import TossError, message_for
from sandbox.toss.payments import CARD, REJECT, VIRTUAL_ACCOUNT
from sandbox.urls import is_web_url, with_query

bp = Blueprint("checkout", __name__)

ORDER_ID = re.compile(r"[A-Za-z0-9_=-]{6,64}")
CUSTOMER_KEY = re.compile(r"[A-Za-z0-9_=.@-]{2,300}")
CARDS = (
    (CARD, "정상 승인 (success)"),
    ("decline", "카드사 거절 (decline: refused in the checkout)"),
    (REJECT, "승인 시 거절 (reject: refused at confirm, REJECT_CARD_PAYMENT)"),
    (VIRTUAL_ACCOUNT, "가상계좌 (virtual account: deposit later)"),
)


@dataclass(frozen=True)
class CheckoutOrder:
    customer_key: str | None
    order_id: str
    order_name: str
    amount: int
    success_url: str
    fail_url: str


def read_order(values: Mapping[str, str]) -> tuple[CheckoutOrder | None, list[str]]:
    """The order the merchant asked to pay for, or what is wrong with it."""
    problems: list[str] = []
    if values.get("clientKey", "") != current_sandbox().config.toss_client_key:
        problems.append("clientKey is not the sandbox's client key")
    customer_key = values.get("customerKey", "").strip() or None
    if customer_key is not None and not CUSTOMER_KEY.fullmatch(customer_key):
        problems.append("customerKey must be 2-300 characters of A-Z a-z 0-9 - _ = . @")
    order_id = values.get("orderId", "")
    if not ORDER_ID.fullmatch(order_id):
        problems.append("orderId must be 6-64 characters of A-Z a-z 0-9 - _ =")
    order_name = values.get("orderName", "")
    if not 1 <= len(order_name.strip()) <= 100 or len(order_name) > 100:
        problems.append("orderName must be 1-100 characters")
    raw_amount = values.get("amount", "").strip()
    if not raw_amount.isascii() or not raw_amount.isdigit() or int(raw_amount) <= 0:
        problems.append("amount must be a positive integer")
    urls = {name: values.get(name, "") for name in ("successUrl", "failUrl")}
    problems += [f"{name} must be an http(s) URL" for name, url in urls.items() if not is_web_url(url)]
    if problems:
        return None, problems
    order = CheckoutOrder(customer_key, order_id, order_name, int(raw_amount), urls["successUrl"], urls["failUrl"])
    return order, []


def _fail(order: CheckoutOrder, code: str) -> Response:
    location = with_query(order.fail_url, {"code": code, "message": message_for(code), "orderId": order.order_id})
    return redirect(location, 303)


def _error_page(problems: list[str]) -> tuple[str, int]:
    return render_template("toss/error.html", problems=problems), 400


@bp.get("/checkout")
def show() -> str | tuple[str, int]:
    order, problems = read_order(request.args)
    if order is None:
        return _error_page(problems)
    return render_template("toss/checkout.html", order=order, fields=request.args, cards=CARDS)


@bp.post("/checkout")
def submit() -> Response | tuple[str, int]:
    order, problems = read_order(request.form)
    if order is None:
        return _error_page(problems)
    card = "cancel" if request.form.get("action") == "cancel" else request.form.get("card", CARD)
    if card == "cancel":
        return _fail(order, "PAY_PROCESS_CANCELED")
    if card == "decline":
        return _fail(order, "REJECT_CARD_COMPANY")
    if card not in (CARD, REJECT, VIRTUAL_ACCOUNT):
        return _error_page([f"card must be one of success, decline, reject, virtual_account, cancel; got {card!r}"])
    try:
        payment_key = store().authorize(
            order_id=order.order_id, order_name=order.order_name, amount=order.amount,
            customer_key=order.customer_key, card_choice=card, base_url=request.host_url.rstrip("/"),
        )  # fmt: skip
    except TossError as error:
        return _fail(order, error.code)
    params = {"paymentType": "NORMAL", "orderId": order.order_id, "paymentKey": payment_key, "amount": order.amount}
    return redirect(with_query(order.success_url, params), 303)


@bp.get("/receipt/<payment_key>")
def receipt(payment_key: str) -> str | tuple[str, int]:
    try:
        payment = store().get(payment_key)
    except TossError:
        return render_template("toss/error.html", problems=["no such payment"]), 404
    return render_template("toss/receipt.html", payment=payment)
