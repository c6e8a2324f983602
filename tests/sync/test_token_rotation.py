"""Issue 12, finding 7, the till's side: it rotates its key before it expires and never locks
itself out; a code from ``processing device rotate`` re-enrols it without losing its queue.

A real till runtime (its store, the HTTP gateway, the background loop's round) against a served
instance whose clock the test moves (``tests/processing/test_device_tokens.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cashier.gateway import Ambiguous, Reply
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.models import Meta
from cashier.till import Draft, Item
from processing.admin import ROTATION_OVERLAP, TOKEN_TTL, create_enrolment_code, rotate_device
from processing.db import transaction
from processing.models import Device, ReviewItem
from sync import runtime
from sync.credentials import NoKeyring, load_token
from sync.runtime import TOKEN_EXPIRES, Background, TillRuntime, enroll
from tests.processing.conftest import NOW, Service
from tests.processing.test_device_tokens import Clock, clock, ticking

__all__ = ["clock", "ticking"]


@pytest.fixture
def till(
    ticking: Service, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TillRuntime]:
    """A till enrolled on ``ticking`` (its key in the file store), on the same clock."""
    monkeypatch.setenv("LOYALTY_KEYRING", "file")
    with transaction(ticking.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", clock.now)
    folder = tmp_path / "till"
    enroll(folder, ticking.base_url, code, "till 2")
    opened = TillRuntime.open(folder, clock=clock)
    try:
        yield opened
    finally:
        opened.close()


def expiry(rt: TillRuntime) -> datetime | None:
    stored = rt.meta(TOKEN_EXPIRES)
    return datetime.fromisoformat(stored) if stored else None


def works(service: Service, token: str) -> int:
    """The status of an authenticated read with ``token``."""
    with service.client(token) as c:
        return c.get("/sync/rules").status_code


def test_the_till_rotates_its_key_within_30_days_of_its_expiry(
    ticking: Service, clock: Clock, till: TillRuntime
) -> None:
    old = load_token(till.folder)
    assert old is not None and expiry(till) == NOW + TOKEN_TTL
    loop = Background(till, lambda _status: None)
    assert loop.round().online
    assert load_token(till.folder) == old  # a year ahead: nothing to do
    clock.advance(days=334)  # 31 days left
    loop.round()
    assert load_token(till.folder) == old
    clock.advance(days=2)  # 29 days left
    assert loop.round().online
    new = load_token(till.folder)
    assert new is not None and new != old
    assert till.token == new
    assert expiry(till) == clock.now + TOKEN_TTL
    assert till.meta("device_id") is not None
    assert till.gateway is not None and till.gateway.rules(None) is not None  # the new key, used
    clock.advance(seconds=ROTATION_OVERLAP.total_seconds())
    assert works(ticking, old) == 401  # the old key is gone once the new one was used
    assert works(ticking, new) == 200
    with transaction(ticking.factory) as session:
        device = session.get(Device, till.meta("device_id"))
        assert device is not None and device.token_expires_at == expiry(till)


def test_a_lost_answer_or_a_refusing_keyring_never_locks_the_till_out(
    ticking: Service, clock: Clock, till: TillRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = load_token(till.folder)
    assert old is not None and till.gateway is not None
    gateway = till.gateway
    monkeypatch.setattr(runtime, "RENEW_RETRY_S", 0.0)
    clock.advance(days=350)
    real_renew = gateway.renew_token

    def lost(*, timeout: float | None = None) -> Reply:
        real_renew(timeout=timeout)  # the service made a new key ...
        raise Ambiguous("the connection broke")  # ... the till never heard of it

    monkeypatch.setattr(gateway, "renew_token", lost)
    assert not till.renew_token_if_due()
    assert load_token(till.folder) == old and works(ticking, old) == 200

    def refuse(_folder: Path, _token: str) -> None:
        raise NoKeyring("the keyring is locked")

    monkeypatch.setattr(gateway, "renew_token", real_renew)
    monkeypatch.setattr(runtime, "save_token", refuse)
    assert not till.renew_token_if_due()
    assert load_token(till.folder) == old and works(ticking, old) == 200
    assert gateway.rules(None) is not None  # the till goes on with its old key

    monkeypatch.undo()
    monkeypatch.setenv("LOYALTY_KEYRING", "file")
    till._renew_not_before = 0.0
    assert till.renew_token_if_due()
    assert load_token(till.folder) not in (None, old)
    assert gateway.rules(None) is not None


def test_a_till_that_does_not_know_its_expiry_rotates_once(
    ticking: Service, till: TillRuntime
) -> None:
    with till.store.write() as s:  # enrolled before keys expired
        s.delete(s.get(Meta, TOKEN_EXPIRES))
    old = load_token(till.folder)
    assert till.renew_token_if_due()
    assert expiry(till) == NOW + TOKEN_TTL and load_token(till.folder) != old
    till._renew_not_before = 0.0
    assert not till.renew_token_if_due()


def _sell_offline(rt: TillRuntime) -> int:
    rt.till.went_offline()
    draft = Draft(
        lines=[
            Item(
                sku="4601234567890",
                qty=parse_quantity("1"),
                unit_price=parse_money("1000.00"),
                category="smartphones",
            )
        ],
        redeem="0",
        payments=[Payment(PaymentMethod.CARD)],
    )
    done = rt.till.commit(draft, rt.till.price(draft, online=False))
    return done.seq


def test_re_enrolling_with_a_rotation_code_keeps_the_device_and_the_queue(
    ticking: Service, clock: Clock, till: TillRuntime
) -> None:
    assert till.puller is not None and till.sender is not None
    till.puller.all()
    device_id = till.meta("device_id")
    assert _sell_offline(till) == 1
    assert till.sender.drain().acked == 1
    assert _sell_offline(till) == 2
    with transaction(ticking.factory) as session:
        assert device_id is not None
        _device, code, _ = rotate_device(session, device_id, clock.now)
    refused = till.sender.drain()  # the old key, refused at once: the item stays queued
    assert refused.acked == 0 and refused.error
    assert till.till.queue_status()["depth"] == 1
    folder = till.folder
    till.close()
    body = enroll(folder, ticking.base_url, code)
    assert body["device_id"] == device_id
    again = TillRuntime.open(folder, clock=clock)
    try:
        assert again.meta("device_id") == device_id
        assert again.till.queue_status()["depth"] == 1
        assert again.sender is not None
        again.sender.reset_backoff()
        sent = again.sender.drain()
        assert (sent.acked, sent.rejected, sent.error) == (1, 0, None)
        assert _sell_offline(again) == 3  # the till's numbering goes on
    finally:
        again.close()
    with transaction(ticking.factory) as session:
        device = session.get(Device, device_id)
        assert device is not None and device.last_seq == 2
        assert list(session.scalars(select(ReviewItem))) == []
        assert len(list(session.scalars(select(Device)))) == 2  # conftest's till and this one
    assert httpx.get(f"{ticking.base_url}/api/v1/health").status_code == 200
