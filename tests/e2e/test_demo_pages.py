"""The demo pages over HTTP, without a browser: their CSP, their checkout setting, their absence in production."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask

from chatju import create_app
from sandbox.config import SANDBOX_STRIPE_PUBLISHABLE_KEY

PAGES = [
    "/demo/",
    "/demo/auth/verify?token=x",
    "/demo/toss/success",
    "/demo/toss/fail",
    "/demo/stripe/return?payment_intent=pi_x&redirect_status=succeeded",
    "/demo/orders/ord_x",
]
STRIPE_JS = "https://js.stripe.com https://*.js.stripe.com"


def page_config(html: str) -> dict:
    match = re.search(r"data-config='([^']*)'", html)
    assert match, html
    return json.loads(match.group(1))


def directives(csp: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in csp.split(";"))


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_html_with_a_strict_policy_and_the_sandbox_checkouts(client, sandbox, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "default-src 'none'" in csp
    assert "connect-src 'self';" in csp and "frame-src 'none';" in csp
    assert "unsafe-inline" not in csp and "tosspayments" not in csp and "stripe.com" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    config = page_config(response.get_data(as_text=True))
    assert config["tossCheckout"] == {"mode": "sandbox", "url": f"{sandbox.toss_api_base}/checkout"}
    assert config["stripeCheckout"] == {"mode": "sandbox", "url": f"{sandbox.stripe_api_base}/pay"}
    assert config["stripePublishableKey"] == SANDBOX_STRIPE_PUBLISHABLE_KEY
    assert config["stripeReturn"] == "/demo/stripe/return"


def test_pages_have_no_inline_script_or_handlers(client):
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], path
        assert re.findall(r"\son[a-z]+=", html) == [], path


def test_real_toss_keys_mean_the_toss_sdk_and_a_policy_that_allows_it(test_env):
    app = create_app({**test_env, "TOSS_CLIENT_KEY": "test_ck_realMerchantKey000", "TOSS_SECRET_KEY": "test_sk_x"})
    response = app.test_client().get("/demo/")
    assert page_config(response.get_data(as_text=True))["tossCheckout"] == {"mode": "toss"}
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' https://js.tosspayments.com;" in csp
    assert "frame-src https://*.tosspayments.com;" in csp


def test_real_stripe_keys_mean_stripe_elements_and_a_policy_that_allows_it(test_env):
    app = create_app({**test_env, "STRIPE_PUBLISHABLE_KEY": "pk_test_realMerchantKey000"})
    response = app.test_client().get("/demo/stripe/return")
    config = page_config(response.get_data(as_text=True))
    assert config["stripeCheckout"] == {"mode": "stripe"} and config["tossCheckout"]["mode"] == "sandbox"
    assert config["stripePublishableKey"] == "pk_test_realMerchantKey000"
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == f"'self' {STRIPE_JS}"
    assert policy["frame-src"] == f"{STRIPE_JS} https://hooks.stripe.com"
    assert policy["connect-src"] == "'self' https://api.stripe.com"
    assert policy["style-src"] == "'self'" and policy["img-src"] == "'self'" and policy["default-src"] == "'none'"


def test_real_keys_of_both_gateways_allow_both(test_env):
    real = {"TOSS_CLIENT_KEY": "test_ck_realMerchantKey000", "TOSS_SECRET_KEY": "test_sk_x"}
    app = create_app({**test_env, **real, "STRIPE_PUBLISHABLE_KEY": "pk_test_realMerchantKey000"})
    policy = directives(app.test_client().get("/demo/").headers["Content-Security-Policy"])
    assert policy["script-src"] == f"'self' https://js.tosspayments.com {STRIPE_JS}"
    assert policy["frame-src"] == f"https://*.tosspayments.com {STRIPE_JS} https://hooks.stripe.com"
    assert policy["connect-src"] == "'self' https://*.tosspayments.com https://api.stripe.com"


def test_static_files_are_served(client):
    response = client.get("/demo/static/demo.js")
    assert response.status_code == 200 and "javascript" in response.mimetype
    response.close()


@pytest.fixture(scope="module")
def production_app(test_env) -> Flask:
    """The test app with production's settings, past the start-up guard (which needs real keys)."""
    app = create_app(test_env)
    app.extensions["chatju.settings"] = app.extensions["chatju.settings"].model_copy(update={"env": "production"})
    return app


@pytest.mark.parametrize("path", [*PAGES, "/demo/static/demo.js", "/demo/static/demo.css"])
def test_in_production_every_demo_url_is_a_404(production_app, path):
    response = production_app.test_client().get(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_the_root_leads_to_the_demo_outside_production(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/demo/"
    followed = client.get("/", follow_redirects=True)
    assert followed.status_code == 200 and followed.request.path == "/demo/"
    refused = client.post("/")
    assert refused.status_code == 405 and refused.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"


# What production refuses to start without, none of it a development default; nothing is contacted at start.
PRODUCTION = {
    "CHATJU_ENV": "production",
    "JWT_SECRET_KEY": "k" * 48,
    "DATABASE_URL": "postgresql://chatju@127.0.0.1:1/chatju",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "MAIL_URL": "smtp://127.0.0.1:1",
    "TOSS_CLIENT_KEY": "live_ck_abcdefghijklmnop",
    "TOSS_SECRET_KEY": "live_sk_abcdefghijklmnop",
}


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_in_production_the_root_is_a_json_404(tmp_path, method):
    app = create_app({**PRODUCTION, "CHATJU_INSTANCE_DIR": str(tmp_path)})
    response = app.test_client().open("/", method=method)
    assert response.status_code == 404 and response.mimetype == "application/json"
    if method != "HEAD":
        assert response.get_json()["error"]["code"] == "NOT_FOUND"
    assert "Location" not in response.headers
