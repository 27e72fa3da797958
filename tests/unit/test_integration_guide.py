"""docs/integration.md cannot rot: every error code the API can send is in its table, and its links hold.

The codes are read out of the service's source: every string given as an error's code
(`APIError`, `error_response`, a domain error's `code=` or class attribute, a webhook
rejection, a confirm's withdrawal), the statuses' codes in `chatju.errors.HTTP_CODES`, and
the gateway codes a confirm passes through. A code that reaches an answer from a variable
must be traced here (`TRACED`), so a new path cannot slip past the guide.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from chatju.errors import HTTP_CODES
from chatju.gateways.toss.errors import SESSION_GONE_CODES

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "integration.md"
# Calls that put a code in an error answer, and the position of that code among their arguments.
ERROR_CALLS = {"APIError": 1, "error_response": 1, "Withdrawal": 1, "WebhookRejectedError": 0}
CODE = re.compile(r"^[A-Z][A-Z0-9_]+$")
# Codes that reach an answer from a variable, and where their values come from.
TRACED = {
    ("chatju/errors.py", "exc.code"): "an APIError's or a domain error's code: the literals collected here",
    ("chatju/errors.py", "code"): "HTTP_CODES, by the status of a werkzeug HTTPException",
    ("chatju/api/webhooks.py", "rejected.code"): "a WebhookRejectedError's code: the literals collected here",
    ("chatju/api/toss.py", "withdrawn.code"): "a Withdrawal read back from the ledger: the codes written below",
    ("chatju/payments/confirm.py", "event.detail['code']"): "the Withdrawal stored by _withdraw",
    (
        "chatju/payments/confirm.py",
        "error.code",
    ): "the gateway's code for an attempt it does not know: SESSION_GONE_CODES",
}


def error_codes_in_source() -> tuple[set[str], set[tuple[str, str]]]:
    """The literal codes of error answers, and the (file, expression) of every code given by a variable."""
    literals: set[str] = set()
    variables: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "chatju").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), name)):
            for code in given_codes(node):
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    literals.add(code.value)
                elif code is not None:
                    variables.add((name, ast.unparse(code)))
    return literals, variables


def given_codes(node: ast.AST) -> list[ast.expr | None]:
    if isinstance(node, ast.ClassDef):  # class FooError(DomainError): code = "..."
        return [
            item.value
            for item in node.body
            if isinstance(item, ast.Assign) and [ast.unparse(t) for t in item.targets] == ["code"]
        ]
    if not isinstance(node, ast.Call):
        return []
    callee = ast.unparse(node.func).rsplit(".", 1)[-1]
    found: list[ast.expr | None] = [k.value for k in node.keywords if k.arg == "code" and callee.endswith("Error")]
    position = ERROR_CALLS.get(callee)
    if position is not None and len(node.args) > position:
        found.append(node.args[position])
    return found


def codes_the_api_can_send() -> set[str]:
    literals, _ = error_codes_in_source()
    return {code for code in literals if CODE.match(code)} | set(HTTP_CODES.values()) | set(SESSION_GONE_CODES)


def documented_codes() -> list[str]:
    errors = GUIDE.read_text().split("\n## Errors\n", 1)[1]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", errors, flags=re.MULTILINE)


def test_every_code_given_by_a_variable_is_traced():
    _, variables = error_codes_in_source()
    untraced = sorted(variables - set(TRACED))
    assert untraced == [], (
        "an error code reaches an answer from a variable not traced in this test: "
        "find which codes it can hold, add them to the guide's table and the expression to TRACED"
    )
    assert set(TRACED) <= variables, f"TRACED names code paths that no longer exist: {set(TRACED) - variables}"


def test_only_tosss_adapter_passes_a_gateway_code_through_confirm():
    # A confirm's withdrawal carries the gateway's own code for an attempt the gateway does not know.
    marking = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "chatju" / "gateways").rglob("*.py")
        if re.search(r"attempt_unknown=(?!False)", path.read_text())
    )
    assert marking == ["chatju/gateways/toss/errors.py"]


def test_every_error_code_the_api_can_send_is_in_the_guide():
    expected = codes_the_api_can_send()
    assert {"VALIDATION_ERROR", "NO_READINGS_LEFT", "NOT_FOUND_PAYMENT_SESSION", "IDEMPOTENCY_KEY_IN_USE"} <= expected
    documented = documented_codes()
    assert sorted(expected - set(documented)) == [], "codes the API can send that docs/integration.md lacks"
    assert sorted(set(documented) - expected) == [], "codes in docs/integration.md that the API never sends"
    assert len(documented) == len(set(documented)), "a code is listed twice"


def test_the_guides_links_lead_somewhere_and_name_what_is_there():
    text = GUIDE.read_text()
    anchors = {heading_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}
    links = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", text)
    assert len(links) > 30
    for label, target in links:
        if target.startswith("#"):
            assert target[1:] in anchors, target
            continue
        path = (GUIDE.parent / target).resolve()
        assert path.is_file(), target
        name = label.strip("`")
        if label.startswith("`") and not name.endswith((".js", "/")):
            # A link to the demo's code names a function or constant that is in that file.
            assert re.search(rf"\b(function|const|async function) {re.escape(name)}\b", path.read_text()), label


def heading_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_links_the_guide_on_its_first_screen():
    first_screen = (ROOT / "README.md").read_text().splitlines()[:25]
    assert any("docs/integration.md" in line for line in first_screen)
