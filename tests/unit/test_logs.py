"""JSON log lines carry the request id and never a secret."""

from __future__ import annotations

import json
import logging

from chatju.logs import RedactingJsonFormatter, RequestIdFilter, redact, request_id_var


def format_record(message: str, *args: object, **extra: object) -> dict:
    record = logging.LogRecord("chatju.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    RequestIdFilter().filter(record)
    formatter = RedactingJsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s")
    return json.loads(formatter.format(record))


def test_a_line_is_json_with_the_request_id():
    token = request_id_var.set("req-1234abcd")
    try:
        line = format_record("paid %s", "order-1")
    finally:
        request_id_var.reset(token)
    assert line["message"] == "paid order-1"
    assert line["request_id"] == "req-1234abcd"


def test_secrets_are_scrubbed_from_messages_and_fields():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    line = format_record(
        "calling with Authorization: Bearer %s and key %s",
        jwt,
        "sk_test_51Habcdef",
        header="Basic dGVzdF9za196WExrS0V5cE5BcldtbzUwblgzbG1lUHhMdjA6",
    )
    text = json.dumps(line)
    assert jwt not in text
    assert "sk_test_51Habcdef" not in text
    assert "dGVzdF9za" not in text


def test_redact_covers_gateway_keys_and_link_tokens():
    assert "test_sk_zXLk" not in redact("secret test_sk_zXLkKEypNArWmo50nX3lmePxLv0")
    assert "whsec_abc" not in redact("whsec_abc123")
    assert "abc123" not in redact("https://x/auth/verify?token=abc123")
    assert redact("order 2024-ABC amount 13000") == "order 2024-ABC amount 13000"
