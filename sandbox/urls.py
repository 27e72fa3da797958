"""Redirect URLs of the hosted pages (Toss's successUrl/failUrl, Stripe's return_url)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def with_query(url: str, params: Mapping[str, str | int]) -> str:
    """`url` with `params` appended to its query string (`?` or `&`), fragment kept."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))
