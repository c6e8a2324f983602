"""``HttpGateway`` against the real processing service on loopback, and against misbehaving
servers (a closed port, a server that never answers, one that drips a byte every 0.8 s, stubs
that answer 429, 5xx or a proxy's page): every call ends in a reply or in one of the gateway's
outcomes, within its deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from cashier import i18n
from cashier.gateway import Ambiguous, RateLimited, Rejected, Reply, Unreachable
from processing.admin import add_cashier, add_store
from processing.db import transaction
from processing.models import CatalogueItem
from processing.security import verify_pin
from sync.client import HttpGateway, clock_skew
from sync.protocol import Health
from tests.processing.conftest import NOW, Service, add_customer

AT = NOW.isoformat()
DRIP_S = 0.8


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.get_language()
    i18n.set_language("en")
    yield
    i18n.set_language(before)


@pytest.fixture
def gateway(service: Service) -> Iterator[HttpGateway]:
    with HttpGateway(service.base_url, service.token) as g:
        yield g


def _line(price: str = "10000.00") -> dict[str, Any]:
    return {
        "line_id": "L1",
        "line_no": 1,
        "sku": "4601234567890",
        "category": "smartphones",
        "qty": "1.000",
        "unit_price": price,
    }


def _purchase(purchase_id: str, redeem: str, expected: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purchase_id": purchase_id,
        "customer": {"id": "c_1"},
        "lines": [_line()],
        "redeem_points": redeem,
        "occurred_at": AT,
        "state": "pending",
    }
    if expected is not None:
        body["expected_to_pay"] = expected
    return body


# -- the real service -----------------------------------------------------------------------------
def test_a_sale_round_trip_with_replays(service: Service, gateway: HttpGateway) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=2000)
    health = gateway.health()
    assert health.body["status"] == "ok"
    assert clock_skew(health, NOW + timedelta(seconds=400)) == 400.0

    found = gateway.identify({"identifier": {"type": "phone", "value": "+7 900 123-45-67"}})
    assert found.body["status"] == "found"
    assert found.body["customer"]["id"] == "c_1"
    assert found.server_time is not None
    assert clock_skew(found, NOW) == 0.0

    calc = gateway.calculate(
        {"customer": {"id": "c_1"}, "lines": [_line()], "redeem": {"points": "300"}}, timeout=1.5
    )
    assert calc.body["redeem"]["applied"] == "300"
    to_pay = calc.body["totals"]["to_pay"]
    assert to_pay == "9700.00"

    purchase_id, create_key = f"p_{uuid.uuid4().hex}", str(uuid.uuid4())
    body = _purchase(purchase_id, "300", to_pay)
    created = gateway.create_purchase(body, create_key, timeout=5)
    assert (created.status, created.replay) == (201, None)
    assert created.body["state"] == "pending"
    again = gateway.create_purchase(body, create_key)
    assert again.replay == "true"
    assert again.body["purchase_id"] == purchase_id
    natural = gateway.create_purchase(body, str(uuid.uuid4()))
    assert natural.replay == "natural"

    confirm_key = str(uuid.uuid4())
    confirm = {"payments": [{"type": "card", "amount": to_pay}], "occurred_at": AT}
    confirmed = gateway.confirm_purchase(purchase_id, confirm, confirm_key)
    assert confirmed.body["state"] == "confirmed"
    assert confirmed.replay is None
    assert gateway.confirm_purchase(purchase_id, confirm, confirm_key).replay == "true"

    view = gateway.get_purchase(purchase_id)
    assert (view.body["state"], view.body["redeem_points"]) == ("confirmed", "300")
    history = gateway.history("c_1")
    assert [item["kind"] for item in history.body["items"]][:2] == ["earn", "redeem"]
    assert gateway.coupons("c_1").body["items"] == []


def test_a_cancel_releases_the_hold(service: Service, gateway: HttpGateway) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=2000)
    purchase_id = f"p_{uuid.uuid4().hex}"
    gateway.create_purchase(_purchase(purchase_id, "300", None), str(uuid.uuid4()))
    cancelled = gateway.cancel_purchase(purchase_id, {}, str(uuid.uuid4()))
    assert (cancelled.body["state"], cancelled.body["released_points"]) == ("cancelled", "300")


def test_refusals_carry_their_code_and_whole_body(service: Service, gateway: HttpGateway) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=2000)
    with pytest.raises(Rejected) as changed:
        gateway.create_purchase(_purchase("p_stale", "300", "1.00"), str(uuid.uuid4()))
    assert (changed.value.status, changed.value.code) == (409, "price_changed")
    assert changed.value.body["calculation"]["totals"]["to_pay"] == "9700.00"
    assert "9700.00" in changed.value.message

    bad = {"customer": {"id": "c_1"}, "lines": [{**_line(), "qty": "-1"}]}
    with pytest.raises(Rejected) as invalid:
        gateway.calculate(bad)
    assert (invalid.value.status, invalid.value.code) == (400, "validation_error")
    assert invalid.value.details[0]["field"].startswith("/lines/0/qty")

    with pytest.raises(Rejected) as missing:
        gateway.get_purchase("p_nobody")
    assert (missing.value.status, missing.value.code) == (404, "not_found")

    with HttpGateway(service.base_url, "not-a-key") as stranger:
        assert stranger.health().status == 200  # health is open to anyone …
        with pytest.raises(Rejected) as who:
            stranger.cashiers()  # … the rest is not
    assert (who.value.status, who.value.code) == (401, "unauthenticated")

    with pytest.raises(ValueError, match="Idempotency-Key"):
        gateway.create_purchase(_purchase("p_x", "0", None), "")


def test_rules_answer_none_when_current(service: Service, gateway: HttpGateway) -> None:
    service.wallet_private()  # the service's wallet key, as `processing serve` makes it
    rules = gateway.rules(None)
    assert rules is not None
    assert rules.body["wallet_public_key"] == rules.body["wallet_keys"][0]["public_key"]
    tag = rules.body["wallet_keys_tag"]
    assert gateway.rules(rules.body["version"], keys_tag=tag) is None
    assert gateway.rules(rules.body["version"]) is None  # a till from before key lists
    assert gateway.rules(rules.body["version"], keys_tag="another") is not None
    assert gateway.rules("an-older-version", keys_tag=tag) is not None


def test_catalogue_and_cashiers_for_the_offline_cache(
    service: Service, gateway: HttpGateway
) -> None:
    with transaction(service.factory) as session:
        for i in range(5):
            session.add(
                CatalogueItem(
                    sku=f"sku{i}",
                    name=f"Товар {i}",
                    category="food" if i % 2 else "smartphones",
                    price=12345 + i,
                    weighed=i == 3,
                    updated_at=NOW - timedelta(days=5 - i // 2),
                )
            )
        anna = add_cashier(session, "iport-msk-1", "Анна", "1234", "senior")
        add_store(session, "iport-spb-1", "iport", "iPort, Петербург")
        add_cashier(session, "iport-spb-1", "Борис", "5678")
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = gateway.catalogue(cursor, limit=2)
        seen += page.body["items"]
        cursor = page.body["next_cursor"]
        if not page.body["has_more"]:
            break
    assert [item["sku"] for item in seen] == [f"sku{i}" for i in range(5)]
    assert seen[1] == {
        "sku": "sku1",
        "name": "Товар 1",
        "category": "food",
        "price": "123.46",
        "weighed": False,
        "updated_at": (NOW - timedelta(days=5)).isoformat().replace("+00:00", "Z"),
    }
    assert gateway.catalogue(cursor).body["items"] == []

    cashiers = gateway.cashiers()
    assert cashiers.body["store_id"] == "iport-msk-1"
    assert [(c["id"], c["name"], c["role"]) for c in cashiers.body["items"]] == [
        (anna.id, "Анна", "senior")
    ]
    assert verify_pin("1234", cashiers.body["items"][0]["pin_hash"])
    assert cashiers.server_time is not None


def test_customers_sync_and_enrolment(service: Service, gateway: HttpGateway) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=10)
    page = gateway.customers(None, limit=10)
    assert [c["id"] for c in page.body["items"]] == ["c_1"]
    with pytest.raises(Rejected) as refused:
        gateway.enroll("AAAA-BBBB-CCCC", "till 2")
    assert (refused.value.status, refused.value.code) == (403, "forbidden")


# -- servers that misbehave -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RawServer:
    """A TCP server on loopback that reads each request and then answers with ``answer`` sent
    one byte every ``drip`` seconds, or never (``answer`` empty).  It notes when the client hung up."""

    def __init__(self, answer: bytes = b"", *, first: int = 0, drip: float = DRIP_S) -> None:
        self.answer, self.first, self.drip = answer, first, drip
        self.hung_up: list[float] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(self.drip)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            if self.first:
                conn.sendall(self.answer[: self.first])
            for i in range(self.first, len(self.answer) or 10**6):
                if self._client_left(conn):
                    self.hung_up.append(time.monotonic())
                    return
                if self.answer:
                    try:
                        conn.sendall(self.answer[i : i + 1])
                    except OSError:
                        self.hung_up.append(time.monotonic())
                        return

    def _client_left(self, conn: socket.socket) -> bool:
        try:
            return conn.recv(1024) == b""  # waits up to one drip
        except TimeoutError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    made: list[RawServer] = []

    def make(*args: Any, **kwargs: Any) -> RawServer:
        server = RawServer(*args, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def _answer(body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _gateway_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "gateway-http")


def _wait_for_no_gateway_threads(before: int, within: float = 2.0) -> None:
    end = time.monotonic() + within
    while _gateway_threads() > before and time.monotonic() < end:
        time.sleep(0.05)
    assert _gateway_threads() <= before, "the attempt's worker thread outlived its deadline"


def test_a_closed_port_is_unreachable() -> None:
    started = time.monotonic()
    with HttpGateway(f"http://127.0.0.1:{_free_port()}", "k") as g, pytest.raises(Unreachable) as e:
        g.create_purchase({"purchase_id": "p1"}, str(uuid.uuid4()), timeout=3)
    assert time.monotonic() - started < 3
    assert e.value.message == "No connection to the processing service."


def test_a_server_that_never_answers_is_ambiguous_at_the_deadline(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server()
    before = _gateway_threads()
    with HttpGateway(server.url, "k") as g:
        for call in (
            lambda: g.create_purchase({"purchase_id": "p1"}, str(uuid.uuid4()), timeout=1.0),
            lambda: g.calculate({"lines": []}, timeout=1.0),
        ):
            started = time.monotonic()
            with pytest.raises(Ambiguous) as e:
                call()
            elapsed = time.monotonic() - started
            assert 0.9 < elapsed < 1.5, elapsed
            assert e.value.message == "The processing service did not answer within 1 s."
    _wait_for_no_gateway_threads(before)


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_slow_drip_is_cut_by_the_overall_deadline(
    raw_server: Callable[..., RawServer], where: str
) -> None:
    answer = _answer(json.dumps({"status": "ok", "server_time": AT}).encode() + b" " * 50)
    head = answer.index(b"\r\n\r\n") + 4
    server = raw_server(answer, first=head if where == "body" else 0)
    deadline = 2.0
    before = _gateway_threads()
    started = time.monotonic()
    with HttpGateway(server.url, "k") as g, pytest.raises(Ambiguous) as e:
        g.create_purchase({"purchase_id": "p1"}, str(uuid.uuid4()), timeout=deadline)
    elapsed = time.monotonic() - started
    assert elapsed < deadline + 0.5, elapsed
    assert elapsed >= deadline - 0.05, elapsed
    assert "did not answer within 2 s" in e.value.message
    # The connection itself is cut too: the server sees the till hang up (within a drip).
    end = time.monotonic() + 2
    while not server.hung_up and time.monotonic() < end:
        time.sleep(0.05)
    assert server.hung_up and server.hung_up[0] - started < deadline + DRIP_S + 0.5
    _wait_for_no_gateway_threads(before)


def test_the_constructor_deadline_applies_when_a_call_passes_none(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server()
    started = time.monotonic()
    with HttpGateway(server.url, "k", deadline=0.6) as g, pytest.raises(Ambiguous):
        g.health()
    assert 0.5 < time.monotonic() - started < 1.1


class Stub:
    """A tiny HTTP server answering each request with the next canned ``(status, headers,
    body)``; it keeps what it was asked."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path, dict(self.headers), body))
                status, headers, content = stub.answers.pop(0)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def then(self, status: int, body: Any = b"", **headers: str) -> Stub:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        kind = "application/json" if not isinstance(body, bytes) else "text/html"
        self.answers.append((status, {"Content-Type": kind, **headers}, content))
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


