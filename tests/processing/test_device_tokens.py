"""Issue 12, finding 7: device keys can be listed, disabled, rotated, and they expire.

Against a real served instance (SQLite and PostgreSQL):

- ``processing device list | disable | enable | rotate`` as an admin runs them (real processes);
- a disabled device is refused at once, its key still warm in the service's key cache: its next
  purchase and its next batch push;
- an expired key is refused with ``401 token_expired``, also when the cache still holds it;
- ``POST /devices/token``: a new key, the old one still working until the new one is used (a lost
  answer is asked again), then for a minute more; never past its own expiry;
- a code from ``processing device rotate`` re-enrols the same device: its id, role, store and
  sequence numbers (``last_seq``) stay.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from processing.admin import (
    ROTATION_OVERLAP,
    TOKEN_TTL,
    list_devices,
    rotate_device,
    set_device_disabled,
)
from processing.db import transaction
from processing.deps import API, AuthCache
from processing.models import Device, ReviewItem
from tests.processing import conftest
from tests.processing.conftest import NOW, Service, add_customer, run_cli
from tests.processing.test_batches import item, sale, statuses
from tests.processing.test_isolation import enrol
from tests.processing.test_purchases import post, purchase


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def ticking(migrated_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """``conftest``'s served instance (one store, one enrolled till), on ``clock``."""
    real = conftest.create_app
    monkeypatch.setattr(
        conftest, "create_app", lambda url, **kw: real(url, **{**kw, "clock": clock})
    )
    with conftest.serve(migrated_url) as started:
        yield started


def only_device(service: Service) -> Device:
    with transaction(service.factory) as session:
        (device,) = list_devices(session)
        session.expunge(device)
    return device


def device(service: Service, device_id: str) -> Device:
    with transaction(service.factory) as session:
        found = session.get(Device, device_id)
        assert found is not None
        session.expunge(found)
    return found


def push_batch(c: httpx.Client, *items: dict[str, Any]) -> httpx.Response:
    return c.post(
        "/sync/transactions", json={"batch_id": f"b-{os.urandom(6).hex()}", "items": list(items)}
    )


def error(reply: httpx.Response) -> tuple[int, str]:
    return reply.status_code, str(reply.json()["error"]["code"])


