"""make bench rewrites only the measured blocks of docs/performance.md."""

from __future__ import annotations

import pytest

from bench.report import MissingMarkers, markers, replace_block
from bench.stack import ROOT

DOCUMENT = """# Performance

Written by hand.

<!-- bench:checkout -->
old figures
<!-- /bench:checkout -->

What the profile shows, also by hand.
"""


def test_only_the_named_block_changes() -> None:
    written = replace_block(DOCUMENT, "checkout", "| new | table |\n")
    assert "old figures" not in written
    assert "<!-- bench:checkout -->\n| new | table |\n<!-- /bench:checkout -->" in written
    assert written.replace("| new | table |", "old figures") == DOCUMENT


def test_rewriting_twice_keeps_one_block() -> None:
    once = replace_block(DOCUMENT, "checkout", "first")
    twice = replace_block(once, "checkout", "second")
    assert twice.count("<!-- bench:checkout -->") == 1 and "first" not in twice and "second" in twice


def test_a_missing_or_doubled_block_is_refused() -> None:
    with pytest.raises(MissingMarkers):
        replace_block(DOCUMENT, "webhooks", "x")
    with pytest.raises(MissingMarkers):
        replace_block(DOCUMENT + DOCUMENT, "checkout", "x")


@pytest.mark.parametrize("name", ["webhooks", "processing", "checkout", "history"])
def test_the_performance_document_has_every_block(name: str) -> None:
    document = (ROOT / "docs" / "performance.md").read_text()
    begin, end = markers(name)
    assert document.count(begin) == 1 and document.count(end) == 1
    assert document.index(begin) < document.index(end)
