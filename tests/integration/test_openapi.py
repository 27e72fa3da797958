"""The published description is accurate enough to fuzz: no 5xx, no answer outside its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chatju import create_app

pytestmark = pytest.mark.usefixtures("worker")
# What the description promises: no 5xx, and every answer's status, type and body as documented.
# (Stricter heuristics, such as "every schema-valid email is accepted", are not promises we make:
# an address at a reserved domain like .test is refused with a 400.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def fuzz_app(test_env):
    # Its own key prefix keeps the fuzzer's rate-limit counters apart from other tests'.
    return create_app({**test_env, "REDIS_KEY_PREFIX": test_env["REDIS_KEY_PREFIX"] + "fuzz:"})


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def fuzz_headers(fuzz_app):
    from chatju.api.tokens import access_token_for
    from chatju.auth import service
    from chatju.extensions import db

    with fuzz_app.app_context():
        user = service.get_or_create_user("fuzzer@example.com", make_admin=True)  # reaches the admin routes too
        db.session.commit()
        return {"Authorization": f"Bearer {access_token_for(user)}"}


@pytest.fixture(scope="module")
def logout_headers(fuzz_app):
    """A token of its own for each logout case: a logout must not revoke the token every other case uses."""
    from chatju.api.tokens import access_token_for
    from chatju.auth import service
    from chatju.extensions import db

    def fresh() -> dict[str, str]:
        with fuzz_app.app_context():
            user = service.get_or_create_user("fuzzer-logout@example.com")
            db.session.commit()
            return {"Authorization": f"Bearer {access_token_for(user)}"}

    return fresh


def test_every_operation_answers_within_its_schema(api_schema, fuzz_headers, logout_headers):
    """Fuzz every operation: no 5xx, status codes and bodies as described."""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 17
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: schemathesis.Case) -> None:
            signed_in = logout_headers() if case.operation.path == "/auth/logout" else fuzz_headers
            case.call_and_validate(headers={**signed_in, **(case.headers or {})}, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())


def test_the_description_covers_every_json_route(fuzz_app):
    document = fuzz_app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, method in [
        ("/payment/toss/create", "post"),
        ("/payment/toss/confirm", "post"),
        ("/payment/toss/webhook", "post"),
        ("/payment/stripe/create", "post"),
        ("/payment/stripe/webhook", "post"),
        ("/payment/{order_id}", "get"),
        ("/payment/{order_id}/cancel", "post"),
        ("/payment/{order_id}/refund", "post"),
        ("/readings/consume", "post"),
        ("/auth/magic-link", "post"),
        ("/auth/me", "patch"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/products", "get"),
        ("/readyz", "get"),
    ]:
        assert method in paths[path], (path, method)
    create = paths["/payment/toss/create"]["post"]
    # The request schema is the model the route validates with.
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TossCreate"}
    assert document["components"]["schemas"]["TossCreate"]["additionalProperties"] is False