def _error(code: str, message: str = "no") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "retryable": True, "details": []}}


def test_429_is_rate_limited_with_retry_after(stub: Stub) -> None:
    stub.then(429, _error("rate_limited"), **{"Retry-After": "7"})
    stub.then(429, _error("rate_limited"))
    stub.then(429, b"slow down", **{"Retry-After": "soon"})
    with HttpGateway(stub.url, "k") as g:
        with pytest.raises(RateLimited) as first:
            g.send_otp({"phone": "+79001234567", "purpose": "redeem"}, str(uuid.uuid4()))
        assert first.value.retry_after == 7.0
        assert first.value.message == "The processing service asks to wait 7 s."
        for _ in range(2):
            with pytest.raises(RateLimited) as later:
                g.identify({"identifier": {"type": "phone", "value": "+79001234567"}})
            assert later.value.retry_after == 1.0


def test_every_attempt_carries_the_key_the_till_key_and_a_new_request_id(stub: Stub) -> None:
    stub.then(503, _error("unavailable", "Processing is down for maintenance."))
    stub.then(503, b"<html>Service Unavailable</html>")
    with HttpGateway(stub.url + "/", "till-key") as g:
        for _ in range(2):
            with pytest.raises(Unreachable):
                g.confirm_purchase("p/1", {"payments": []}, "key-1")
    (m1, path1, h1, body1), (_, _, h2, _) = stub.requests
    assert (m1, path1) == ("POST", "/api/v1/purchases/p%2F1/confirm")
    assert json.loads(body1) == {"payments": []}
    assert h1["Authorization"] == "Bearer till-key"
    assert h1["Idempotency-Key"] == h2["Idempotency-Key"] == "key-1"
    assert uuid.UUID(h1["X-Request-Id"]) != uuid.UUID(h2["X-Request-Id"])


