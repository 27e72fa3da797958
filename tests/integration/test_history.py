"""GET /payment/history/me: owner only, newest first, keyset pages that stay put."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from chatju import create_app
from chatju.api.tokens import access_token_for
from chatju.auth import service as auth_service
from chatju.extensions import db
from chatju.payments.history import encode_cursor, history_query, position_after
from chatju.payments.models import Payment
from chatju.payments.service import create_order, new_order_id
from chatju.states import PaymentStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
URL = "/payment/history/me"


def add_payments(app, user_id: int, count: int, *, start: datetime = T0, step=timedelta(minutes=1), **columns):
    """`count` payments of the user, the first at `start` and each next one `step` later; their order ids."""
    rows = []
    for n in range(count):
        at = start + step * n
        rows.append(
            {
                "order_id": new_order_id(),
                "user_id": user_id,
                "provider": columns.get("provider", "toss"),
                "status": columns.get("status", PaymentStatus.PAID),
                "amount": 13000,
                "currency": "KRW",
                "order_name": f"reading {n}",
                "created_at": at,
                "updated_at": at,
            }
        )
    with app.app_context():
        db.session.execute(sa.insert(Payment), rows)
        db.session.commit()
    return [row["order_id"] for row in rows]


def newest_first(app, user_id: int) -> list[str]:
    """The user's order ids in the order the API must give them."""
    with app.app_context():
        query = (
            sa.select(Payment.order_id)
            .where(Payment.user_id == user_id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
        )
        return list(db.session.execute(query).scalars())


def get_page(client, headers, **params):
    response = client.get(URL, query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"payments", "nextCursor"}
    return [p["orderId"] for p in body["payments"]], body["nextCursor"]


def walk(client, headers, **params) -> list[list[str]]:
    """Every page from the first to the one whose nextCursor is null."""
    pages, cursor = [], None
    while True:
        ids, cursor = get_page(client, headers, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(ids)
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not end"


def flat(pages: list[list[str]]) -> list[str]:
    return [order for page in pages for order in page]


def assert_invalid(response, field: str | None = None) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["message"]
    if field is not None:
        assert field in [f["field"] for f in error["details"]["fields"]]


@pytest.fixture
def buyer(make_user, auth_headers):
    user_id = make_user("buyer@example.com")
    return user_id, auth_headers(user_id)


def test_payments_newest_first_as_payment_json(app, client, buyer):
    user_id, headers = buyer
    add_payments(app, user_id, 3)
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["nextCursor"] is None
    assert [p["orderName"] for p in body["payments"]] == ["reading 2", "reading 1", "reading 0"]
    first = body["payments"][0]
    assert first["createdAt"] == "2026-01-01T00:02:00Z"
    assert first["status"] == "PAID" and first["provider"] == "toss" and first["amount"] == 13000
    assert {"orderId", "refundedAmount", "paymentKey", "failure", "flags", "paidAt"} <= set(first)


def test_empty_history(client, buyer):
    assert get_page(client, buyer[1]) == ([], None)


def test_each_user_sees_only_their_own(app, client, make_user, auth_headers, buyer):
    user_id, headers = buyer
    other = make_user("other@example.com")
    mine = add_payments(app, user_id, 4)
    theirs = add_payments(app, other, 3, start=T0 + timedelta(seconds=30))
    assert sorted(flat(walk(client, headers, limit=2))) == sorted(mine)
    assert sorted(flat(walk(client, auth_headers(other), limit=2))) == sorted(theirs)


def test_a_cursor_naming_another_users_order_is_refused(app, client, make_user, buyer):
    user_id, headers = buyer
    add_payments(app, user_id, 2)
    [theirs] = add_payments(app, make_user("other@example.com"), 1)
    assert_invalid(client.get(URL, query_string={"cursor": encode_cursor(theirs)}, headers=headers), "cursor")
    assert_invalid(client.get(URL, query_string={"cursor": encode_cursor("ord_missing_0123456789")}, headers=headers))


def test_no_token_or_a_tampered_one_is_401(app, client, buyer):
    user_id, headers = buyer
    add_payments(app, user_id, 1)
    assert client.get(URL).status_code == 401
    assert client.get(URL).get_json()["error"]["code"] == "UNAUTHORIZED"
    token = headers["Authorization"].removeprefix("Bearer ")
    head, claims, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**payload, "sub": "999"}).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{forged}.{signature}", f"{head}.{claims}.{signature[:-4]}AAAA"):
        response = client.get(URL, headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_pages_cover_everything_once_and_end_with_a_null_cursor(app, client, buyer):
    user_id, headers = buyer
    add_payments(app, user_id, 45)
    pages = walk(client, headers)
    assert [len(page) for page in pages] == [20, 20, 5]
    assert flat(pages) == newest_first(app, user_id)


def test_a_full_last_page_still_ends_with_a_null_cursor(app, client, buyer):
    user_id, headers = buyer
    add_payments(app, user_id, 6)
    assert [len(page) for page in walk(client, headers, limit=3)] == [3, 3]


def test_new_payments_between_pages_neither_shift_nor_repeat_rows(app, client, buyer):
    user_id, headers = buyer
    add_payments(app, user_id, 12)
    before = newest_first(app, user_id)
    page1, cursor = get_page(client, headers, limit=5)
    assert page1 == before[:5]
    with app.app_context():  # created now, so newer than all the others: it belongs on a fresh first page
        new = create_order(user_id, "toss", 13000, "KRW", "arrived mid-way").order_id
        db.session.commit()
    page2, cursor = get_page(client, headers, limit=5, cursor=cursor)
    assert page2 == before[5:10]
    page3, cursor = get_page(client, headers, limit=5, cursor=cursor)
    assert page3 == before[10:] and cursor is None
    assert get_page(client, headers, limit=1)[0] == [new]


def test_identical_created_at_is_ordered_by_id(app, client, buyer):
    user_id, headers = buyer
    same_time = add_payments(app, user_id, 5, step=timedelta(0))
    [older] = add_payments(app, user_id, 1, start=T0 - timedelta(seconds=1))
    [newer] = add_payments(app, user_id, 1, start=T0 + timedelta(microseconds=1))
    pages = walk(client, headers, limit=2)
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert flat(pages) == [newer, *reversed(same_time), older]  # ids rise in insertion order


def test_default_and_extreme_limits(app, client, buyer):
    user_id, headers = buyer
    add_payments(app, user_id, 101)
    assert len(get_page(client, headers)[0]) == 20
    assert len(get_page(client, headers, limit=1)[0]) == 1
    page, cursor = get_page(client, headers, limit=100)
    assert len(page) == 100 and cursor is not None
    assert get_page(client, headers, limit=100, cursor=cursor) == (newest_first(app, user_id)[100:], None)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "2.5", "20.0", "1_0", "+5", " 5", "", "99999999999999"])
