"""Issue 12's audit findings on what the till and the service accept as input, each reproduced:
non-ASCII digits as amounts and quantities, a ``Retry-After`` that stalls the till's queue, and
datetimes without a time zone (a 500 the till retried forever)."""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from cashier import i18n
from cashier.errors import InvalidCart
from cashier.gateway import RateLimited
from cashier.money import parse_money, parse_quantity, points_to_units
from processing.db import transaction
from processing.models import ReviewItem
from sync import protocol
from sync.client import HttpGateway
from sync.sender import MAX_DELAY
from tests.processing.conftest import NOW, Service, add_customer

AT = NOW.isoformat()
NAIVE = NOW.replace(tzinfo=None).isoformat()  # "2026-11-23T12:00:00": no time zone
ARABIC_ONE = "\u0661"  # ١ ARABIC-INDIC DIGIT ONE: int() and Decimal() read it as 1
NON_ASCII_NUMBERS = [
    ARABIC_ONE,
    "\u0661\u0660\u0660",  # ١٠٠
    "\uff11\uff10",  # １０ fullwidth
    "\u0967",  # १ Devanagari
    "1\u0660.00",  # a mix
    "\U0001d7d9",  # 𝟙 mathematical double-struck one
]


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.get_language()
    i18n.set_language("en")
    yield
    i18n.set_language(before)


# -- 3. Unicode digits ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", NON_ASCII_NUMBERS)
def test_money_and_quantities_take_ascii_digits_only(text: str) -> None:
    with pytest.raises(InvalidCart, match="0-9") as money:
        parse_money(text)
    assert "amount" in money.value.message
    with pytest.raises(InvalidCart, match="0-9"):
        parse_quantity(text)
    with pytest.raises(InvalidCart, match="0-9"):
        points_to_units(text, 0)


def test_ascii_numbers_still_parse() -> None:
    assert parse_money("1299.90") == 129990
    assert parse_money(" 12 ") == 1200
    assert parse_money("-5.5") == -550
    assert parse_money(7) == 700
    assert parse_quantity("0.742") == 742
    assert parse_quantity(2) == 2000
    assert points_to_units("150", 0) == 150
    assert points_to_units("+27", 0) == 27
    assert points_to_units("-5", 0) == -5
    assert points_to_units("150.5", 1) == 1505
    assert points_to_units(Decimal("12.5"), 1) == 125
    assert points_to_units(3, 0) == 3


@pytest.mark.parametrize("text", ["1e3", "1_000", "Infinity", "NaN", "0x10", "", "1.", ".5"])
def test_points_are_plain_decimals(text: str) -> None:
    with pytest.raises(InvalidCart):
        points_to_units(text, 0)