@pytest.mark.parametrize(
    ("status", "body", "outcome", "message"),
    [
        (503, _error("unavailable", "Down."), Unreachable, "Down."),
        (408, b"", Unreachable, "The processing service is unavailable for now."),
        (500, _error("internal"), Ambiguous, "The processing service failed (HTTP 500)."),
        (502, b"<html>Bad Gateway</html>", Ambiguous, "failed (HTTP 502)"),
        (504, b"", Ambiguous, "failed (HTTP 504)"),
        (409, _error("idempotency_in_progress", "Still working."), Ambiguous, "Still working."),
        (401, b"<html>login</html>", Rejected, "refused this till (HTTP 401)"),
        (403, _error("forbidden", "Disabled."), Rejected, "Disabled."),
    ],
)
def test_statuses_map_to_outcomes(
    stub: Stub, status: int, body: Any, outcome: type[Exception], message: str
) -> None:
    stub.then(status, body)
    with HttpGateway(stub.url, "k") as g, pytest.raises(outcome) as e:
        g.create_purchase({"purchase_id": "p1"}, "key-1")
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html><body>Please log in to the Wi-Fi</body></html>"),
        (201, b'{"purchase_id": "p1", "state": "pend'),
        (200, {"purchase_id": "p1", "state": 42}),
        (200, [1, 2, 3]),
        (302, b""),
        (404, b"<html>Not Found</html>"),
    ],
)
def test_an_answer_not_understood_is_ambiguous_for_mutations_unreachable_for_reads(
    stub: Stub, status: int, body: Any
) -> None:
    stub.then(status, body).then(status, body)
    with HttpGateway(stub.url, "k") as g:
        with pytest.raises(Ambiguous) as mutation:
            g.create_purchase({"purchase_id": "p1"}, "key-1")
        with pytest.raises(Unreachable) as read:
            g.get_purchase("p1")
    for e in (mutation, read):
        assert "The answer of the processing service was not understood" in e.value.message
        assert f"HTTP {status}" in e.value.message


