"""Stripe's search query language, the part that fits PaymentIntents in the sandbox.

https://docs.stripe.com/search#search-query-language. Supported: clauses
`field:value` joined by `AND` or by `OR` (not both), at most 10, each optionally
negated with `-`; fields `metadata['key']` (or `metadata["key"]`), `status`,
`currency`, `customer` (string equality, quoted) and `amount`, `created`
(`:` `>` `<` `>=` `<=` with a number). No substring (`~`) or `null` matching.
Unlike Stripe, new objects are searchable at once (Stripe: up to a minute later).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.stripe.errors import invalid

MAX_CLAUSES = 10
STRING_FIELDS = ("status", "currency", "customer")
NUMBER_FIELDS = ("amount", "created")
_CLAUSE = re.compile(
    r"""(?P<negate>-)?
        (?:metadata\[(?P<q>['"])(?P<key>[^'"]+)(?P=q)\]|(?P<field>[a-z_]+))
        (?P<op>:|>=|<=|>|<)
        (?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<number>-?[0-9]+))""",
    re.VERBOSE,
)
_JOIN = re.compile(r"\s+(AND|OR)\s+", re.IGNORECASE)

Predicate = Callable[[dict[str, Any]], bool]
COMPARE: dict[str, Callable[[int, int], bool]] = {
    ":": lambda a, b: a == b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
}  # fmt: skip


def compile_query(query: str) -> Predicate:
    """A predicate on a PaymentIntent object, or a 400 naming what is wrong with the query."""
    parts = _JOIN.split(query.strip())
    clauses, joins = parts[::2], {j.upper() for j in parts[1::2]}
    if len(joins) > 1:
        raise _bad(query, "AND and OR cannot be combined in one query")
    if len(clauses) > MAX_CLAUSES:
        raise _bad(query, f"at most {MAX_CLAUSES} clauses are allowed")
    tests = [_clause(query, text) for text in clauses]
    combine = any if joins == {"OR"} else all
    return lambda obj: combine(test(obj) for test in tests)


def _clause(query: str, text: str) -> Predicate:
    match = _CLAUSE.fullmatch(text.strip())
    if match is None:
        raise _bad(query, f"cannot parse {text.strip()!r}")
    test = _field_test(query, match)
    return (lambda obj: not test(obj)) if match["negate"] else test


def _field_test(query: str, match: re.Match[str]) -> Predicate:
    op, number = match["op"], match["number"]
    text = match["single"] if match["single"] is not None else match["double"]
    if match["key"] is not None or match["field"] in STRING_FIELDS:
        if op != ":" or text is None:
            raise _bad(query, "metadata, status, currency and customer take a quoted value after ':'")
        key = match["key"]
        if key is not None:
            return lambda obj: obj["metadata"].get(key) == text
        name = match["field"]
        return lambda obj: obj[name] == text
    if match["field"] in NUMBER_FIELDS:
        if number is None:
            raise _bad(query, f"{match['field']} takes a number")
        name, compare, value = match["field"], COMPARE[op], int(number)
        return lambda obj: compare(obj[name], value)
    raise _bad(query, f"{match['field']} is not a searchable field of payment_intents")


def _bad(query: str, reason: str) -> Exception:
    return invalid(f"Invalid search query {query!r}: {reason}.", "query")