@pytest.mark.parametrize("text", NON_ASCII_NUMBERS)
@pytest.mark.parametrize(
    ("model", "field", "base"),
    [
        (protocol.LineIn, "qty", {"line_id": "L1", "line_no": 1, "sku": "s", "unit_price": "1"}),
        (protocol.LineIn, "unit_price", {"line_id": "L1", "line_no": 1, "sku": "s", "qty": "1"}),
        (protocol.PaymentIn, "amount", {"type": "cash"}),
        (protocol.RedeemIn, "points", {}),
        (protocol.ReturnLineIn, "qty", {"line_id": "L1", "line_no": 1}),
        (protocol.BalanceSnapshot, "available", {"as_of": AT}),
        (protocol.Earned, "points", {}),
    ],
)
def test_the_wire_takes_ascii_digits_only(
    model: type[BaseModel], field: str, base: dict[str, Any], text: str
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate({**base, field: text})
    model.model_validate({**base, field: "1"})


def _line(**extra: Any) -> dict[str, Any]:
    return {
        "line_id": "L1",
        "line_no": 1,
        "sku": "4601234567890",
        "category": "smartphones",
        "qty": "1.000",
        "unit_price": "1000.00",
        **extra,
    }


def _purchase(**extra: Any) -> dict[str, Any]:
    return {
        "purchase_id": f"p_{uuid.uuid4().hex}",
        "customer": {"id": "c_1"},
        "lines": [_line()],
        "redeem_points": "0",
        "occurred_at": AT,
        **extra,
    }


def _post(c: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return c.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    add_customer(service.factory, "c_1", "+79001234567", points=100)
    with service.client() as c:
        yield c


@pytest.mark.parametrize(
    "body",
    [
        _purchase(lines=[_line(qty=ARABIC_ONE)]),
        _purchase(lines=[_line(unit_price="\u0661\u0660\u0660\u0660")]),
        _purchase(redeem_points=ARABIC_ONE),
        _purchase(expected_to_pay="\u0661\u0660\u0660\u0660.00"),
    ],
    ids=["qty", "unit_price", "redeem_points", "expected_to_pay"],
)
def test_a_purchase_with_non_ascii_digits_is_a_validation_error(
    client: httpx.Client, body: dict[str, Any]
) -> None:
    reply = _post(client, "/purchases", body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "validation_error"


# -- 4. Retry-After -------------------------------------------------------------------------------
class _Stub:
    """Answers every request with 429 and the next ``Retry-After`` value."""

    def __init__(self) -> None:
        self.values: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = json.dumps(
                    {"error": {"code": "rate_limited", "message": "slow", "retryable": True}}
                ).encode()
                self.send_response(429)
                self.send_header("Retry-After", stub.values.pop(0))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub()
    yield server
    server.close()


def _wait_asked(stub: _Stub, value: str) -> float:
    stub.values.append(value)
    with HttpGateway(stub.url, "k") as g, pytest.raises(RateLimited) as limited:
        g.push_batch({"items": []}, timeout=5)
    return limited.value.retry_after


def _http_date(delta: timedelta) -> str:
    return format_datetime(datetime.now(UTC) + delta, usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 12 ", 12.0),
        ("0", 0.0),
        ("300", MAX_DELAY),
        ("301", MAX_DELAY),
        ("86400", MAX_DELAY),
        ("99999999999999999999999999999", MAX_DELAY),
        ("inf", 1.0),
        ("Infinity", 1.0),
        ("-inf", 1.0),
        ("nan", 1.0),
        ("-5", 1.0),
        ("1e9", 1.0),
        ("2.5", 1.0),
        ("1_000", 1.0),
        ("\xb2", 1.0),  # ²: str.isdigit() says yes
        ("soon", 1.0),
        ("", 1.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_DELAY),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    ],
)
def test_retry_after_is_capped_and_garbage_ignored(
    stub: _Stub, value: str, expected: float
) -> None:
    wait = _wait_asked(stub, value)
    assert math.isfinite(wait)
    assert wait == expected


def test_retry_after_as_a_near_http_date_counts_down(stub: _Stub) -> None:
    wait = _wait_asked(stub, _http_date(timedelta(seconds=60)))
    assert 55 <= wait <= 60
    far = _wait_asked(stub, _http_date(timedelta(days=400)))
    assert far == MAX_DELAY


# -- 5. datetimes without a time zone -------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "body"),
    [
        (protocol.PurchaseRequest, _purchase(occurred_at=NAIVE)),
        (protocol.ReturnRequest, {"return_id": "r1", "occurred_at": NAIVE, "lines": []}),
        (protocol.ConfirmRequest, {"occurred_at": NAIVE}),
        (protocol.CancelRequest, {"occurred_at": NAIVE}),
        (
            protocol.BatchItem,
            {
                "seq": 1,
                "idempotency_key": "k" * 8,
                "kind": "purchase",
                "occurred_at": NAIVE,
                "body": {},
            },
        ),
    ],
)
def test_every_request_requires_a_time_zone(model: type[BaseModel], body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        model.model_validate(body)


def test_response_datetimes_require_a_time_zone_too() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        protocol.Health.model_validate(
            {"status": "ok", "calc": "ok", "server_time": NAIVE, "version": "1"}
        )
    aware = protocol.Health.model_validate(
        {"status": "ok", "calc": "ok", "server_time": AT, "version": "1"}
    )
    assert aware.server_time == NOW


def test_an_online_purchase_without_a_time_zone_is_a_validation_error(client: httpx.Client) -> None:
    reply = _post(client, "/purchases", _purchase(occurred_at=NAIVE))
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "validation_error"
    assert any("occurred_at" in (d.get("field") or "") for d in error["details"])


def _offline_sale(**extra: Any) -> dict[str, Any]:
    body = _purchase(**extra)
    body.update(state="confirmed", offline=True, payments=[{"type": "card"}])
    return body


def _item(seq: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": seq,
        "idempotency_key": str(uuid.uuid4()),
        "kind": "purchase",
        "occurred_at": AT,
        "body": body,
    }


def test_a_queued_sale_without_a_time_zone_is_rejected_alone(
    service: Service, client: httpx.Client
) -> None:
    naive = _offline_sale(occurred_at=NAIVE)
    batch = {
        "batch_id": str(uuid.uuid4()),
        "items": [_item(1, _offline_sale()), _item(2, naive), _item(3, _offline_sale())],
    }
    reply = client.post("/sync/transactions", json=batch)
    assert reply.status_code == 200, reply.text  # before the fix: 500, retryable, for ever
    results = reply.json()["results"]
    assert [(r["seq"], r["status"]) for r in results] == [
        (1, "accepted"),
        (2, "rejected"),
        (3, "accepted"),
    ]
    error = results[1]["error"]
    assert error["code"] == "validation_error" and error["retryable"] is False
    with transaction(service.factory) as session:
        reasons = list(
            session.scalars(select(ReviewItem.reason).where(ReviewItem.kind == "rejected"))
        )
    assert len(reasons) == 1 and "validation_error" in reasons[0]
    again = client.post("/sync/transactions", json=batch)  # the till resends: the same answers
    assert [r["status"] for r in again.json()["results"]] == ["duplicate", "rejected", "duplicate"]


def test_the_cap_is_the_senders_longest_backoff() -> None:
    from sync.client import MAX_RETRY_AFTER

    assert MAX_RETRY_AFTER == MAX_DELAY