def test_messages_are_in_russian_by_default(stub: Stub) -> None:
    stub.then(200, b"<html/>")
    i18n.set_language("ru")
    with HttpGateway(stub.url, "k") as g, pytest.raises(Unreachable) as e:
        g.health()
    assert e.value.message == "Ответ процессинга не удалось разобрать (HTTP 200, не объект JSON)."


def test_a_transport_without_tracing_still_gets_outcomes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/health"):
            raise httpx.ConnectError("refused", request=request)
        if request.url.path.endswith("/calculate"):
            raise httpx.ReadTimeout("slow", request=request)
        raise httpx.RemoteProtocolError("reset", request=request)

    with HttpGateway("https://till.test", "k", transport=httpx.MockTransport(handler)) as g:
        with pytest.raises(Unreachable):
            g.health()
        with pytest.raises(Ambiguous, match=r"did not answer within 1\.5 s"):
            g.calculate({"lines": []}, timeout=1.5)
        with pytest.raises(Ambiguous, match="broke before its answer"):
            g.create_purchase({"purchase_id": "p1"}, "key-1")


def test_clock_skew_from_any_answer() -> None:
    reply = Reply(body={}, server_time="2026-11-23T12:00:00+00:00")
    assert clock_skew(reply, NOW - timedelta(minutes=10)) == -600.0
    health = Health(status="ok", calc="ok", server_time=NOW, version="1")
    assert clock_skew(health, NOW + timedelta(days=2)) == 172_800.0
    assert clock_skew({"server_time": "2026-11-23T15:00:00+03:00"}, NOW) == 0.0
    with pytest.raises(ValueError, match="no server time"):
        clock_skew(Reply(body={}), NOW)
    with pytest.raises(ValueError, match="aware"):
        clock_skew(reply, NOW.replace(tzinfo=None))
