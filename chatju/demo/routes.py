"""The demo pages: HTML shells that `static/demo.js` fills in from the JSON API.

The pages carry no data of their own beyond the page name and the settings the
script needs (`data-` attributes); everything else comes from the API with the
browser's own tokens, as a real frontend would get it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from chatju.demo.checkout import content_security_policy, stripe_checkout, toss_checkout
from chatju.settings import current_settings

bp = Blueprint("demo", __name__, url_prefix="/demo", template_folder="templates", static_folder="static")
# The site's root, registered outside production only (production has no page at `/`: a JSON 404).
root = Blueprint("root", __name__)


@root.get("/")
def home() -> BaseResponse:
    """The way in for someone who opens the address `make run` printed: the demo."""
    return redirect(url_for("demo.index"))


@bp.before_request
def _not_in_production() -> None:
    # A demo is not a storefront: in production every /demo URL, static files included, is a 404.
    if current_settings().is_production:
        abort(404)


@bp.after_request
def _content_security_policy(response: Response) -> Response:
    settings = current_settings()
    response.headers["Content-Security-Policy"] = content_security_policy(
        toss_checkout(settings), stripe_checkout(settings)
    )
    return response


def _page(name: str, **context: Any) -> str:
    settings = current_settings()
    config = {
        "apiBase": request.script_root,
        "home": url_for("demo.index"),
        "tossCheckout": toss_checkout(settings),
        "stripeCheckout": stripe_checkout(settings),
        # Also in the create answer; here for an order whose create answered 202 (no key in it).
        "stripePublishableKey": settings.stripe_publishable_key,
        "stripeReturn": url_for("demo.stripe_return"),
    }
    return render_template(
        f"demo/{name}.html",
        page=name,
        config=config,
        mail_url=settings.mail_url,
        link_minutes=max(settings.magic_link_seconds // 60, 1),
        **context,
    )


@bp.get("/")
def index() -> str:
    return _page("index")


@bp.get("/auth/verify")
def verify() -> str:
    return _page("verify")


@bp.get("/toss/success")
def toss_success() -> str:
    return _page("success")


@bp.get("/toss/fail")
def toss_fail() -> str:
    return _page("fail")


@bp.get("/stripe/return")
def stripe_return() -> str:
    return _page("stripe_return")


@bp.get("/orders/<order_id>")
def order(order_id: str) -> str:
    return _page("order", order_id=order_id)
