"""``processing import-customers``: a legacy CSV export becomes customers, all or nothing.

Runs on SQLite and PostgreSQL (the ``database_url`` fixture); one subprocess test on SQLite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cashier.program import Program
from processing.admin import add_store
from processing.customers import customer_balance, spend_in_window
from processing.db import make_engine, migrate, session_factory, transaction
from processing.importer import ImportRejected, ImportSummary, import_customers, parse_file
from processing.models import AuditRecord, Card, Customer, LedgerEntry, PhoneWelcome
from processing.state import active_program, set_program
from tests.processing.conftest import NOW, add_customer

NBCLUB = resources.files("resources").joinpath("programs", "nbclub.toml").read_text("utf-8")
HEADER = "phone,first_name,last_name,card_number,birth_date,email,opening_points,window_spend"
CARD_1 = "2200000000002"  # valid EAN-13
CARD_2 = "2200000000019"
CARD_3 = "2200000000026"


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    migrate(database_url)
    engine = make_engine(database_url)
    made = session_factory(engine)
    with transaction(made) as session:
        set_program(session, NBCLUB, "nbclub.toml", now=NOW)
        add_store(session, "iport-msk-1", "iport", "iPort, Москва")
    try:
        yield made
    finally:
        engine.dispose()


def _csv(tmp_path: Path, text: str, name: str = "legacy.csv", *, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _import(
    factory: sessionmaker[Session], path: Path, *, store: str | None = None, dry_run: bool = False
) -> ImportSummary:
    with transaction(factory) as session:
        program = active_program(session).program
        return import_customers(
            session, path, program=program, now=NOW, store_id=store, dry_run=dry_run
        )


def _counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with transaction(factory) as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Customer, Card, LedgerEntry, AuditRecord, PhoneWelcome)
        }


def _rejected(factory: sessionmaker[Session], path: Path) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        _import(factory, path)
    return caught.value


def _by_phone(session: Session, phone: str) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.phone == phone)).one()
    return customer


def test_good_file_imports_every_row_with_exact_balances_and_audit(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        f"{HEADER},phone_verified\n"
        f"+7 900 123-45-67,Иван,Петров,{CARD_1},14.03.1985,ivan@example.ru,150,45 000.50,да\n"
        "89001112233,Анна,,,1990-01-02,,0,,\n"
        f'"8 (900) 222-33-44","Ольга","Ким",{CARD_2},,,"1 234","90000,01",0\n',
    )
    summary = _import(factory, path, store="iport-msk-1")

    assert (summary.customers, summary.cards) == (3, 2)
    assert summary.points == Decimal(1384)
    assert summary.spend == 45_000_50 + 90_000_01
    assert summary.welcomes_marked == 3
    with transaction(factory) as session:
        program: Program = active_program(session).program
        ivan = _by_phone(session, "+79001234567")
        anna = _by_phone(session, "+79001112233")
        olga = _by_phone(session, "+79002223344")
        for customer in (ivan, anna, olga):
            assert re.fullmatch(r"c_[0-9a-f]{12}", customer.id)
            assert customer.created_at == NOW
        assert (ivan.first_name, ivan.last_name, ivan.email) == (
            "Иван",
            "Петров",
            "ivan@example.ru",
        )
        assert ivan.birth_date == date(1985, 3, 14)
        assert anna.birth_date == date(1990, 1, 2)
        assert (ivan.phone_verified, anna.phone_verified, olga.phone_verified) == (
            True,
            False,
            False,
        )
        assert anna.last_name is None and anna.email is None
        assert session.get(Card, CARD_1).customer_id == ivan.id  # type: ignore[union-attr]
        assert session.get(Card, CARD_2).status == "active"  # type: ignore[union-attr]

        # balances, exact, straight from the ledger
        assert customer_balance(session, program, ivan, NOW).available == Decimal(150)
        assert customer_balance(session, program, anna, NOW).available == Decimal(0)
        assert customer_balance(session, program, olga, NOW).available == Decimal(1234)
        lots = session.scalars(select(LedgerEntry).order_by(LedgerEntry.amount)).all()
        assert [entry.amount for entry in lots] == [Decimal(150), Decimal(1234)]
        for entry in lots:
            assert entry.kind == "opening" and entry.is_lot and entry.lot_id is None
            assert entry.available_from == NOW
            assert entry.expires_at == program.earn_expires_at(NOW)
            assert (entry.store_id, entry.chain_id) == ("iport-msk-1", "iport")
        assert lots[0].customer_id == ivan.id

        # window spend carried over, counted in the tier window
        assert (ivan.opening_spend, ivan.opening_spend_at) == (45_000_50, NOW)
        assert (anna.opening_spend, anna.opening_spend_at) == (0, None)
        assert spend_in_window(session, program, olga, NOW) == 90_000_01
        assert program.tier_for_spend(spend_in_window(session, program, olga, NOW)).code == "gold"

        # one audit row per customer (file and line), one for the file
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        per_customer = {row.subject: row.detail for row in rows if row.action == "import"}
        assert per_customer[ivan.id]["file"] == "legacy.csv"
        assert [per_customer[c.id]["line"] for c in (ivan, anna, olga)] == [2, 3, 4]
        assert "welcome" in per_customer[anna.id]["welcome"]
        (file_row,) = [row for row in rows if row.action == "import_summary"]
        assert file_row.detail["customers"] == 3
        assert file_row.detail["opening_points"] == "1384"
        assert file_row.detail["window_spend"] == "135000.51"


def test_three_bad_rows_are_reported_by_line_and_nothing_is_imported(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    add_customer(factory, "c_old", "+79005556677", points=10, card=CARD_3)
    before = _counts(factory)
    path = _csv(
        tmp_path,
        f"{HEADER}\n"
        "+79001234567,Иван,,,,,10,\n"  # line 2: good
        '+79001112233,"Анна\nМария",,,,,20,\n'  # lines 3-4: good (a quoted line break)
        "+7900111,Пётр,,,,,30,\n"  # line 5: phone too short
        "\n"  # line 6: blank, skipped
        "+79002223344,Ольга,,,31.02.1990,,40,\n"  # line 7: no such date
        "+79003334455,Олег,,,,,41,\n"  # line 8: good
        "+79004445566,Нина,,,,nina@,-5,12.345\n",  # line 9: e-mail, points and spend
    )
    rejected = _rejected(factory, path)

    assert sorted({p.line for p in rejected.problems if p.line}) == [5, 7, 9]
    assert [(p.line, p.column) for p in rejected.problems] == [
        (5, "phone"),
        (7, "birth_date"),
        (9, "email"),
        (9, "opening_points"),
        (9, "window_spend"),
    ]
    text = rejected.describe()
    assert "legacy.csv" in text and "12.345" in text and "1990" in text
    assert _counts(factory) == before


def test_bom_semicolon_and_crlf(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "Phone;First_Name;opening_points;window_spend;card_number\r\n"
        "+79001234567;Иван;150;1000,50;\r\n"
        f"89001112233;Анна;0;0;{CARD_1}\r\n",
        bom=True,
    )
    summary = _import(factory, path)
    assert (summary.customers, summary.cards, summary.points) == (2, 1, Decimal(150))
    with transaction(factory) as session:
        ivan = _by_phone(session, "+79001234567")
        assert ivan.first_name == "Иван"
        assert ivan.opening_spend == 1000_50
        entry = session.scalars(select(LedgerEntry)).one()
        assert (entry.store_id, entry.chain_id) == (None, None)


def test_duplicate_phone_and_card_within_the_file(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    before = _counts(factory)
    path = _csv(
        tmp_path,
        "phone,card_number\n"
        f"+79001234567,{CARD_1}\n"
        f"8 900 123 45 67,{CARD_2}\n"  # the same phone written another way
        f"+79001112233,{CARD_1}\n"
        f",{CARD_2}\n",
    )
    rejected = _rejected(factory, path)
    assert [(p.line, p.column) for p in rejected.problems] == [
        (3, "phone"),
        (4, "card_number"),
        (5, "card_number"),
    ]
    assert "2" in rejected.problems[0].message  # names the first line
    assert _counts(factory) == before


def test_phone_or_card_of_an_existing_customer_is_an_error_not_an_overwrite(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    add_customer(factory, "c_old", "+79001234567", card=CARD_1, first_name="Старое")
    before = _counts(factory)
    path = _csv(
        tmp_path,
        "phone,first_name,card_number,email\n"
        f"+79009998877,Новое,{CARD_1},\n"
        "8 900 123-45-67,Новое,,\n"
        "+79001234567,Новое,,not-an-email\n",  # a bad row still gets its clash reported
    )
    rejected = _rejected(factory, path)
    assert [(p.line, p.column) for p in rejected.problems] == [
        (2, "card_number"),
        (3, "phone"),
        (4, "phone"),
        (4, "phone"),
        (4, "email"),
    ]
    assert sum("c_old" in p.message for p in rejected.problems) == 3
    assert _counts(factory) == before
    with transaction(factory) as session:
        assert session.get(Customer, "c_old").first_name == "Старое"  # type: ignore[union-attr]


def test_imported_phones_never_get_the_welcome_bonus(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(factory) as session:  # a phone that had its welcome under a deleted account
        session.add(PhoneWelcome(phone="+79001112233", customer_id="c_gone", given_at=NOW))
    path = _csv(tmp_path, f"phone,card_number\n+79001234567,\n+79001112233,\n,{CARD_1}\n")
    summary = _import(factory, path)
    assert summary.welcomes_marked == 1
    with transaction(factory) as session:
        welcomes = dict(session.execute(select(PhoneWelcome.phone, PhoneWelcome.customer_id)).all())
        imported = _by_phone(session, "+79001234567")
        assert welcomes == {"+79001234567": imported.id, "+79001112233": "c_gone"}
        details = [
            row.detail for row in session.scalars(select(AuditRecord)) if row.action == "import"
        ]
        assert sum(1 for d in details if d["welcome"] and "welcome bonus" in d["welcome"]) == 2


def test_decimal_points_at_the_program_scale(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(factory) as session:
        set_program(session, NBCLUB.replace("scale = 0", "scale = 2"), "cents.toml", now=NOW)
    path = _csv(tmp_path, "phone;opening_points\n+79001234567;150,25\n+79001112233;0.01\n")
    summary = _import(factory, path)
    assert summary.points == Decimal("150.26")
    with transaction(factory) as session:
        amounts = sorted(session.scalars(select(LedgerEntry.amount)))
        assert amounts == [Decimal("0.01"), Decimal("150.25")]
    too_fine = _csv(tmp_path, "phone,opening_points\n+79002223344,1.005\n", name="fine.csv")
    rejected = _rejected(factory, too_fine)
    assert [(p.line, p.column) for p in rejected.problems] == [(2, "opening_points")]


def test_dry_run_checks_everything_and_writes_nothing(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    before = _counts(factory)
    path = _csv(tmp_path, "phone,opening_points\n+79001234567,100\n")
    summary = _import(factory, path, dry_run=True)
    assert (summary.dry_run, summary.customers, summary.points) == (True, 1, Decimal(100))
    assert _counts(factory) == before


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        ("", None, None),
        ("phone\n", None, None),
        ("first_name,last_name\nИван,Петров\n", 1, None),
        ("phone,nickname\n+79001234567,x\n", 1, "nickname"),
        ("phone,phone\n+79001234567,+79001234567\n", 1, "phone"),
        ("phone,first_name\n+79001234567\n", 2, None),
        ("phone,first_name\n+79001234567,Иван\n+79001112233,Пётр,лишнее\n", 3, None),
        ("phone,phone_verified\n+79001234567,может быть\n", 2, "phone_verified"),
        ("card_number,phone_verified\n2200000000002,1\n", 2, "phone_verified"),
        ("phone,first_name\n+79001234567," + "я" * 101 + "\n", 2, "first_name"),
        ("phone,first_name,\n+79001234567,Иван,лишнее\n", 2, None),
        ('phone,first_name\n+79001234567,"Иван\n', 2, None),
    ],
)
def test_file_problems(
    factory: sessionmaker[Session],
    tmp_path: Path,
    content: str,
    line: int | None,
    column: str | None,
) -> None:
    rejected = _rejected(factory, _csv(tmp_path, content))
    assert [(p.line, p.column) for p in rejected.problems] == [(line, column)]


def test_a_trailing_delimiter_is_fine(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = _csv(tmp_path, "phone;first_name;\n+79001234567;Иван;\n+79001112233;Анна;\n")
    assert _import(factory, path).customers == 2


def test_not_utf8_names_the_line(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "cp1251.csv"
    path.write_bytes("phone,first_name\n+79001234567,Ivan\n+79001112233,Иван\n".encode("cp1251"))
    rejected = _rejected(factory, path)
    assert [(p.line, p.column) for p in rejected.problems] == [(3, None)]
    assert "UTF-8" in rejected.problems[0].message


def test_unknown_store_is_refused(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = _csv(tmp_path, "phone\n+79001234567\n")
    with pytest.raises(ImportRejected) as caught:
        _import(factory, path, store="nowhere")
    assert "store add" in caught.value.describe()


def test_parse_file_values() -> None:
    parsed = parse_file(
        (
            "phone,birth_date,opening_points,window_spend,phone_verified,email\n"
            "+79001234567,29.02.2000,1 000,0.5,TRUE,a.b@mail.example.ru\n"
            "+79001112233,2000-02-29,007,\u00a01\u00a0000,нет,\n"
        ).encode(),
        points_scale=0,
        today=date(2026, 11, 23),
    )
    assert parsed.problems == []
    first, second = parsed.customers
    assert (first.birth_date, first.points_units, first.spend, first.phone_verified) == (
        date(2000, 2, 29),
        1000,
        50,
        True,
    )
    assert (second.points_units, second.spend, second.phone_verified) == (7, 1000_00, False)
    future = parse_file(
        f"phone,birth_date\n+79001234567,{date(2026, 11, 23) + timedelta(days=1)}\n".encode(),
        points_scale=0,
        today=date(2026, 11, 23),
    )
    assert [(p.line, p.column) for p in future.problems] == [(2, "birth_date")]


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processing.cli", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LOYALTY_LANG": "en"},
    )


def test_import_customers_command(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert _cli(db, "program", "set", "nbclub").returncode == 0
    store = _cli(db, "store", "add", "--id", "iport-msk-1", "--chain", "iport", "--name", "iPort")
    assert store.returncode == 0
    bad = _csv(tmp_path, "phone,opening_points\n+79001234567,10\n123,5\n+79001112233,x\n", "b.csv")
    result = _cli(db, "import-customers", str(bad))
    assert result.returncode == 2
    assert "b.csv, line 3, column phone" in result.stderr
    assert "b.csv, line 4, column opening_points" in result.stderr
    assert "Nothing was imported (2 problems)" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""

    good = _csv(tmp_path, f"phone;card_number;opening_points\n+79001234567;{CARD_1};10\n", "g.csv")
    dry = _cli(db, "import-customers", str(good), "--dry-run")
    assert dry.returncode == 0 and "Dry run" in dry.stdout
    done = _cli(db, "import-customers", str(good), "--store", "iport-msk-1")
    assert done.returncode == 0, done.stderr
    assert "customers: 1" in done.stdout and "cards: 1" in done.stdout
    assert "opening points: 10" in done.stdout
    again = _cli(db, "import-customers", str(good), "--db", str(db))
    assert again.returncode == 2 and "already belongs to customer c_" in again.stderr


def test_digits_of_other_scripts_are_refused_by_line_and_column(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 12: ``\\d`` and ``Decimal`` take "١٠٠" (Arabic-Indic) and "１００" (full-width)."""
    path = _csv(
        tmp_path,
        f"{HEADER}\n"
        "+7 900 123-45-67,Иван,Петров,,,,١٥٠,\n"
        "+7 900 123-45-68,Анна,,,,,,１００\n"
        "+7 900 123-45-69,Олег,,,٠١.٠٢.١٩٩٠,,,\n",
    )
    before = _counts(factory)
    rejected = _rejected(factory, path)
    assert {(p.line, p.column) for p in rejected.problems} == {
        (2, "opening_points"),
        (3, "window_spend"),
        (4, "birth_date"),
    }
    assert _counts(factory) == before