def test_bad_limit_is_400(client, buyer, limit):
    assert_invalid(client.get(URL, query_string={"limit": limit}, headers=buyer[1]), "limit")


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor!",
        "%%%",
        "x" * 201,
        "AAAA",
        cursor_of(b"not json"),
        cursor_of(b"\xff\xfe"),
        cursor_of(b'["ord_0123456789abcdef"]'),
        cursor_of(b'{"after": 5}'),
        cursor_of(b'{"after": "ord_0123456789abcdef", "id": 1}'),
        cursor_of(b'{"after": "bad id with spaces"}'),
        cursor_of(b'{"after": "short"}'),
    ],
)
def test_malformed_cursor_is_400(client, buyer, cursor):
    assert_invalid(client.get(URL, query_string={"cursor": cursor}, headers=buyer[1]), "cursor")


@pytest.mark.parametrize(
    "params",
    [
        {"status": "paid"},
        {"status": "SETTLED"},
        {"status": ""},
        {"provider": "TOSS"},
        {"provider": "paypal"},
        {"page": "2"},
        {"offset": "40"},
        {"limit": ["5", "6"]},
        {"status": ["PAID", "FAILED"]},
    ],
)
def test_bad_filters_and_unknown_parameters_are_400(client, buyer, params):
    assert_invalid(client.get(URL, query_string=params, headers=buyer[1]))


def test_status_and_provider_filters(app, client, buyer):
    user_id, headers = buyer
    paid_toss = add_payments(app, user_id, 5)
    failed_stripe = add_payments(app, user_id, 3, start=T0 + timedelta(seconds=10), status="FAILED", provider="stripe")
    paid_stripe = add_payments(app, user_id, 4, start=T0 + timedelta(seconds=20), provider="stripe")
    refunded = add_payments(app, user_id, 1, start=T0 + timedelta(seconds=30), status="PARTIALLY_REFUNDED")

    def listed(**params):
        return flat(walk(client, headers, limit=2, **params))

    assert sorted(listed(status="PAID")) == sorted(paid_toss + paid_stripe)
    assert sorted(listed(status="FAILED")) == sorted(failed_stripe)
    assert sorted(listed(status="PARTIALLY_REFUNDED")) == sorted(refunded)
    assert listed(status="EXPIRED") == []
    assert sorted(listed(provider="stripe")) == sorted(failed_stripe + paid_stripe)
    assert sorted(listed(provider="toss")) == sorted(paid_toss + refunded)
    assert sorted(listed(status="PAID", provider="stripe")) == sorted(paid_stripe)
    everything = newest_first(app, user_id)
    assert listed(provider="stripe") == [order for order in everything if order in failed_stripe + paid_stripe]


def test_the_query_seeks_the_user_index_on_postgresql(app, buyer):
    """The row-value comparison is an index condition, and the index gives the order (no Sort)."""
    user_id, _ = buyer
    [first, *_] = add_payments(app, user_id, 3)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("EXPLAIN plans are PostgreSQL's")
        after = position_after(user_id, first)
        for status in (None, PaymentStatus.PAID):
            query = history_query(user_id, 21, after, status=status)
            compiled = query.compile(db.engine)
            with db.engine.connect() as conn:
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
            assert "Index Scan using ix_payments_user_created" in plan, plan
            assert "Index Cond: ((user_id = " in plan and "ROW(created_at, id) < ROW(" in plan, plan
            assert "Sort" not in plan, plan


def test_history_works_on_sqlite(test_env, tmp_path):
    sqlite_app = create_app({**test_env, "DATABASE_URL": f"sqlite:///{tmp_path / 'history.sqlite'}"})
    with sqlite_app.app_context():
        upgrade()
        user = auth_service.get_or_create_user("lite@example.com")
        db.session.commit()
        headers = {"Authorization": f"Bearer {access_token_for(user)}"}
        user_id = user.id
    add_payments(sqlite_app, user_id, 3, step=timedelta(0))
    add_payments(sqlite_app, user_id, 4, start=T0 + timedelta(microseconds=1), status="FAILED")
    client = sqlite_app.test_client()
    assert flat(walk(client, headers, limit=2)) == newest_first(sqlite_app, user_id)
    assert len(flat(walk(client, headers, limit=3, status="FAILED"))) == 4
    with sqlite_app.app_context():
        db.session.remove()
        db.engine.dispose()