def cli(url: str, *args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    """``processing --db URL --lang LANG ARGS`` as an admin runs it."""
    done = run_cli(url, *args, lang=lang)
    assert "Traceback" not in done.stderr, done.stderr
    return done


# -- processing device list | disable | enable | rotate ---------------------------------------
def test_device_commands_list_disable_enable_and_rotate(service: Service) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    with service.client() as till:
        assert till.get("/sync/rules").status_code == 200  # seen now
        listed = json.loads(cli(service.url, "device", "list", "--json").stdout)
        assert len(listed) == 1
        (row,) = listed
        assert set(row) == {
            "id",
            "store",
            "role",
            "name",
            "created_at",
            "last_seen_at",
            "disabled",
            "token_expires_at",
        }
        assert (row["store"], row["role"], row["name"], row["disabled"]) == (
            "iport-msk-1",
            "till",
            "till 1",
            False,
        )
        assert datetime.fromisoformat(row["last_seen_at"]) == NOW
        assert datetime.fromisoformat(row["token_expires_at"]) == NOW + TOKEN_TTL
        device_id = row["id"]
        table = cli(service.url, "device", "list", "--store", "iport-msk-1").stdout
        assert device_id in table and "active" in table and "2027-11-23 12:00" in table
        russian = cli(service.url, "device", "list", lang="ru").stdout
        assert "касса" in russian and "активно" in russian, russian
        assert cli(service.url, "device", "list", "--store", "nowhere").returncode == 2

        disabled = cli(service.url, "device", "disable", device_id)
        assert disabled.returncode == 0 and device_id in disabled.stdout
        refused = post(till, "/purchases", purchase("c_1", state="confirmed", payments=[]))
        assert error(refused) == (403, "forbidden")
        assert json.loads(cli(service.url, "device", "list", "--json").stdout)[0]["disabled"]
        assert "disabled" in cli(service.url, "device", "list").stdout

        assert cli(service.url, "device", "enable", device_id).returncode == 0
        sold = post(till, "/purchases", purchase("c_1", state="confirmed", payments=[]))
        assert sold.status_code == 201, sold.text

        rotated = cli(service.url, "device", "rotate", device_id)
        assert rotated.returncode == 0, rotated.stderr
        code = rotated.stdout.strip()
        assert len(code) == 14 and device_id in rotated.stderr
        refused = post(till, "/purchases", purchase("c_1", state="confirmed", payments=[]))
        assert error(refused) == (401, "unauthenticated")  # the old key, at once
    enrolled = httpx.post(
        f"{service.base_url}{API}/devices/enroll", json={"code": code, "name": "till"}
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["device_id"] == device_id
    with service.client(enrolled.json()["token"]) as till:
        sold = post(till, "/purchases", purchase("c_1", state="confirmed", payments=[]))
        assert sold.status_code == 201, sold.text
    missing = cli(service.url, "device", "disable", "t_nobody")
    assert missing.returncode == 2 and "device list" in missing.stderr


# -- a disabled device is refused at once -----------------------------------------------------
def test_a_disabled_device_is_refused_at_once_while_its_key_is_cached(service: Service) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    identify = {"identifier": {"type": "phone", "value": "+79001234567"}}
    with service.client() as till:
        assert till.post("/customers/identify", json=identify).status_code == 200  # cached
        assert till.get("/sync/rules").status_code == 200
        sold = post(till, "/purchases", purchase("c_1", state="confirmed", payments=[]))
        assert sold.status_code == 201, sold.text
        with transaction(service.factory) as session:  # what `processing device disable` runs
            set_device_disabled(session, only_device(service).id, True)
        refused = post(till, "/purchases", purchase("c_1", state="confirmed", payments=[]))
        assert error(refused) == (403, "forbidden")
        pushed = push_batch(till, item(1, "purchase", sale("c_1")))
        assert error(pushed) == (403, "forbidden")
        # the refusal also dropped the key from this process's cache: reads are refused now too
        assert error(till.get("/sync/rules")) == (403, "forbidden")
    assert only_device(service).last_seq == 0  # nothing of the batch was applied


def test_the_key_cache_forgets_a_device_s_other_keys() -> None:
    from processing.deps import TillRef

    cache = AuthCache()
    cache.put("a", TillRef("t_1", "s", "c", "n"))
    cache.put("b", TillRef("t_1", "s", "c", "n"))
    cache.put("c", TillRef("t_2", "s", "c", "n"))
    cache.forget_device("t_1", keep="b")
    assert (cache.get("a"), cache.get("b") is not None, cache.get("c") is not None) == (
        None,
        True,
        True,
    )


# -- expiry -----------------------------------------------------------------------------------
def test_an_expired_key_is_refused_with_token_expired(ticking: Service, clock: Clock) -> None:
    expires = only_device(ticking).token_expires_at
    assert expires == NOW + TOKEN_TTL
    with ticking.client() as till:
        assert till.get("/sync/rules").status_code == 200  # the key is in the cache now
        clock.now = expires - timedelta(seconds=1)
        assert till.get("/sync/rules").status_code == 200
        clock.now = expires
        expired = till.get("/sync/rules")  # from the cache
        assert error(expired) == (401, "token_expired")
        assert "processing device rotate" in expired.json()["error"]["message"]
        assert error(till.get("/sync/rules")) == (401, "token_expired")  # from the database
        assert error(till.post("/devices/token")) == (401, "token_expired")  # too late to rotate
        assert error(push_batch(till, item(1, "purchase", sale(None)))) == (401, "token_expired")


# -- the till's own rotation ------------------------------------------------------------------
def test_rotation_gives_a_new_key_and_the_old_one_lasts_until_the_new_one_is_used(
    ticking: Service, clock: Clock
) -> None:
    before = only_device(ticking)
    clock.advance(days=340)
    with ticking.client() as old:
        first = old.post("/devices/token")
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["device_id"] == before.id
        assert datetime.fromisoformat(body["token_expires_at"]) == clock.now + TOKEN_TTL
        # the answer was lost: the old key still works, and asks again
        assert old.get("/sync/rules").status_code == 200
        again = old.post("/devices/token")
        assert again.status_code == 200, again.text
        with ticking.client(body["token"]) as lost:  # the key of the lost answer: replaced
            assert error(lost.get("/sync/rules")) == (401, "unauthenticated")
        newest = again.json()["token"]
        assert old.get("/sync/rules").status_code == 200  # the new key not used yet
        with ticking.client(newest) as new:
            assert new.get("/sync/rules").status_code == 200  # first use: the old key's minute
        clock.advance(seconds=ROTATION_OVERLAP.total_seconds() - 1)
        assert old.get("/sync/rules").status_code == 200  # still inside the overlap (cached)
        clock.advance(seconds=1)
        assert error(old.get("/sync/rules")) == (401, "token_expired")
        assert error(old.post("/devices/token")) == (401, "token_expired")
    after = device(ticking, before.id)
    assert (after.id, after.role, after.store_id, after.last_seq) == (
        before.id,
        before.role,
        before.store_id,
        before.last_seq,
    )
    assert after.token_expires_at == clock.now - ROTATION_OVERLAP + TOKEN_TTL
    with ticking.client(newest) as new:
        assert new.get("/sync/rules").status_code == 200


def test_a_replaced_key_never_outlives_its_own_expiry(ticking: Service, clock: Clock) -> None:
    expires = only_device(ticking).token_expires_at
    clock.now = expires - timedelta(days=1)
    with ticking.client() as old:
        assert old.post("/devices/token").status_code == 200  # the answer is never used
        assert old.get("/sync/rules").status_code == 200
        clock.now = expires
        assert error(old.get("/sync/rules")) == (401, "token_expired")


def test_every_role_rotates_its_own_key(ticking: Service) -> None:
    for role in ("kiosk", "desk"):
        token = enrol(ticking, "iport-msk-1", role)
        with ticking.client(token) as c:
            reply = c.post("/devices/token")
            assert reply.status_code == 200, reply.text
        with ticking.client(reply.json()["token"]) as c:
            assert c.get("/sync/rules").status_code == 200


def test_an_admin_rotation_stops_the_till_s_rotation_too(ticking: Service, clock: Clock) -> None:
    with ticking.client() as old:
        assert old.post("/devices/token").status_code == 200  # the old key is the replaced one
        with transaction(ticking.factory) as session:
            rotate_device(session, only_device(ticking).id, clock.now)
        assert error(old.post("/devices/token")) == (401, "unauthenticated")


# -- re-enrolment by a rotation code ----------------------------------------------------------
def test_a_rotation_code_re_enrols_the_same_device_with_its_sequence_numbers(
    service: Service,
) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    before = only_device(service)
    with service.client() as till:
        answer = push_batch(till, item(1, "purchase", sale("c_1")), item(2, "purchase", sale()))
        assert statuses(answer.json()) == [(1, "accepted", None), (2, "accepted", None)]
        with transaction(service.factory) as session:
            _dev, first_code, _ = rotate_device(session, before.id, NOW)
            _dev, code, expires = rotate_device(session, before.id, NOW)  # the first one is void
        assert expires == NOW + timedelta(hours=24)
        assert error(push_batch(till, item(3, "purchase", sale("c_1")))) == (
            401,
            "unauthenticated",
        )
    enroll = f"{service.base_url}{API}/devices/enroll"
    void = httpx.post(enroll, json={"code": first_code, "name": "till"})
    assert error(void) == (403, "forbidden")
    enrolled = httpx.post(enroll, json={"code": code, "name": "another name"})
    assert enrolled.status_code == 201, enrolled.text
    assert (enrolled.json()["device_id"], enrolled.json()["store_id"]) == (before.id, "iport-msk-1")
    assert datetime.fromisoformat(enrolled.json()["token_expires_at"]) == NOW + TOKEN_TTL
    assert error(httpx.post(enroll, json={"code": code, "name": "till"})) == (403, "forbidden")
    with service.client(enrolled.json()["token"]) as till:
        answer = push_batch(till, item(3, "purchase", sale("c_1")))
        assert statuses(answer.json()) == [(3, "accepted", None)]
        assert answer.json()["next_expected_seq"] == 4
    after = device(service, before.id)
    assert (after.role, after.name, after.last_seq) == ("till", before.name, 3)
    with transaction(service.factory) as session:
        devices = list(session.scalars(select(Device)))
        gaps = list(session.scalars(select(ReviewItem)))
    assert len(devices) == 1 and gaps == []
