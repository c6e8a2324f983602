"""Hand-offs on a real service (SQLite and PostgreSQL): posted by one till, seen by the other tills
of the same store only, long-polled, expired ones gone, a first call that does not replay."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from processing.admin import add_store, create_enrolment_code
from processing.db import transaction
from processing.models import Customer, Handoff, Store
from tests.processing.conftest import NOW, Service, add_customer

STORE = "iport-msk-1"


def enrol(service: Service, store_id: str = STORE, name: str = "till") -> str:
    """Enrol another device in ``store_id`` (made if missing); its key."""
    with transaction(service.factory) as session:
        if session.get(Store, store_id) is None:
            add_store(session, store_id, "iport", f"iPort {store_id}")
        code, _ = create_enrolment_code(session, store_id, NOW - timedelta(hours=1))
    reply = httpx.post(
        f"{service.base_url}/api/v1/devices/enroll", json={"code": code, "name": name}, timeout=10
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def post(c: httpx.Client, customer_id: str = "c_1", key: str | None = None) -> httpx.Response:
    body = {"customer_id": customer_id, "occurred_at": NOW.isoformat()}
    return c.post("/handoffs", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def poll(c: httpx.Client, after: int, wait: float = 0) -> dict[str, Any]:
    reply = c.get("/handoffs", params={"after": after, "wait": wait})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


@pytest.fixture
def tills(service: Service) -> Iterator[tuple[httpx.Client, httpx.Client, httpx.Client]]:
    """Till A (the service's own), till B of the same store, till C of another store."""
    add_customer(service.factory, "c_1", "+79001234567", points=100)
    add_customer(service.factory, "c_2", "+79001234568", verified=False, first_name="Ольга")
    b_token, c_token = enrol(service, name="till B"), enrol(service, "iport-spb-1", "till C")
    with service.client() as a, service.client(b_token) as b, service.client(c_token) as c:
        yield a, b, c


def test_a_handoff_reaches_the_other_tills_of_the_store_only(
    service: Service, tills: tuple[httpx.Client, httpx.Client, httpx.Client]
) -> None:
    a, b, c = tills
    start_b, start_c = poll(b, 0), poll(c, 0)
    assert start_b["items"] == [] and start_b["last_id"] == 0
    key = str(uuid.uuid4())
    created = post(a, key=key)
    assert created.status_code == 201, created.text
    data = created.json()
    assert set(data) == {"id", "customer_id", "store_id", "created_at", "expires_at", "server_time"}
    assert (data["customer_id"], data["store_id"]) == ("c_1", STORE)
    assert data["expires_at"] == (NOW + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    replay = post(a, key=key)
    assert replay.status_code == 201 and replay.json()["id"] == data["id"]
    assert replay.headers["Idempotent-Replay"] == "true"

    seen = poll(b, start_b["last_id"])
    assert [i["id"] for i in seen["items"]] == [data["id"]]
    assert seen["last_id"] == data["id"]
    item = seen["items"][0]
    assert item == {
        "id": data["id"],
        "customer_id": "c_1",
        "display_name": "Иван П.",
        "phone_masked": "+7 900 ***-45-67",
        "tier": "start",
        "tier_name": item["tier_name"],
        "verified": True,
        "created_at": data["created_at"],
        "device_id": item["device_id"],
    }
    assert item["tier_name"] and item["device_id"]
    assert poll(b, seen["last_id"])["items"] == []  # not again
    assert poll(a, 0)["items"] == [] and poll(a, start_b["last_id"])["items"] == []  # the poster
    other = poll(c, start_c["last_id"])
    assert other["items"] == [] and other["last_id"] == 0  # another store's till

    second = post(a, "c_2").json()
    newer = poll(b, seen["last_id"])
    assert [(i["id"], i["verified"]) for i in newer["items"]] == [(second["id"], False)]


def test_unknown_or_deleted_customers_are_404(
    service: Service, tills: tuple[httpx.Client, httpx.Client, httpx.Client]
) -> None:
    a, b, _c = tills
    unknown = post(a, "c_404")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    with transaction(service.factory) as session:
        customer = session.get(Customer, "c_2")
        assert customer is not None
        customer.deleted = True
    assert post(a, "c_2").status_code == 404
    missing_key = a.post("/handoffs", json={"customer_id": "c_1"})
    assert missing_key.status_code == 400
    assert missing_key.json()["error"]["code"] == "validation_error"
    naive = post_raw(a, {"customer_id": "c_1", "occurred_at": "2026-11-23T12:00:00"})
    assert naive.status_code == 400
    assert poll(b, 0)["items"] == []


def post_raw(c: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return c.post("/handoffs", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def _insert(service: Service, device_id: str, created: timedelta, lives: timedelta) -> int:
    with transaction(service.factory) as session:
        row = Handoff(
            store_id=STORE,
            device_id=device_id,
            customer_id="c_1",
            created_at=NOW + created,
            expires_at=NOW + created + lives,
        )
        session.add(row)
        session.flush()
        return row.id


def test_expired_ones_are_not_offered_and_a_first_call_does_not_replay(
    service: Service, tills: tuple[httpx.Client, httpx.Client, httpx.Client]
) -> None:
    a, b, _c = tills
    kiosk = "kiosk-1"
    expired = _insert(service, kiosk, -timedelta(minutes=10), timedelta(minutes=5))
    old = _insert(service, kiosk, -timedelta(minutes=2), timedelta(minutes=5))  # alive, not recent
    recent = _insert(service, kiosk, -timedelta(seconds=10), timedelta(minutes=5))
    first = poll(b, 0)
    assert [i["id"] for i in first["items"]] == [recent]  # only the last 30 s
    assert first["last_id"] == recent
    assert [i["id"] for i in poll(b, expired)["items"]] == [old, recent]  # never the expired one
    assert [i["id"] for i in poll(b, old)["items"]] == [recent]
    ahead = poll(b, recent + 1000)  # a cursor from another database: a first call again
    assert ([i["id"] for i in ahead["items"]], ahead["last_id"]) == ([recent], recent)
    own = poll(a, 0)
    assert own["last_id"] == recent and [i["id"] for i in own["items"]] == [recent]


def test_at_most_20_oldest_first_and_last_id_pages_on(
    service: Service, tills: tuple[httpx.Client, httpx.Client, httpx.Client]
) -> None:
    a, b, _c = tills
    start = poll(b, 0)["last_id"]
    ids = [post(a).json()["id"] for _ in range(23)]
    page = poll(b, start)
    assert [i["id"] for i in page["items"]] == ids[:20]
    assert page["last_id"] == ids[19]
    rest = poll(b, page["last_id"])
    assert [i["id"] for i in rest["items"]] == ids[20:]
    assert rest["last_id"] == ids[-1]


def test_a_long_poll_answers_soon_after_a_handoff_from_another_thread(
    service: Service, tills: tuple[httpx.Client, httpx.Client, httpx.Client]
) -> None:
    a, b, _c = tills
    start = poll(b, 0)["last_id"]
    began = time.monotonic()
    empty = poll(b, start, wait=0.4)
    waited = time.monotonic() - began
    assert empty["items"] == [] and empty["last_id"] == start
    assert 0.4 <= waited < 2.0

    posted_at: list[float] = []

    def hand_off() -> None:
        time.sleep(0.5)
        with service.client() as poster:
            reply = post(poster)
        posted_at.append(time.monotonic())
        assert reply.status_code == 201

    thread = threading.Thread(target=hand_off)
    thread.start()
    began = time.monotonic()
    found = poll(b, start, wait=5)
    answered = time.monotonic()
    thread.join()
    assert len(found["items"]) == 1
    assert answered - began < 4
    assert answered - posted_at[0] < 0.3, f"answered {answered - posted_at[0]:.3f} s after the POST"
    del a


def test_a_first_long_poll_waits_for_a_new_handoff(
    service: Service, tills: tuple[httpx.Client, httpx.Client, httpx.Client]
) -> None:
    a, b, _c = tills
    _insert(service, "kiosk-1", -timedelta(minutes=2), timedelta(minutes=5))  # old: not replayed

    def hand_off() -> None:
        time.sleep(0.3)
        post(a)

    thread = threading.Thread(target=hand_off)
    thread.start()
    found = poll(b, 0, wait=5)
    thread.join()
    assert len(found["items"]) == 1
    with transaction(service.factory) as session:
        newest = session.scalar(select(Handoff.id).order_by(Handoff.id.desc()).limit(1))
    assert found["items"][0]["id"] == found["last_id"] == newest


@pytest.mark.parametrize(
    "params",
    [
        {"after": -1},
        {"after": "x"},
        {"wait": -0.1},
        {"wait": 10.5},
        {"wait": "nan"},
        {"wait": "inf"},
    ],
)
def test_bad_queries_get_the_400_envelope(
    service: Service, params: dict[str, Any], tills: tuple[httpx.Client, httpx.Client, httpx.Client]
) -> None:
    _a, b, _c = tills
    reply = b.get("/handoffs", params=params)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "validation_error"


def test_handoffs_need_a_till_key(service: Service) -> None:
    with httpx.Client(base_url=service.base_url + "/api/v1", timeout=10) as anonymous:
        for reply in (
            anonymous.get("/handoffs"),
            anonymous.post(
                "/handoffs", json={"customer_id": "c_1"}, headers={"Idempotency-Key": "k" * 16}
            ),
        ):
            assert reply.status_code == 401
            assert reply.json()["error"]["code"] == "unauthenticated"
