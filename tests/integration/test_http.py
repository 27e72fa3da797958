"""Common HTTP behaviour: one error shape, probes, the catalogue, headers."""

from __future__ import annotations

import logging

import pytest

from chatju import create_app


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_database_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_products_lists_the_premium_reading(client):
    response = client.get("/products")
    assert response.status_code == 200
    products = response.get_json()["products"]
    assert [p["id"] for p in products] == ["premium_reading"]
    assert products[0]["prices"] == {"KRW": 13000, "USD": 1000}
    assert isinstance(products[0]["name"], str)


def test_unknown_route_is_a_json_404(client):
    assert_error(client.get("/no/such/route"), 404, "NOT_FOUND")


def test_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/products")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_a_json_413(client):
    response = client.post("/auth/magic-link", data=b"{" + b" " * 70_000 + b"}", content_type="application/json")
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_malformed_json_is_a_400(client):
    error = assert_error(
        client.post("/auth/magic-link", data='{"email": ', content_type="application/json"), 400, "VALIDATION_ERROR"
    )
    assert "JSON" in error["message"]


@pytest.mark.parametrize("body", ["[]", '"a@example.com"', "null", "", "   "])
def test_a_body_that_is_not_an_object_is_a_400(client, body):
    response = client.post("/auth/magic-link", data=body, content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")


def test_non_json_content_type_is_a_415(client):
    response = client.post(
        "/auth/magic-link", data="email=a@example.com", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_unknown_fields_are_rejected_with_details(client):
    error = assert_error(
        client.post("/auth/magic-link", json={"email": "a@example.com", "admin": True}), 400, "VALIDATION_ERROR"
    )
    assert error["details"]["fields"] == [{"field": "admin", "message": "Extra inputs are not permitted"}]


def test_unhandled_exception_is_logged_with_request_id_and_never_shown(test_env, caplog):
    app = create_app(test_env)

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret internal detail")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/explode", headers={"X-Request-ID": "req-boom-0001"})
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert error["message"] == "Something went wrong on our side."
    assert response.headers["X-Request-ID"] == "req-boom-0001"
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info and "secret internal detail" in str(record.exc_info[1])


def test_request_id_is_generated_or_echoed(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123-def"}).headers["X-Request-ID"] == "abc-123-def"
    # An id that could smuggle content into logs is replaced, not echoed.
    assert client.get("/healthz", headers={"X-Request-ID": "bad id <x>"}).headers["X-Request-ID"] != "bad id <x>"


def test_security_headers(client):
    headers = client.get("/products").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_cors_allows_only_the_frontend_origin(client):
    allowed = client.get("/products", headers={"Origin": "http://127.0.0.1:8000"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "http://127.0.0.1:8000"
    other = client.get("/products", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_readyz_is_503_when_the_database_is_unreachable(test_env):
    app = create_app({**test_env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "fail"
    assert response.get_json()["status"] == "unavailable"


def test_readyz_is_503_when_the_broker_is_unreachable(test_env):
    app = create_app({**test_env, "REDIS_URL": "redis://127.0.0.1:1/0"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "broker": "fail"}
