"""The demo data loader: counts, determinism, ledger consistency, tiers, demo identities."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cashier.identifiers import is_valid_ean13, normalize_phone
from cashier.ledger import expired_lots
from cashier.ledger_time import add_months
from cashier.program import Program
from processing.customers import customer_balance, identify, lots, spend_in_window, tier_of
from processing.db import make_engine, migrate, session_factory, transaction
from processing.demo_data import DemoSummary, load_demo_data, verify_pin
from processing.models import (
    Card,
    Cashier,
    CatalogueItem,
    Chain,
    Coupon,
    Customer,
    LedgerEntry,
    Purchase,
    PurchaseLine,
    Store,
)
from processing.state import active_program

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Loaded:
    engine: Engine
    factory: sessionmaker[Session]
    summary: DemoSummary


def _load(url: str, customers: int, seed: int = 20261123) -> Loaded:
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        summary = load_demo_data(session, now=NOW, customers=customers, seed=seed)
    return Loaded(engine, factory, summary)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'processing.db'}"
    result = _load(url, 200)
    yield result
    result.engine.dispose()


@pytest.fixture
def session(loaded: Loaded) -> Iterator[Session]:
    with loaded.factory() as s:
        yield s


@pytest.fixture
def program(session: Session) -> Program:
    return active_program(session).program


def _count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_counts_match_the_summary(session: Session, loaded: Loaded) -> None:
    s = loaded.summary
    assert s.customers == _count(session, Customer) == 200
    assert s.cards == _count(session, Card)
    assert 0.6 * 200 < s.cards < 0.8 * 200
    assert s.purchases == _count(session, Purchase) > 200
    assert s.purchase_lines == _count(session, PurchaseLine) >= s.purchases
    assert s.ledger_entries == _count(session, LedgerEntry)
    assert s.coupons == _count(session, Coupon) == 30
    assert s.catalogue_items == _count(session, CatalogueItem)
    assert 180 <= s.catalogue_items <= 220
    assert s.chains == _count(session, Chain) == 6
    assert sorted(s.stores) == list(session.scalars(select(Store.id).order_by(Store.id)))
    assert len(s.stores) == 11
    assert s.cashiers == _count(session, Cashier) == 22
    assert sum(s.tiers.values()) == 200


def test_catalogue_is_valid(session: Session) -> None:
    items = list(session.scalars(select(CatalogueItem)))
    assert all(is_valid_ean13(i.sku) for i in items)
    assert all(i.price > 0 for i in items)
    weighed = [i for i in items if i.weighed]
    assert len(weighed) == 3
    assert {i.category for i in weighed} == {"accessories"}
    categories = {i.category for i in items}
    assert {
        "smartphones",
        "laptops",
        "tv",
        "headphones",
        "accessories",
        "cables",
        "smart-home",
        "services-repair",
        "gift-cards",
        "services-warranty",
    } <= categories
    phones = [i.price for i in items if i.category == "smartphones"]
    assert min(phones) >= 19_990_00
    assert max(phones) <= 149_990_00
    cables = [i.price for i in items if i.category == "cables"]
    assert min(cables) >= 490_00
    assert max(cables) <= 2_990_00


def test_cashiers_have_hashed_pins(session: Session, loaded: Loaded) -> None:
    cashiers = {c.id: c for c in session.scalars(select(Cashier))}
    assert set(loaded.summary.cashier_pins) == set(cashiers)
    assert cashiers["k_iport-msk-1_1"].role == "senior"
    assert cashiers["k_iport-msk-1_2"].role == "cashier"
    for cashier_id in ("k_iport-msk-1_1", "k_service-msk-1_2"):
        pin = loaded.summary.cashier_pins[cashier_id]
        stored = cashiers[cashier_id].pin_hash
        assert stored.startswith("scrypt$")
        assert pin not in stored.split("$")
        assert verify_pin(pin, stored)
        assert not verify_pin(f"{(int(pin) + 1) % 10000:04d}", stored)


def test_customers_look_real(session: Session) -> None:
    rows = list(session.scalars(select(Customer)))
    assert [c.id for c in sorted(rows, key=lambda c: c.id)][:2] == ["c_000001", "c_000002"]
    for c in rows:
        assert c.phone is not None
        assert normalize_phone(c.phone) == c.phone
        assert c.consents["pd_processing"] is True
        assert c.consents["terms_version"] == "2026-01"
        assert NOW - timedelta(days=3 * 366) <= c.created_at <= c.updated_at <= NOW
        if c.last_purchase_at is not None:
            assert c.created_at <= c.last_purchase_at <= NOW
    verified = sum(c.phone_verified for c in rows) / len(rows)
    with_email = sum(c.email is not None for c in rows) / len(rows)
    assert 0.75 < verified < 0.95
    assert 0.45 < with_email < 0.75
    cards = list(session.scalars(select(Card)))
    assert all(is_valid_ean13(c.number) and c.number.startswith("2200") for c in cards)


def test_purchases_agree_with_their_lines_and_ledger(session: Session) -> None:
    store_chain = {
        store: chain for store, chain in session.execute(select(Store.id, Store.chain_id))
    }
    lines: dict[str, list[PurchaseLine]] = defaultdict(list)
    for line in session.scalars(select(PurchaseLine)):
        lines[line.purchase_id].append(line)
    earned: dict[str, Decimal] = defaultdict(Decimal)
    redeemed: dict[str, Decimal] = defaultdict(Decimal)
    by_line: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for entry in session.scalars(select(LedgerEntry).where(LedgerEntry.purchase_id.is_not(None))):
        key = (entry.kind, entry.purchase_id or "", entry.line_id or "")
        by_line[key] += abs(entry.amount)
        if entry.kind == "earn":
            earned[entry.purchase_id or ""] += entry.amount
        elif entry.kind == "redeem":
            redeemed[entry.purchase_id or ""] -= entry.amount
    purchases = list(session.scalars(select(Purchase)))
    for p in purchases:
        assert p.state == "confirmed"
        assert p.device_id == "demo-import"
        assert p.chain_id == store_chain[p.store_id]
        assert p.purchase_id.startswith(f"p_{p.customer_id}_")
        own = lines[p.purchase_id]
        assert 1 <= len(own) <= 4
        assert sum(ln.final_amount for ln in own) == p.to_pay
        assert sum(ln.base_amount for ln in own) == p.base_total
        assert sum(ln.earn_points for ln in own) == p.earn_points == earned[p.purchase_id]
        assert sum(ln.redeem_points for ln in own) == p.redeem_points == redeemed[p.purchase_id]
        assert [Decimal(x["amount"]) * 100 for x in p.payments] == [p.to_pay]
        for ln in own:  # line-level ledger: each line's points sit on entries naming it
            assert by_line[("earn", p.purchase_id, ln.line_id)] == ln.earn_points
            assert by_line[("redeem", p.purchase_id, ln.line_id)] == ln.redeem_points
        assert all(
            ln.earn_points == 0 for ln in own if ln.category in ("gift-cards", "services-warranty")
        )
        assert all(ln.redeem_points == 0 for ln in own if ln.category == "gift-cards")
    assert any(p.redeem_points > 0 for p in purchases)
    assert any(p.payments[0]["type"] == "sbp" for p in purchases)


def test_every_balance_is_the_ledger_sum(session: Session, program: Program) -> None:
    """available + pending + (expired but not written off) == Σ ledger amounts, for everyone."""
    entries: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)):
        entries[entry.customer_id].append(entry)
    burnt_customers = 0
    for customer in session.scalars(select(Customer)):
        own = entries[customer.id]
        by_id = {e.id: e for e in own}
        for e in own:
            if e.lot_id is not None:  # takes name an earlier lot of the same customer
                assert e.lot_id < e.id
                assert by_id[e.lot_id].is_lot
                assert e.amount < 0
        found, loose = lots(session, customer.id)
        assert loose == 0
        assert all(lot.remaining >= 0 for lot in found)
        not_written_off = sum(
            (left for _, left in expired_lots(program, found, NOW, customer.last_purchase_at)),
            Decimal(0),
        )
        bal = customer_balance(session, program, customer, NOW)
        assert bal.available >= 0
        assert bal.pending >= 0
        assert bal.available + bal.pending + not_written_off == sum(
            (e.amount for e in own), Decimal(0)
        )
        assert not_written_off == 0  # the loader wrote every expired lot off
        if customer.last_purchase_at is not None and customer.last_purchase_at <= add_months(
            NOW, -14
        ):
            assert bal.total == 0
            left_to_burn = sum((e.amount for e in own if e.kind != "expire"), Decimal(0))
            burnt = sum((e.amount for e in own if e.kind == "expire"), Decimal(0))
            assert burnt == -left_to_burn
            burnt_customers += left_to_burn > 0
    assert burnt_customers > 0


def test_tier_mix(session: Session, program: Program, loaded: Loaded) -> None:
    counts: dict[str, int] = defaultdict(int)
    for customer in session.scalars(select(Customer)):
        counts[
            tier_of(program, customer, spend_in_window(session, program, customer, NOW)).code
        ] += 1
    assert dict(counts) == loaded.summary.tiers
    assert set(counts) == {"start", "silver", "gold"}
    assert counts["start"] > counts["gold"] > 0
    assert counts["silver"] > 0


def test_demo_identities(session: Session, program: Program, loaded: Loaded) -> None:
    s = loaded.summary

    def found(phone: str) -> Customer:
        result = identify(session, "phone", phone, NOW)
        assert result.status == "found"
        assert result.customer is not None
        return result.customer

    def tier(customer: Customer) -> str:
        return tier_of(program, customer, spend_in_window(session, program, customer, NOW)).code

    gold = found(s.gold_phone)
    assert gold.phone_verified
    assert tier(gold) == "gold"
    assert customer_balance(session, program, gold, NOW).available > 5000
    by_card = identify(session, "card", s.card_number, NOW)
    assert by_card.status == "found"
    assert by_card.customer is not None
    assert by_card.customer.id == gold.id

    silver = found(s.silver_phone)
    assert tier(silver) == "silver"

    start = found(s.start_phone)
    assert tier(start) == "start"
    assert start.phone_verified
    assert customer_balance(session, program, start, NOW).pending > 0

    unverified = found(s.unverified_phone)
    assert not unverified.phone_verified
    assert customer_balance(session, program, unverified, NOW).available > 0
    assert len({gold.id, silver.id, start.id, unverified.id}) == 4


def test_same_seed_same_data(tmp_path: Path) -> None:
    a = _load(f"sqlite:///{tmp_path / 'a.db'}", 60)
    b = _load(f"sqlite:///{tmp_path / 'b.db'}", 60)
    c = _load(f"sqlite:///{tmp_path / 'c.db'}", 60, seed=7)

    def customers(loaded: Loaded) -> list[tuple[object, ...]]:
        with loaded.factory() as session:
            columns = list(Customer.__table__.columns)
            return [tuple(row) for row in session.execute(select(*columns).order_by(Customer.id))]

    def sums(loaded: Loaded) -> dict[str, Decimal]:
        with loaded.factory() as session:
            rows = session.execute(
                select(LedgerEntry.customer_id, func.sum(LedgerEntry.amount)).group_by(
                    LedgerEntry.customer_id
                )
            )
            return {customer_id: Decimal(total) for customer_id, total in rows}

    assert customers(a) == customers(b)
    assert sums(a) == sums(b)
    assert a.summary == b.summary
    assert customers(a) != customers(c)
    for loaded in (a, b, c):
        loaded.engine.dispose()


def test_refuses_a_database_with_customers(loaded: Loaded) -> None:
    with (
        pytest.raises(ValueError, match=r"already has 200 customers|уже есть 200 покупателей"),
        transaction(loaded.factory) as session,
    ):
        load_demo_data(session, now=NOW, customers=10)


def test_refuses_a_naive_now(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with pytest.raises(ValueError, match="aware"), transaction(factory) as session:
        load_demo_data(session, now=datetime(2026, 11, 23, 12, 0), customers=10)
    engine.dispose()


def test_load_time_of_1000_customers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    started = time.perf_counter()
    with transaction(factory) as session:
        summary = load_demo_data(session, now=NOW)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nload_demo_data: 1000 customers in {elapsed:.2f} s: {summary.purchases} purchases, "
            f"{summary.ledger_entries} ledger entries, tiers {summary.tiers}"
        )
    assert summary.customers == 1000
    assert summary.coupons == 150
    with factory() as session:
        assert session.scalar(
            select(func.count()).select_from(Card).where(Card.status == "blocked")
        )
    engine.dispose()


def test_postgresql_ids_continue_after_the_demo(fresh_postgres_url: str) -> None:
    """Ledger ids are given explicitly; the sequence must move past them on PostgreSQL."""
    loaded = _load(fresh_postgres_url, 20)
    with transaction(loaded.factory) as session:
        top = session.scalar(select(func.max(LedgerEntry.id)))
        entry = LedgerEntry(
            customer_id="c_000001",
            kind="adjust",
            amount=Decimal(1),
            is_lot=True,
            available_from=NOW,
            occurred_at=NOW,
            created_at=NOW,
        )
        session.add(entry)
        session.flush()
        assert top is not None
        assert entry.id > top
    loaded.engine.dispose()
