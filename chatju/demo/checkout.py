"""Which checkout the demo hands an order to, and the Content-Security-Policy that needs."""

from __future__ import annotations

from typing import Any

from chatju.config import SANDBOX_TOSS_CLIENT_KEY, Settings

# Toss's v2 standard SDK (https://docs.tosspayments.com/sdk/v2/js) is served from this origin;
# the payment window it opens, and the calls it makes, are on Toss's other hosts.
TOSS_SDK_ORIGIN = "https://js.tosspayments.com"
TOSS_ORIGINS = "https://*.tosspayments.com"


def toss_checkout(settings: Settings) -> dict[str, Any]:
    """The sandbox's hosted checkout with the sandbox's key, else Toss's payment window."""
    if settings.toss_client_key == SANDBOX_TOSS_CLIENT_KEY:
        return {"mode": "sandbox", "url": f"{settings.toss_api_base}/checkout"}
    return {"mode": "toss"}


def content_security_policy(checkout: dict[str, Any]) -> str:
    """Our own scripts and styles only; in toss mode also the SDK and the payment window it opens."""
    toss = checkout["mode"] == "toss"
    directives = {
        "default-src": "'none'",
        "script-src": f"'self' {TOSS_SDK_ORIGIN}" if toss else "'self'",
        "style-src": "'self'",
        "img-src": f"'self' data: {TOSS_ORIGINS}" if toss else "'self'",
        "connect-src": f"'self' {TOSS_ORIGINS}" if toss else "'self'",
        "frame-src": TOSS_ORIGINS if toss else "'none'",
        "form-action": "'self'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())
