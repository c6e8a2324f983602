"""Issue 12, finding 5: a till gets only its chain's active customers, and no phone or card in clear.

Reproduced before the fix: ``/sync/customers`` sent every customer of every chain with a masked
phone, card numbers and ``HMAC(key, phone)``; with the key from ``/sync/rules`` all 50 of 50 phones
came back in 0.07 s.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cashier.lookup import LookupKey, bucket, key_from_rules, matches
from processing import offline_cache
from processing.db import transaction
from processing.models import Customer, LedgerEntry, OfflineLookup
from processing.state import set_program
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_isolation import enrol


def _seen_in(service: Service, customer_id: str, chain: str | None, days_ago: int) -> None:
    """A points entry of ``customer_id`` in ``chain`` ``days_ago`` days before NOW."""
    at = NOW - timedelta(days=days_ago)
    with transaction(service.factory) as session:
        session.add(
            LedgerEntry(
                customer_id=customer_id,
                kind="earn",
                amount=Decimal(10),
                is_lot=True,
                available_from=at,
                occurred_at=at,
                created_at=at,
                chain_id=chain,
            )
        )


def _aged(service: Service, customer_id: str, days: int) -> None:
    with transaction(service.factory) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        customer.created_at = NOW - timedelta(days=days)


def _pull(service: Service, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    with service.client(token) as c:
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            reply = c.get("/sync/customers", params=params)
            assert reply.status_code == 200, reply.text
            page = reply.json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return items


@pytest.fixture
def customers(service: Service) -> Service:
    add_customer(service.factory, "c_new", "+79001110001", card="2200000000019")
    for cid, phone, chain, days in (
        ("c_iport", "+79001110002", "iport", 30),
        ("c_samsung", "+79001110003", "samsung", 30),
        ("c_lapsed", "+79001110004", "iport", 400),
    ):
        add_customer(service.factory, cid, phone)
        _aged(service, cid, 900)
        _seen_in(service, cid, chain, days)
    add_customer(service.factory, "c_imported", "+79001110005", points=100)
    _aged(service, "c_imported", 400)
    return service


def test_a_till_gets_its_chains_active_customers_only(customers: Service) -> None:
    iport = {i["id"]: i for i in _pull(customers, customers.token)}
    assert sorted(iport) == ["c_iport", "c_new"]
    assert iport["c_iport"]["active_until"] == (
        (NOW - timedelta(days=30) + timedelta(days=365)).isoformat().replace("+00:00", "Z")
    )
    assert iport["c_new"]["active_until"] == (
        (NOW + timedelta(days=365)).isoformat().replace("+00:00", "Z")
    )
    samsung = enrol(customers, "samsung-msk-1", "till")
    assert sorted(i["id"] for i in _pull(customers, samsung)) == ["c_new", "c_samsung"]


def test_a_return_group_shares_its_customers(customers: Service) -> None:
    text = (resources.files("resources.programs") / "nbclub.toml").read_text(encoding="utf-8")
    text += '\n[[returns.chain_groups]]\nchains = ["iport", "samsung"]\n'
    with transaction(customers.factory) as session:
        set_program(session, text, "nbclub.toml", now=NOW)
    samsung = enrol(customers, "samsung-msk-1", "till")
    assert sorted(i["id"] for i in _pull(customers, samsung)) == ["c_iport", "c_new", "c_samsung"]


def test_no_phone_or_card_in_clear_and_the_old_attack_finds_nothing(customers: Service) -> None:
    with customers.client() as c:
        rules = c.get("/sync/rules").json()
    items = _pull(customers, customers.token)
    text = repr(items)
    for clear in ("+7900111", "9001110", "2200000000019", "***", "Петров"):
        assert clear not in text
    key = key_from_rules(rules["phone_hash_key"], rules["lookup"])
    # the audit's pass: the old field, HMAC(key, phone), for each candidate number — a guard
    # against a fast keyed hash coming back under any name
    stored = {str(v) for i in items for v in (i.get("phone_lookup") or {}).values()}
    for n in range(10_000):
        guess = hmac.new(key.key, f"+7900111{n:04d}".encode(), hashlib.sha256).hexdigest()
        assert guess not in stored and f"sha256:{guess}" not in stored
    # what a till does instead: the bucket, then the customer's own salted digest
    new = next(i for i in items if i["id"] == "c_new")
    lookup = new["phone_lookup"]
    assert lookup["bucket"] == bucket("phone", "+79001110001", key)
    assert matches("phone", "+79001110001", key, "c_new", lookup["digest"])
    assert not matches("phone", "+79001110001", key, "c_iport", lookup["digest"])
    [card] = new["cards"]
    assert card["status"] == "active"
    assert matches("card", "2200000000019", key, "c_new", card["digest"])


def test_digests_are_computed_once(customers: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _pull(customers, customers.token)
    with transaction(customers.factory) as session:
        kept = session.scalar(select(func.count()).select_from(OfflineLookup))
    assert kept == 3  # two phones and a card
    calls: list[str] = []
    real = offline_cache.digest

    def counting(kind: Any, value: str, key: LookupKey, salt: str) -> str:
        calls.append(salt)
        return real(kind, value, key, salt)

    monkeypatch.setattr(offline_cache, "digest", counting)
    assert _pull(customers, customers.token) == first
    assert calls == []


def test_a_page_that_computes_too_long_ends_early_and_goes_on(
    customers: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(6):
        add_customer(customers.factory, f"c_more{i}", f"+7900222000{i}")
    monkeypatch.setattr(offline_cache, "PAGE_SECONDS", 0.0)  # each page: one new digest, then stop
    pages: list[int] = []
    cursor = None
    with customers.client() as c:
        while True:
            params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
            page = c.get("/sync/customers", params=params).json()
            pages.append(len(page["items"]))
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
    assert sum(pages) == 8 and max(pages) == 1 and len(pages) == 8


def test_the_active_period_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(offline_cache.ENV_ACTIVE_DAYS, raising=False)
    assert offline_cache.active_days_from_env() == 365
    monkeypatch.setenv(offline_cache.ENV_ACTIVE_DAYS, "90")
    assert offline_cache.active_days_from_env() == 90
    for bad in ("0", "forever", "٣٠", "4000"):
        monkeypatch.setenv(offline_cache.ENV_ACTIVE_DAYS, bad)
        with pytest.raises(ValueError, match=offline_cache.ENV_ACTIVE_DAYS):
            offline_cache.active_days_from_env()


def test_serve_refuses_a_bad_setting_before_it_listens(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LOYALTY_LANG", "PROCESSING_DB")}
    cli = [sys.executable, "-m", "processing.cli", "--lang", "en", "--db", str(tmp_path / "p.db")]
    done = subprocess.run(
        [*cli, "serve", "--sms", "log", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, offline_cache.ENV_ACTIVE_DAYS: "forever"},
    )
    assert done.returncode == 2, done.stderr
    assert (
        offline_cache.ENV_ACTIVE_DAYS in done.stderr and "processing service on" not in done.stdout
    )
