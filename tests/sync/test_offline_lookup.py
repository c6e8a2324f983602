"""A till pulls its chain's customers from the real service and finds them offline by phone and
card without holding either; customers whose time on the till has passed are dropped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cashier.store.db import Store, open_store
from cashier.store.models import CachedCard, CachedCustomer, Meta
from cashier.till import ONLINE_CACHE_LIFE, Served, Till
from processing.admin import add_store, create_enrolment_code
from processing.db import transaction
from processing.models import Card
from sync.client import HttpGateway
from sync.credentials import load_token
from sync.puller import Puller
from sync.runtime import enroll
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_offline_cache import _aged, _seen_in


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "till")
    yield opened
    opened.close()


def _pulled(service: Service, store: Store, at: datetime) -> None:
    with HttpGateway(service.base_url, service.token) as gateway:
        puller = Puller(store, gateway, clock=lambda: at)
        puller.rules()  # stored the first time, not modified after
        puller.customers()


def test_found_offline_by_phone_and_card_with_nothing_in_clear(
    service: Service, store: Store
) -> None:
    add_customer(service.factory, "c_1", "+79001234567", card="2200000000019", points=300)
    add_customer(service.factory, "c_2", "+79001234568")
    _pulled(service, store, NOW)
    with store.read() as s:
        rows = list(s.scalars(select(CachedCustomer)))
        cards = list(s.scalars(select(CachedCard)))
    dump = repr([vars(r) for r in [*rows, *cards]])
    assert "+7900" not in dump and "2200000000019" not in dump and "***" not in dump
    till = Till(store, None, clock=lambda: NOW)  # no gateway: the offline path
    for typed in ("8 900 123-45-67", "2200000000019"):
        found = till.identify(typed)
        assert (found.status, found.served) == ("found", Served.OFFLINE), typed
        assert found.customer is not None and found.customer.id == "c_1"
    by_phone = till.identify("+7 900 123-45-68").customer
    assert by_phone is not None and by_phone.id == "c_2"
    assert by_phone.phone_masked == "+7 900 ***-45-68"  # the typed number, masked
    by_card = till.identify("2200000000019").customer
    assert by_card is not None and by_card.phone_masked is None
    assert till.identify("+7 900 123-45-69").status == "not_found"


def test_a_blocked_card_is_refused_offline(service: Service, store: Store) -> None:
    add_customer(service.factory, "c_1", "+79001234567", card="2200000000019")
    with transaction(service.factory) as session:
        card = session.get(Card, "2200000000019")
        assert card is not None
        card.status = "blocked"
    _pulled(service, store, NOW)
    assert Till(store, None, clock=lambda: NOW).identify("2200000000019").status == "card_blocked"


def test_customers_past_their_time_are_dropped(service: Service, store: Store) -> None:
    add_customer(service.factory, "c_1", "+79001234567", card="2200000000019")
    add_customer(service.factory, "c_2", "+79001234568")
    _aged(service, "c_2", 900)
    _seen_in(service, "c_2", "iport", 300)  # in scope for 65 more days
    _pulled(service, store, NOW)
    with store.read() as s:
        assert sorted(s.scalars(select(CachedCustomer.id))) == ["c_1", "c_2"]
    _pulled(service, store, NOW + timedelta(days=66))  # the till's clock; the service's is NOW
    with store.read() as s:
        assert sorted(s.scalars(select(CachedCustomer.id))) == ["c_1"]
        assert len(list(s.scalars(select(CachedCard)))) == 1


def test_a_customer_found_online_outside_the_sync_is_kept_a_day(
    service: Service, store: Store
) -> None:
    add_customer(service.factory, "c_far", "+79001234567")
    _aged(service, "c_far", 900)
    _seen_in(service, "c_far", "samsung", 10)  # another chain's customer: not in this till's sync
    _pulled(service, store, NOW)
    with HttpGateway(service.base_url, service.token) as gateway:
        found = Till(store, gateway, clock=lambda: NOW).identify("+7 900 123-45-67")
    assert (found.status, found.served) == ("found", Served.ONLINE)
    with store.read() as s:
        row = s.get(CachedCustomer, "c_far")
        assert row is not None and row.active_until == NOW + ONLINE_CACHE_LIFE
    _pulled(service, store, NOW + timedelta(days=2))
    with store.read() as s:
        assert s.get(CachedCustomer, "c_far") is None


def test_enrolling_into_another_chain_forgets_the_old_chains_customers(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_KEYRING", "file")
    add_customer(service.factory, "c_1", "+79001234567", card="2200000000019")
    folder = tmp_path / "till2"
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
        add_store(session, "samsung-msk-1", "samsung", "Samsung, Москва")
        other, _ = create_enrolment_code(session, "samsung-msk-1", NOW)
    enroll(folder, service.base_url, code, "till")
    opened = open_store(folder)
    try:
        with HttpGateway(service.base_url, load_token(folder)) as gateway:
            Puller(opened, gateway, clock=lambda: NOW).customers()
        with opened.read() as s:
            assert s.get(CachedCustomer, "c_1") is not None
    finally:
        opened.close()
    enroll(folder, service.base_url, other, "till")
    opened = open_store(folder)
    try:
        with opened.read() as s:
            assert s.get(CachedCustomer, "c_1") is None
            assert not list(s.scalars(select(CachedCard)))
            assert s.get(Meta, "customers_cursor") is None
    finally:
        opened.close()
