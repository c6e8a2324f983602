"""``HttpGateway.create_handoff`` and ``HttpGateway.handoffs`` against the real processing service on
loopback: the till's key, the Idempotency-Key, the long poll's deadline of ``wait + timeout``, and
the gateway's outcomes."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from cashier import i18n
from cashier.gateway import Rejected, Unreachable
from sync.client import HttpGateway
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_handoffs import enrol


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.get_language()
    i18n.set_language("en")
    yield
    i18n.set_language(before)


@pytest.fixture
def pair(service: Service) -> Iterator[tuple[HttpGateway, HttpGateway]]:
    """Two tills of one store; the second reads with a short per-chunk read timeout, so a long
    poll only works if the gateway stretches it to the whole call."""
    add_customer(service.factory, "c_1", "+79001234567", points=100)
    short_read = httpx.Timeout(connect=3, read=0.5, write=3, pool=2)
    with (
        HttpGateway(service.base_url, service.token) as kiosk,
        HttpGateway(service.base_url, enrol(service, name="till B"), timeout=short_read) as till,
    ):
        yield kiosk, till


def test_a_handoff_from_one_till_reaches_another(pair: tuple[HttpGateway, HttpGateway]) -> None:
    kiosk, till = pair
    start = till.handoffs(0, 0, timeout=2.0)
    assert start.status == 200 and start.body["items"] == [] and start.server_time
    key = str(uuid.uuid4())
    body = {"customer_id": "c_1", "occurred_at": NOW.isoformat()}
    created = kiosk.create_handoff(body, key, timeout=2.0)
    assert created.status == 201
    assert (created.body["customer_id"], created.body["store_id"]) == ("c_1", "iport-msk-1")
    again = kiosk.create_handoff(body, key, timeout=2.0)
    assert (again.body["id"], again.replay) == (created.body["id"], "true")
    seen = till.handoffs(start.body["last_id"], 0, timeout=2.0)
    assert [i["id"] for i in seen.body["items"]] == [created.body["id"]]
    assert seen.body["items"][0]["display_name"] == "Иван П."
    assert seen.body["last_id"] == created.body["id"]
    assert kiosk.handoffs(0, 0, timeout=2.0).body["items"] == []  # never to the poster


def test_a_long_poll_may_take_wait_plus_timeout(pair: tuple[HttpGateway, HttpGateway]) -> None:
    kiosk, till = pair
    start = till.handoffs(0, 0, timeout=2.0).body["last_id"]
    began = time.monotonic()
    quiet = till.handoffs(start, 1.2, timeout=0.5)  # longer than both the timeout and the read
    assert quiet.body["items"] == [] and 1.2 <= time.monotonic() - began < 2.5

    def hand_off() -> None:
        time.sleep(0.4)
        kiosk.create_handoff({"customer_id": "c_1"}, str(uuid.uuid4()), timeout=2.0)

    thread = threading.Thread(target=hand_off)
    thread.start()
    began = time.monotonic()
    found = till.handoffs(start, 5, timeout=1.0)
    took = time.monotonic() - began
    thread.join()
    assert len(found.body["items"]) == 1
    assert took < 1.5


def test_refusals_and_unreachable(service: Service, pair: tuple[HttpGateway, HttpGateway]) -> None:
    kiosk, _till = pair
    with pytest.raises(Rejected) as refused:
        kiosk.create_handoff({"customer_id": "c_404"}, str(uuid.uuid4()), timeout=2.0)
    assert (refused.value.status, refused.value.code) == (404, "not_found")
    with pytest.raises(Rejected) as bad:
        kiosk.handoffs(0, 11, timeout=2.0)  # more than the service waits
    assert (bad.value.status, bad.value.code) == (400, "validation_error")
    with pytest.raises(ValueError, match="Idempotency-Key"):
        kiosk.create_handoff({"customer_id": "c_1"}, "", timeout=2.0)
    with pytest.raises(ValueError, match="wait"):
        kiosk.handoffs(0, -1, timeout=2.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with HttpGateway(f"http://127.0.0.1:{closed}", service.token) as nowhere:
        with pytest.raises(Unreachable):
            nowhere.handoffs(0, 1, timeout=1.0)
        with pytest.raises(Unreachable):
            nowhere.create_handoff({"customer_id": "c_1"}, str(uuid.uuid4()), timeout=1.0)
