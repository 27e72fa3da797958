"""The measured blocks of docs/performance.md, which `make bench` rewrites between their markers."""

from __future__ import annotations

import re


class MissingMarkers(ValueError):
    """The document has no block of that name to rewrite."""


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def replace_block(document: str, name: str, content: str) -> str:
    """The document with block `name`'s content replaced; everything outside the markers kept as it was."""
    begin, end = markers(name)
    pattern = re.compile(rf"({re.escape(begin)}\n).*?(\n{re.escape(end)})", re.DOTALL)
    if len(pattern.findall(document)) != 1:
        raise MissingMarkers(f"expected one {begin} ... {end} block in the document")
    return pattern.sub(lambda found: f"{found.group(1)}{content.strip()}{found.group(2)}", document)
