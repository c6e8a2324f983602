"""Admin reports and the review queue on hand-made rows with known answers.

Runs on SQLite and PostgreSQL (the ``database_url`` fixture); the commands once each as real
processes on SQLite.  The text forms are read in English here (:func:`english`), and once in
Russian, the default (:func:`test_text_forms_in_russian`); tests/processing/test_command_language.py
runs the commands in both languages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cashier.i18n import get_language, set_language
from processing.admin import add_store
from processing.db import make_engine, migrate, session_factory, transaction
from processing.models import (
    AuditRecord,
    Customer,
    LedgerEntry,
    Purchase,
    PurchaseReturn,
    ReviewItem,
)
from processing.reports import (
    NO_CHAIN,
    UNKNOWN,
    Period,
    ReportError,
    StoreFigures,
    cross_chain_as_json,
    cross_chain_as_text,
    cross_chain_report,
    display_points,
    period_of_days,
    resolve_review,
    review_as_json,
    review_as_text,
    review_items,
    stores_as_json,
    stores_as_text,
    stores_report,
)
from processing.state import set_program
from tests.processing.conftest import NOW

NBCLUB = resources.files("resources").joinpath("programs", "nbclub.toml").read_text("utf-8")
NOV_1 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 15, 30, tzinfo=UTC)
OCT_15 = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
OCT_20 = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
NOVEMBER = period_of_days(date(2026, 11, 1), date(2026, 11, 30))


def _purchase(
    purchase_id: str,
    store: str,
    chain: str,
    to_pay: int,
    at: datetime,
    *,
    state: str = "confirmed",
    offline: bool = False,
    overdraft: int = 0,
) -> Purchase:
    return Purchase(
        purchase_id=purchase_id,
        device_id="t_1",
        store_id=store,
        chain_id=chain,
        customer_id="c_a",
        state=state,
        base_total=to_pay,
        to_pay=to_pay,
        redeem_points=Decimal(0),
        earn_points=Decimal(0),
        payments=[],
        offline=offline,
        overdraft=Decimal(overdraft),
        occurred_at=at,
        created_at=at,
        confirmed_at=at if state == "confirmed" else None,
    )


def seed(factory: sessionmaker[Session]) -> None:
    """Three chains; known purchases, ledger entries, a return and review items (see the tests)."""
    with transaction(factory) as session:
        set_program(session, NBCLUB, "nbclub.toml", now=NOW)
        add_store(session, "iport-msk-1", "iport", "iPort, Москва", chain_name="iPort")
        add_store(session, "samsung-msk-1", "samsung", "Samsung, Москва", chain_name="Samsung")
        add_store(session, "xiaomi-spb-1", "xiaomi", "Xiaomi, Петербург", chain_name="Xiaomi")
        session.add(
            Customer(id="c_a", phone="+79001234567", created_at=NOW, updated_at=NOW, consents={})
        )
        session.flush()
        session.add_all(
            [
                _purchase("p1", "iport-msk-1", "iport", 100_000_00, NOV_1),
                _purchase(
                    "p2", "iport-msk-1", "iport", 50_000_50, NOV_10, offline=True, overdraft=30
                ),
                _purchase("p3", "samsung-msk-1", "samsung", 20_000_00, NOV_10),
                _purchase("p4", "samsung-msk-1", "samsung", 999, NOV_10, state="held"),
                _purchase("p5", "iport-msk-1", "iport", 7_00, OCT_15),
            ]
        )
        session.flush()
        session.add(
            PurchaseReturn(
                return_id="r1",
                purchase_id="p1",
                device_id="t_1",
                points_restored=Decimal(0),
                points_revoked=Decimal(0),
                refund_amount=10_000_00,
                lines=[],
                occurred_at=NOV_10,
                created_at=NOV_10,
            )
        )

        def entry(kind: str, amount: str, at: datetime, store: str | None, **extra: Any) -> int:
            chain = {"iport-msk-1": "iport", "samsung-msk-1": "samsung", "xiaomi-spb-1": "xiaomi"}
            row = LedgerEntry(
                customer_id="c_a",
                kind=kind,
                amount=Decimal(amount),
                store_id=store,
                chain_id=chain.get(store or ""),
                occurred_at=at,
                created_at=at,
                **extra,
            )
            session.add(row)
            session.flush()
            return row.id

        lot = {"is_lot": True}
        l0 = entry("earn", "99", OCT_15, "iport-msk-1", **lot)  # before November
        l1 = entry("earn", "1500", NOV_1, "iport-msk-1", **lot)
        l2 = entry("earn", "750", NOV_10, "iport-msk-1", **lot)
        l3 = entry("earn", "300", NOV_10, "samsung-msk-1", **lot)
        entry("earn", "0.1", NOV_10, "xiaomi-spb-1", **lot)
        entry("earn", "0.2", NOV_10, "xiaomi-spb-1", **lot)
        opening = entry("opening", "500", NOV_1, None, **lot)
        entry("redeem", "-11", OCT_20, "samsung-msk-1", lot_id=l0)  # before November
        entry("redeem", "-200", NOV_10, "samsung-msk-1", lot_id=l1)  # iport → samsung
        entry("redeem", "-50", NOV_10, "iport-msk-1", lot_id=l1)  # iport → iport
        entry("redeem", "-70", NOV_10, "iport-msk-1", lot_id=l3)  # samsung → iport
        entry("redeem", "-30", NOV_10, "iport-msk-1", purchase_id="p2")  # loose: overdraft
        entry("redeem", "-25", NOV_10, "xiaomi-spb-1", lot_id=opening)  # no chain → xiaomi
        entry("hold", "-40", NOV_10, "samsung-msk-1", lot_id=l2, expires_at=NOV_10)
        entry("release", "40", NOV_10, "samsung-msk-1", lot_id=l2, expires_at=NOV_10)

        for kind, at, resolved, amount in (
            ("overdraft", NOV_1, None, Decimal(30)),
            ("rejected", NOV_10, None, None),
            ("seq_gap", NOV_10 + timedelta(hours=1), NOV_10 + timedelta(hours=2), None),
        ):
            session.add(
                ReviewItem(
                    kind=kind,
                    device_id="t_1",
                    store_id="iport-msk-1",
                    customer_id="c_a" if kind != "seq_gap" else None,
                    purchase_id="p2" if kind == "overdraft" else None,
                    amount=amount,
                    reason=f"{kind} reason",
                    created_at=at,
                    resolved_at=resolved,
                )
            )


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    migrate(database_url)
    engine = make_engine(database_url)
    made = session_factory(engine)
    seed(made)
    try:
        yield made
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """The text forms in English (Russian is the default): the assertions read English words."""
    before = get_language()
    set_language("en")
    try:
        yield
    finally:
        set_language(before)


def _store(rows: list[StoreFigures], store_id: str) -> StoreFigures:
    (row,) = [r for r in rows if r.store_id == store_id]
    return row


def test_stores_report_in_november(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        report = stores_report(session, NOVEMBER)
    assert [r.store_id for r in report.stores] == ["iport-msk-1", "samsung-msk-1", "xiaomi-spb-1"]
    iport = _store(report.stores, "iport-msk-1")
    assert (iport.purchases, iport.sales) == (2, 150_000_50)
    assert (iport.points_earned, iport.points_redeemed) == (Decimal(2250), Decimal(150))
    assert (iport.returns, iport.refunds) == (1, 10_000_00)
    assert (iport.overdrafts, iport.overdraft_points) == (1, Decimal(30))
    assert (iport.offline_purchases, iport.offline_share) == (1, Decimal("0.5"))
    samsung = _store(report.stores, "samsung-msk-1")
    assert (samsung.purchases, samsung.sales) == (1, 20_000_00)  # the held purchase is not counted
    assert (samsung.points_earned, samsung.points_redeemed) == (Decimal(300), Decimal(200))
    assert (samsung.returns, samsung.overdrafts, samsung.offline_share) == (0, 0, Decimal(0))
    xiaomi = _store(report.stores, "xiaomi-spb-1")
    assert (xiaomi.purchases, xiaomi.sales) == (0, 0)
    assert xiaomi.points_earned == Decimal("0.3")  # exact on SQLite too
    assert xiaomi.points_redeemed == Decimal(25)
    assert [c.name for c in report.chains] == ["iPort", "Samsung", "Xiaomi"]
    assert report.chains[0].sales == 150_000_50
    total = report.total
    assert (total.purchases, total.sales, total.returns, total.refunds) == (
        3,
        170_000_50,
        1,
        10_000_00,
    )
    assert (total.points_earned, total.points_redeemed) == (Decimal("2550.3"), Decimal(375))
    assert total.offline_share == Decimal("0.3333")

    data = stores_as_json(report)
    assert data["since"] == "2026-11-01T00:00:00+00:00"
    assert data["until"] == "2026-12-01T00:00:00+00:00"
    assert data["total"]["sales"] == "170000.50"
    assert data["total"]["points_earned"] == "2550.3"
    assert data["stores"][0]["refunds"] == "10000.00"
    assert data["stores"][0]["offline_share"] == "0.5000"
    json.dumps(data)
    text = stores_as_text(report)
    assert "150\u202f000,50 ₽" in text and "170\u202f000,50 ₽" in text
    assert "= all chains" in text


def test_stores_report_all_time_counts_october_too(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        report = stores_report(session, Period())
    iport = _store(report.stores, "iport-msk-1")
    assert (iport.purchases, iport.sales, iport.points_earned) == (3, 150_007_50, Decimal(2349))
    assert _store(report.stores, "samsung-msk-1").points_redeemed == Decimal(211)


def test_cross_chain_matrix(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        report = cross_chain_report(session, NOVEMBER)
        everything = cross_chain_report(session, Period())
    assert report.cells == {
        ("iport", "samsung"): Decimal(200),
        ("iport", "iport"): Decimal(50),
        ("samsung", "iport"): Decimal(70),
        (UNKNOWN, "iport"): Decimal(30),
        (NO_CHAIN, "xiaomi"): Decimal(25),
    }
    assert report.off_diagonal == Decimal(270)
    assert report.unknown == Decimal(30)
    assert report.total == Decimal(375)
    assert report.earned_chains == ["iport", "samsung", NO_CHAIN, UNKNOWN]
    assert report.spent_chains == ["iport", "samsung", "xiaomi"]
    assert everything.cell("iport", "samsung") == Decimal(211)
    assert everything.off_diagonal == Decimal(281)

    data = cross_chain_as_json(report)
    assert data["matrix"]["iport"] == {"iport": "50", "samsung": "200", "xiaomi": "0"}
    assert data["matrix"][UNKNOWN]["iport"] == "30"
    assert (data["off_diagonal"], data["unknown"], data["total"]) == ("270", "30", "375")
    text = cross_chain_as_text(report)
    assert "earned in one chain, spent in another: 270" in text
    lines = text.splitlines()
    assert lines[1].split() == ["earned", "\\", "spent", "iport", "samsung", "xiaomi", "total"]
    assert lines[3].split() == ["iport", "50", "200", "0", "250"]


def test_an_empty_period_has_no_figures(factory: sessionmaker[Session]) -> None:
    empty = period_of_days(date(2020, 1, 1), date(2020, 1, 31))
    with transaction(factory) as session:
        report = cross_chain_report(session, empty)
        stores = stores_report(session, empty)
    assert report.cells == {} and "no redemptions" in cross_chain_as_text(report)
    assert stores.total.purchases == 0 and len(stores.stores) == 3
    with pytest.raises(ReportError):
        period_of_days(date(2026, 11, 2), date(2026, 11, 1))


def test_review_list_and_resolve(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        open_items = review_items(session)
        every = review_items(session, include_resolved=True)
    assert [r.kind for r in open_items] == ["rejected", "overdraft"]  # newest first
    assert [r.kind for r in every] == ["seq_gap", "rejected", "overdraft"]
    overdraft = open_items[1]
    assert (overdraft.store_id, overdraft.customer_id, overdraft.purchase_id) == (
        "iport-msk-1",
        "c_a",
        "p2",
    )
    assert overdraft.amount == Decimal(30)
    assert review_as_json(open_items)[1]["amount"] == "30"
    assert "overdraft reason" in review_as_text(open_items)

    at = NOW + timedelta(minutes=5)
    with transaction(factory) as session:
        done = resolve_review(session, overdraft.id, now=at, note="customer paid in cash")
    assert done.resolved_at == at
    with transaction(factory) as session:
        assert [r.kind for r in review_items(session)] == ["rejected"]
        audit = session.scalars(select(AuditRecord).where(AuditRecord.action == "review_resolve"))
        (row,) = audit.all()
        assert row.subject == f"review_items:{overdraft.id}"
        assert row.detail["note"] == "customer paid in cash"
    for item_id in (overdraft.id, 999_999):
        with pytest.raises(ReportError), transaction(factory) as session:
            resolve_review(session, item_id, now=at)


def test_text_forms_in_russian(factory: sessionmaker[Session]) -> None:
    set_language("ru")  # the default of every command; the fixture puts English back
    with transaction(factory) as session:
        stores = stores_report(session, NOVEMBER)
        cross = cross_chain_report(session, Period())
        empty = cross_chain_report(session, period_of_days(date(2020, 1, 1), date(2020, 1, 2)))
        rows = review_items(session, include_resolved=True)
    text = stores_as_text(stores)
    assert text.startswith("магазины с 2026-11-01 00:00 до 2026-12-01 00:00 UTC\n"), text
    assert text.splitlines()[1].split()[:4] == ["магазин", "сеть", "покупки", "продажи"]
    assert "= все сети" in text and "150\u202f000,50 ₽" in text
    matrix = cross_chain_as_text(cross)
    assert matrix.startswith("баллы: где начислены (строки) и где списаны (столбцы) за всё время")
    assert matrix.splitlines()[1].split() == [
        "начислено",
        "\\",
        "списано",
        "iport",
        "samsung",
        "xiaomi",
        "итого",
    ]
    labels = [line.split()[0] for line in matrix.splitlines()[3:7]]
    assert labels == ["iport", "samsung", "(без", "неизвестно"]  # (no chain), unknown
    assert "начислено в одной сети, списано в другой: 281" in matrix
    assert cross_chain_as_text(empty).endswith("\nза этот период списаний не было")
    assert cross_chain_as_json(cross)["matrix"][UNKNOWN]["iport"] == "30"  # JSON: not translated
    assert NO_CHAIN in cross_chain_as_json(cross)["matrix"]
    listed = review_as_text(rows, include_resolved=True)
    assert listed.splitlines()[0].split()[:3] == ["id", "когда", "(UTC)"]
    assert "пропуск номеров" in listed and "перерасход" in listed
    assert [r["kind"] for r in review_as_json(rows)] == ["seq_gap", "rejected", "overdraft"]
    assert review_as_text([]) == "проверять нечего"
    with pytest.raises(ReportError, match="поменяйте их местами"):
        period_of_days(date(2026, 11, 2), date(2026, 11, 1))


def test_display_points() -> None:
    assert display_points(Decimal("1234567.5000")) == "1\u202f234\u202f567,5"
    assert display_points(Decimal("150.0000")) == "150"
    assert display_points(Decimal("-0.25")) == "−0,25"
    assert display_points(Decimal(0)) == "0"


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processing.cli", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LOYALTY_LANG": "en"},  # the assertions read the English lines
    )


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    db = tmp_path / "p.db"
    url = f"sqlite:///{db}"
    migrate(url)
    engine = make_engine(url)
    seed(session_factory(engine))
    engine.dispose()
    return db


def test_review_commands(sqlite_db: Path) -> None:
    listed = _cli(sqlite_db, "review")
    assert listed.returncode == 0, listed.stderr
    assert "rejected reason" in listed.stdout and "seq_gap" not in listed.stdout
    items = json.loads(_cli(sqlite_db, "review", "--all", "--json").stdout)
    assert [i["kind"] for i in items] == ["seq_gap", "rejected", "overdraft"]
    overdraft = items[2]["id"]
    done = _cli(sqlite_db, "review", "resolve", str(overdraft), "--note", "ok")
    assert done.returncode == 0, done.stderr
    assert f"review item {overdraft} (overdraft) resolved" in done.stdout
    again = _cli(sqlite_db, "review", "resolve", str(overdraft))
    assert again.returncode == 2 and "already resolved" in again.stderr
    assert "Traceback" not in again.stderr


def test_report_commands(sqlite_db: Path) -> None:
    stores = _cli(
        sqlite_db, "report", "stores", "--since", "2026-11-01", "--until", "2026-11-30", "--json"
    )
    assert stores.returncode == 0, stores.stderr
    assert json.loads(stores.stdout)["total"]["sales"] == "170000.50"
    table = _cli(sqlite_db, "report", "stores", "--db", str(sqlite_db))
    assert table.returncode == 0 and "iport-msk-1" in table.stdout
    cross = _cli(sqlite_db, "report", "cross-chain", "--since", "2026-11-01", "--json")
    assert cross.returncode == 0, cross.stderr
    assert json.loads(cross.stdout)["off_diagonal"] == "270"
    assert "270" in _cli(sqlite_db, "report", "cross-chain", "--since", "2026-11-01").stdout
    bad = _cli(sqlite_db, "report", "stores", "--since", "1.11.2026")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr
