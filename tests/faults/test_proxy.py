"""The fault proxy against a real processing service on loopback (SQLite), with plain httpx.

Timing assertions are lower bounds only; waits for the server side go through the proxy's log
(``wait_for``), never through sleeps.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.faults.proxy import Fault, FaultProxy
from tests.processing.conftest import NOW, Service

IDENTIFY = {"identifier": {"type": "phone", "value": "+79001234567"}}


def client(service: Service, base_url: str, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(
        base_url=base_url + "/api/v1",
        headers={"Authorization": f"Bearer {service.token}"},
        timeout=timeout,
    )


@pytest.fixture
def direct(till: Service) -> Iterator[httpx.Client]:
    with client(till, till.base_url) as c:
        yield c


@pytest.fixture
def proxied(till: Service, proxy: FaultProxy) -> Iterator[httpx.Client]:
    with client(till, proxy.url) as c:
        yield c


def sale() -> dict[str, Any]:
    """A single-phase purchase (no points spent) for ``c_1``."""
    return {
        "purchase_id": f"p_{uuid.uuid4().hex}",
        "customer": {"id": "c_1"},
        "lines": [
            {
                "line_id": "L1",
                "line_no": 1,
                "sku": "4601234567890",
                "category": "smartphones",
                "qty": "1.000",
                "unit_price": "2000.00",
            }
        ],
        "redeem_points": "0",
        "occurred_at": NOW.isoformat(),
        "state": "confirmed",
        "payments": [{"type": "card"}],
    }


def buy(c: httpx.Client, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return c.post("/purchases", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def exists(direct: httpx.Client, purchase_id: str) -> bool:
    reply = direct.get(f"/purchases/{purchase_id}")
    assert reply.status_code in (200, 404), reply.text
    return reply.status_code == 200


# -- pass-through and keep-alive ---------------------------------------------------------------


def test_pass_through_is_identical_to_direct(
    direct: httpx.Client, proxied: httpx.Client, proxy: FaultProxy
) -> None:
    for method, path, body in [
        ("GET", "/health", None),
        ("POST", "/customers/identify", IDENTIFY),
        ("GET", "/customers/c_1/balance", None),
        ("GET", "/purchases/p_missing", None),
        ("POST", "/customers/identify", {"identifier": {"type": "nope"}}),
    ]:
        headers = {"X-Request-Id": str(uuid.uuid4())}
        mine = direct.request(method, path, json=body, headers=headers)
        theirs = proxied.request(method, path, json=body, headers=headers)
        assert (theirs.status_code, theirs.content) == (mine.status_code, mine.content), path
        for name in ("content-type", "x-request-id", "content-length"):
            assert theirs.headers.get(name) == mine.headers.get(name), (path, name)

    body, key = sale(), str(uuid.uuid4())
    created = buy(proxied, body, key)
    assert created.status_code == 201, created.text
    replay = buy(direct, body, key)  # the same key and body: the proxy forwarded them intact
    assert replay.headers["Idempotent-Replay"] == "true"
    assert replay.json() == created.json()
    assert [(e.method, e.fault, e.upstream_status) for e in proxy.requests][-1] == (
        "POST",
        None,
        201,
    )


def test_keep_alive_several_requests_on_one_connection(
    proxied: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.plan(Fault.STATUS, status=503, match="/balance")
    replies = [
        proxied.get("/health"),
        proxied.post("/customers/identify", json=IDENTIFY),
        proxied.get("/customers/c_1/balance"),  # a canned 503 keeps the connection too
        buy(proxied, sale()),
        proxied.get("/customers/c_1/balance"),
        proxied.get("/health"),
    ]
    assert [r.status_code for r in replies] == [200, 200, 503, 201, 200, 200]
    assert proxy.accepted == 1
    assert {e.connection for e in proxy.requests} == {1}
    assert len(proxy.requests) == 6


def test_a_chunked_request_body_is_forwarded(proxied: httpx.Client) -> None:
    payload = b'{"identifier": {"type": "phone", "value": "+79001234567"}}'
    reply = proxied.post(
        "/customers/identify",
        content=iter([payload[:10], payload[10:]]),  # an iterator: httpx sends it chunked
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["customer"]["id"] == "c_1"


# -- scenario 3: the server commits, the answer is lost ----------------------------------------


def test_lose_reply_the_server_committed_the_client_saw_a_reset(
    direct: httpx.Client, proxied: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.plan(Fault.LOSE_REPLY, match="/purchases", method="POST")
    body, key = sale(), str(uuid.uuid4())
    with pytest.raises(httpx.TransportError) as lost:
        buy(proxied, body, key)
    assert not isinstance(lost.value, httpx.TimeoutException)
    [exchange] = proxy.requests
    assert (exchange.fault, exchange.upstream_status, exchange.answer_bytes) == (
        Fault.LOSE_REPLY,
        201,
        0,
    )
    assert exists(direct, body["purchase_id"])

    retry = buy(proxied, body, key)  # the till's retry with the same key: the first answer
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replay"] == "true"


# -- scenario 4: the client times out, the server processes late -------------------------------


@pytest.mark.parametrize("fault", [Fault.DELAY_REQUEST, Fault.DELAY_REPLY])
def test_a_delay_beyond_the_client_deadline_still_reaches_the_server(
    fault: Fault, till: Service, direct: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.plan(fault, seconds=1.0, match="/purchases")
    body = sale()
    with client(till, proxy.url, timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        buy(impatient, body)
    [exchange] = proxy.wait_for(1)
    assert (exchange.fault, exchange.upstream_status) == (fault, 201)
    assert exists(direct, body["purchase_id"])


# -- scenario 5: error statuses ----------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_an_error_status_without_forwarding(
    status: int, direct: httpx.Client, proxied: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.plan(Fault.STATUS, status=status, match="/purchases")
    body = sale()
    reply = proxied.post(
        "/purchases", json=body, headers={"Idempotency-Key": "k1", "X-Request-Id": "rid-1"}
    )
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == ("internal" if status == 500 else "unavailable")
    assert (error["retryable"], error["request_id"]) == (True, "rid-1")
    assert reply.headers["X-Request-Id"] == "rid-1"
    assert "Retry-After" not in reply.headers
    assert proxy.requests[0].upstream_status is None
    assert not exists(direct, body["purchase_id"])  # never reached the server
    assert buy(proxied, body).status_code == 201  # the rule was for one request


def test_a_500_after_the_server_committed(
    direct: httpx.Client, proxied: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.plan(Fault.STATUS, status=500, after_upstream=True, match="/purchases")
    body = sale()
    reply = buy(proxied, body)
    assert reply.status_code == 500
    assert reply.json()["error"]["code"] == "internal"
    assert proxy.requests[0].upstream_status == 201
    assert exists(direct, body["purchase_id"])


def test_a_gateway_page_instead_of_the_envelope(proxied: httpx.Client, proxy: FaultProxy) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    proxy.plan(Fault.STATUS, status=502, body=page)
    reply = proxied.get("/health")
    assert (reply.status_code, reply.content) == (502, page)
    assert reply.headers["Content-Type"].startswith("text/html")


def test_rate_limit_with_retry_after(proxied: httpx.Client, proxy: FaultProxy) -> None:
    proxy.plan(Fault.RATE_LIMIT, retry_after=2, match="/customers/identify", times=2)
    for _ in range(2):
        reply = proxied.post("/customers/identify", json=IDENTIFY)
        assert reply.status_code == 429
        assert reply.headers["Retry-After"] == "2"
        assert reply.json()["error"]["code"] == "rate_limited"
    assert proxied.post("/customers/identify", json=IDENTIFY).status_code == 200
    assert [e.fault for e in proxy.requests] == [Fault.RATE_LIMIT, Fault.RATE_LIMIT, None]


# -- scenario 9: a slow drip; connection faults --------------------------------------------------


def test_drip_sends_one_byte_per_interval(
    direct: httpx.Client, proxied: httpx.Client, proxy: FaultProxy
) -> None:
    interval = 0.002
    proxy.plan(Fault.DRIP, byte_interval=interval, match="/health")
    started = time.monotonic()
    reply = proxied.get("/health")
    elapsed = time.monotonic() - started
    assert (reply.status_code, reply.content) == (200, direct.get("/health").content)
    [exchange] = proxy.requests
    assert exchange.answer_bytes > len(reply.content)  # the head dripped too
    assert elapsed >= exchange.answer_bytes * interval
    assert proxied.get("/health").status_code == 200  # the connection is still usable


def test_refuse_resets_the_connection_without_forwarding(
    direct: httpx.Client, proxied: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.plan(Fault.REFUSE, method="POST")
    body = sale()
    with pytest.raises(httpx.TransportError) as refused:
        buy(proxied, body)
    assert not isinstance(refused.value, httpx.TimeoutException)
    assert proxy.requests[0].upstream_status is None
    assert not exists(direct, body["purchase_id"])
    assert buy(proxied, body).status_code == 201


def test_hang_until_the_client_times_out(till: Service, proxy: FaultProxy) -> None:
    proxy.plan(Fault.HANG)
    with client(till, proxy.url, timeout=0.3) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get("/health")
        assert impatient.get("/health").status_code == 200  # a new connection
    assert [(e.fault, e.upstream_status) for e in proxy.requests] == [
        (Fault.HANG, None),
        (None, 200),
    ]


# -- scenario 8: partitions and a flapping link --------------------------------------------------


def test_down_refuses_connections_and_up_accepts_them_again(
    proxied: httpx.Client, proxy: FaultProxy
) -> None:
    assert proxied.get("/health").status_code == 200  # a kept-alive connection exists
    proxy.down()
    with pytest.raises(httpx.ConnectError, match=r"(?i)refused"):
        proxied.get("/health")
    with pytest.raises(httpx.ConnectError, match=r"(?i)refused"):
        httpx.get(proxy.url + "/api/v1/health", timeout=5)
    proxy.up()
    assert proxied.get("/health").status_code == 200
    assert proxy.accepted == 2
    assert [e.connection for e in proxy.requests] == [1, 2]


def test_a_flapping_link_fails_and_recovers(proxied: httpx.Client, proxy: FaultProxy) -> None:
    proxy.flap(up_for=0.1, down_for=0.1)
    outcomes: set[str] = set()
    deadline = time.monotonic() + 4
    while outcomes != {"ok", "failed"}:
        assert time.monotonic() < deadline, f"only {outcomes} while flapping"
        try:
            outcomes.add("ok" if proxied.get("/health").status_code == 200 else "other")
        except httpx.TransportError:
            outcomes.add("failed")
    proxy.steady()
    assert proxied.get("/health").status_code == 200


# -- the plan ------------------------------------------------------------------------------------


def test_rules_match_by_method_and_path_in_plan_order(
    proxied: httpx.Client, proxy: FaultProxy
) -> None:
    first = proxy.plan(Fault.STATUS, status=503, match="/customers/", method="post", times=2)
    proxy.plan(Fault.STATUS, status=504, match="/customers/", times=None)
    assert proxied.get("/health").status_code == 200  # no rule matches
    assert proxied.get("/customers/c_1/balance").status_code == 504  # not a POST
    statuses = [proxied.post("/customers/identify", json=IDENTIFY).status_code for _ in range(4)]
    assert statuses == [503, 503, 504, 504]
    assert first.applied == 2
    proxy.clear()
    assert proxied.post("/customers/identify", json=IDENTIFY).status_code == 200


def test_an_unreachable_upstream_is_a_502() -> None:
    with FaultProxy(upstream=("127.0.0.1", _unused_port())) as proxy:
        reply = httpx.get(proxy.url + "/api/v1/health", timeout=5)
    assert reply.status_code == 502
    assert reply.json()["error"]["code"] == "unavailable"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fault": Fault.STATUS},
        {"fault": Fault.STATUS, "status": 200},
        {"fault": Fault.RATE_LIMIT, "status": 503},
        {"fault": Fault.DRIP},
        {"fault": Fault.DELAY_REQUEST},
        {"fault": Fault.HANG, "times": 0},
    ],
)
def test_a_plan_without_what_its_fault_needs_is_refused(kwargs: dict[str, Any]) -> None:
    proxy = FaultProxy(upstream=("127.0.0.1", 9))
    with pytest.raises(ValueError):  # noqa: PT011
        proxy.plan(**kwargs)


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
