"""Which checkouts the demo hands an order to, and the Content-Security-Policy they need."""

from __future__ import annotations

from typing import Any

from chatju.config import DEVELOPMENT_STRIPE_PUBLISHABLE_KEY, DEVELOPMENT_TOSS_CLIENT_KEY, Settings

# Toss's v2 standard SDK (https://docs.tosspayments.com/sdk/v2/js) is served from this origin;
# the payment window it opens, and the calls it makes, are on Toss's other hosts.
TOSS_SDK_ORIGIN = "https://js.tosspayments.com"
TOSS_ORIGINS = "https://*.tosspayments.com"

# Stripe.js and the Payment Element, as Stripe's integration security guide lists them
# (https://docs.stripe.com/security/guide#content-security-policy): the script and its
# frames from js.stripe.com (and its subdomains), 3D Secure and redirect frames from
# hooks.stripe.com, API calls to api.stripe.com. (maps.googleapis.com is only for the
# Address Element's autocomplete, which the demo does not use.)
STRIPE_SCRIPTS = "https://js.stripe.com https://*.js.stripe.com"
STRIPE_FRAMES = "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
STRIPE_API = "https://api.stripe.com"


def toss_checkout(settings: Settings) -> dict[str, Any]:
    """The sandbox's hosted checkout with the sandbox's key, else Toss's payment window."""
    if settings.toss_client_key == DEVELOPMENT_TOSS_CLIENT_KEY:
        return {"mode": "sandbox", "url": f"{settings.toss_api_base}/checkout"}
    return {"mode": "toss"}


def stripe_checkout(settings: Settings) -> dict[str, Any]:
    """The sandbox's hosted card page with the sandbox's key, else Stripe Elements."""
    if settings.stripe_publishable_key == DEVELOPMENT_STRIPE_PUBLISHABLE_KEY:
        return {"mode": "sandbox", "url": f"{settings.stripe_api_base}/pay"}
    return {"mode": "stripe"}


def content_security_policy(toss: dict[str, Any], stripe: dict[str, Any]) -> str:
    """Our own scripts and styles only; plus what Toss's SDK and Stripe.js need in their real modes."""
    scripts, frames, connect, images = ["'self'"], [], ["'self'"], ["'self'"]
    if toss["mode"] == "toss":
        scripts.append(TOSS_SDK_ORIGIN)
        frames.append(TOSS_ORIGINS)
        connect.append(TOSS_ORIGINS)
        images += ["data:", TOSS_ORIGINS]
    if stripe["mode"] == "stripe":
        scripts.append(STRIPE_SCRIPTS)
        frames.append(STRIPE_FRAMES)
        connect.append(STRIPE_API)
    directives = {
        "default-src": "'none'",
        "script-src": " ".join(scripts),
        "style-src": "'self'",
        "img-src": " ".join(images),
        "connect-src": " ".join(connect),
        "frame-src": " ".join(frames) or "'none'",
        "form-action": "'self'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())
