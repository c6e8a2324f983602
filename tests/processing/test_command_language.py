"""Every ``processing`` command prints in one language (issue 11): Russian with no language set,
English with ``--lang en``; ``--json`` stays language-neutral.

The commands run as real processes with ``$LOYALTY_LANG`` unset, one test per family: the review
queue, ``report stores``, ``report cross-chain``, ``demo-data``, ``demo`` (whose lines
``tools/demo.py`` reads, in either language) and the admin commands (stores, tills, cashiers, the
program).  A Russian output must show its Russian wording and none of :data:`ENGLISH_WORDS`; an
English one its English wording and no Cyrillic (the data these tests make has none where it is
printed).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

import pytest

from processing.db import make_engine, migrate, session_factory
from tests.processing.conftest import _free_port, run_cli
from tests.processing.test_reports import seed

ROOT = Path(__file__).resolve().parents[2]
ENGLISH_WORDS = (
    # the review list, the reports, the periods
    "when",
    "kind",
    "device",
    "customer",
    "customers",
    "purchase",
    "purchases",
    "points",
    "resolved",
    "nothing",
    "items",
    "chain",
    "chains",
    "stores",
    "sales",
    "earned",
    "redeemed",
    "returns",
    "refunds",
    "overdrafts",
    "offline",
    "total",
    "from",
    "beginning",
    "now",
    "rows",
    "columns",
    "spent",
    "unknown",
    "lot",
    "redemptions",
    "period",
    "sequence",
    "swap",
    "date",
    # the demo data
    "loaded",
    "cashiers",
    "goods",
    "coupons",
    "verified",
    "pending",
    "try",
    "role",
    "senior",
    "first",
    # the admin commands
    "There",
    "valid",
    "already",
    "belongs",
    "digits",
    "set",
)
"""Words of the English messages that no Russian output may show (as whole words, once command
lines, options and ids are taken out: ``processing store add --id X`` may be in a Russian
message)."""
_COMMANDS = re.compile(r"`[^`]*`|processing [a-z -]+(?:--id \S+)?|--[a-z-]+|\S*_\S*")
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def run(
    db: Path, *args: str, lang: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``processing --db DB [--lang LANG] ARGS`` with ``$LOYALTY_LANG`` unset."""
    return run_cli(db, *args, lang=lang, check=check)


def english_words(text: str) -> list[str]:
    """The words of :data:`ENGLISH_WORDS` in ``text`` (commands, options and ids left out)."""
    prose = _COMMANDS.sub(" ", text)
    return [w for w in ENGLISH_WORDS if re.search(rf"(?<![\w-]){w}(?![\w-])", prose)]


def assert_russian(text: str, *expected: str) -> None:
    for phrase in expected:
        assert phrase in text, (phrase, text)
    assert not english_words(text), (english_words(text), text)


def assert_english(text: str, *expected: str) -> None:
    for phrase in expected:
        assert phrase in text, (phrase, text)
    assert not _CYRILLIC.search(text), text


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A SQLite database with tests/processing/test_reports.py's rows (three review items)."""
    db = tmp_path / "seeded.db"
    url = f"sqlite:///{db}"
    migrate(url)
    engine = make_engine(url)
    seed(session_factory(engine))
    engine.dispose()
    return db


def test_the_words_check_finds_english_and_passes_commands() -> None:
    assert english_words("stores from the beginning to now UTC") == [
        "stores",
        "from",
        "beginning",
        "now",
    ]
    command = "Магазина x нет: processing store add --id x ... (`processing review --all`)"
    assert english_words(command) == []
    assert english_words("укажите --customers 4; k_iport-msk-1_1: 1111") == []


def test_review(seeded: Path, tmp_path: Path) -> None:
    listed = run(seeded, "review").stdout
    assert_russian(listed, "когда (UTC)", "отклонённая офлайн-операция", "перерасход", "причина")
    every = run(seeded, "review", "--all").stdout
    assert_russian(every, "решён", "пропуск номеров")
    assert_english(
        run(seeded, "review", "--all", lang="en").stdout,
        "when (UTC)",
        "rejected offline item",
        "sequence gap",
        "resolved",
    )
    items = json.loads(run(seeded, "review", "--all", "--json").stdout)
    assert [item["kind"] for item in items] == ["seq_gap", "rejected", "overdraft"]
    assert set(items[0]) >= {"id", "kind", "created_at", "reason", "resolved_at"}

    done = items[0]["id"]  # the resolved one
    again = run(seeded, "review", "resolve", str(done), check=False)
    assert again.returncode == 2
    assert_russian(again.stderr, f"Пункт проверки {done} уже решён")
    again_en = run(seeded, "review", "resolve", str(done), lang="en", check=False)
    assert_english(again_en.stderr, f"Review item {done} was already resolved")
    missing = run(seeded, "review", "resolve", "999", check=False)
    assert_russian(missing.stderr, "Пункта проверки 999 нет")
    assert_english(
        run(seeded, "review", "resolve", "999", lang="en", check=False).stderr,
        "There is no review item 999",
    )

    empty = tmp_path / "empty.db"
    run(empty, "migrate")
    assert run(empty, "review").stdout.strip() == "проверять нечего"
    assert run(empty, "review", "--all").stdout.strip() == "пунктов проверки нет"
    assert run(empty, "review", lang="en").stdout.strip() == "nothing to review"
    assert run(empty, "review", "--all", lang="en").stdout.strip() == "no review items"


def test_report_stores(seeded: Path) -> None:
    november = ("report", "stores", "--since", "2026-11-01", "--until", "2026-11-30")
    text = run(seeded, *november).stdout
    assert_russian(
        text,
        "магазины с 2026-11-01 00:00 до 2026-12-01 00:00 UTC",
        "покупки",
        "перерасходы",
        "= все сети",
        "170\u202f000,50 ₽",  # money as it was
    )
    assert text.splitlines()[1].split()[:2] == ["магазин", "сеть"]
    assert_russian(run(seeded, "report", "stores").stdout, "магазины за всё время")
    assert_russian(
        run(seeded, "report", "stores", "--since", "2026-11-01").stdout,
        "магазины с 2026-11-01 00:00 UTC по настоящее время",
    )
    english = run(seeded, *november, lang="en").stdout
    assert_english(
        english,
        "stores from 2026-11-01 00:00 to 2026-12-01 00:00 UTC",
        "overdraft pts",
        "= all chains",
        "170\u202f000,50 ₽",
    )
    assert english.splitlines()[1].split()[:3] == ["store", "chain", "purchases"]
    data = json.loads(run(seeded, *november, "--json").stdout)
    assert data == json.loads(run(seeded, *november, "--json", lang="en").stdout)
    assert data["total"]["name"] == "total" and data["total"]["sales"] == "170000.50"

    bad = run(seeded, "report", "stores", "--since", "1.11.2026", check=False)
    assert bad.returncode == 2
    assert_russian(bad.stderr, "не дата", "YYYY-MM-DD")
    swapped = ("report", "stores", "--since", "2026-11-02", "--until", "2026-11-01")
    assert_russian(run(seeded, *swapped, check=False).stderr, "поменяйте их местами")
    assert_english(run(seeded, *swapped, lang="en", check=False).stderr, "swap them")


def test_report_cross_chain(seeded: Path) -> None:
    text = run(seeded, "report", "cross-chain").stdout
    assert_russian(
        text,
        "баллы: где начислены (строки) и где списаны (столбцы) за всё время",
        "итого",
        "(без сети)",
        "неизвестно",
        "начислено в одной сети, списано в другой: 281",
        "(перерасходы, начислено: неизвестно): 30",
    )
    english = run(seeded, "report", "cross-chain", lang="en").stdout
    assert_english(
        english,
        "points earned (rows) and spent (columns) from the beginning to now UTC",
        "(no chain)",
        "earned in one chain, spent in another: 281",
        "spent with no lot (overdrafts, earned: unknown): 30",
    )
    assert english.splitlines()[1].split()[-1] == "total"
    data = json.loads(run(seeded, "report", "cross-chain", "--json").stdout)
    assert set(data["matrix"]) == {"iport", "samsung", "(no chain)", "unknown"}  # not translated
    assert data["off_diagonal"] == "281"

    empty = ("report", "cross-chain", "--since", "2020-01-01", "--until", "2020-01-31")
    assert_russian(run(seeded, *empty).stdout, "с 2020-01-01 00:00 до 2020-02-01 00:00 UTC")
    assert run(seeded, *empty).stdout.endswith("\nза этот период списаний не было\n")
    assert run(seeded, *empty, lang="en").stdout.endswith("\nno redemptions in this period\n")


def test_demo_data(tmp_path: Path) -> None:
    loaded = run(tmp_path / "ru.db", "demo-data", "--customers", "21").stdout
    assert_russian(
        loaded,
        "демо-данные загружены: программа ",
        " 6 сетей, 11 магазинов, 22 кассира, 201 товар, 21 покупатель (",
        " купон",
        "покупатели для проверки:\n    Gold, телефон подтверждён, карта ",
        "PIN-коды кассиров (первые магазины):\n    k_iport-msk-1_1: 1111",
    )
    english = run(tmp_path / "en.db", "demo-data", "--customers", "21", lang="en").stdout
    assert_english(
        english,
        "demo data loaded: program ",
        " 6 chains, 11 stores, 22 cashiers, 201 goods, 21 customers (",
        "customers to try:\n    Gold, verified, with card ",
        "cashier PINs (first stores):\n    k_iport-msk-1_1: 1111",
    )
    assert loaded.splitlines()[1:] != english.splitlines()[1:]

    refused = run(tmp_path / "ru.db", "demo-data", check=False)
    assert refused.returncode == 2
    assert_russian(refused.stderr, "В базе уже есть 21 покупатель:")
    assert_english(
        run(tmp_path / "ru.db", "demo-data", lang="en", check=False).stderr,
        "The database already has 21 customers:",
    )
    too_few = run(tmp_path / "few.db", "demo-data", "--customers", "2", check=False)
    assert_russian(too_few.stderr, "нужно не меньше 4 покупателей")


@pytest.fixture(scope="module")
def launcher() -> ModuleType:
    """tools/demo.py, the demo launcher, imported as ``python3 tools/dev.py demo`` runs it."""
    tools = str(ROOT / "tools")
    sys.path.insert(0, tools)
    try:
        import demo
    finally:
        sys.path.remove(tools)
    return demo


@pytest.mark.parametrize("lang", [None, "en"])
def test_demo_prints_what_the_launcher_reads(
    tmp_path: Path, launcher: ModuleType, lang: str | None
) -> None:
    """``processing demo``: the guide and the code in the run's language, each line read by
    ``tools/demo.py`` (the cashiers with their PINs, the customers to try, the code, the
    database)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LOYALTY_LANG", "PROCESSING_DB")}
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    flag = ["--lang", lang] if lang else []
    port = _free_port()
    command = [sys.executable, "-m", "processing.cli", *flag, "demo", "--db", db]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--customers", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        env={**env, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"},
        cwd=tempfile.gettempdir(),
        start_new_session=os.name != "nt",
    )
    output = launcher.ServiceOutput()
    assert proc.stdout is not None
    reader = threading.Thread(target=output.read, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        assert output.serving.wait(90), "\n".join(output.lines)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = "\n".join(output.lines)
    cashiers, customers = output.guide()
    assert output.store == "iport-msk-1" and output.code, text
    assert output.database == db, text
    senior, cashier = ("senior", "cashier") if lang == "en" else ("старший кассир", "кассир")
    assert [(role, pin) for _name, role, pin in cashiers] == [(senior, "1111"), (cashier, "2222")]
    assert all(name for name, _role, _pin in cashiers), cashiers
    assert [phone for _label, phone in customers] == [
        "+79001234567",
        "+79001234568",
        "+79001234569",
        "+79001234570",
    ]
    shown = "\n".join(line for line in output.lines if not line.startswith(("INFO", "ERROR")))
    if lang == "en":
        assert customers[0][0].startswith("Gold, verified, with card "), customers
        assert "cashiers of store iport-msk-1 (name, role: PIN):" in shown
        assert "enrolment code for a till of store iport-msk-1: " in shown
    else:
        assert customers[0][0].startswith("Gold, телефон подтверждён, карта "), customers
        assert "кассиры магазина iport-msk-1 (имя, роль: PIN):" in shown
        assert "код подключения кассы магазина iport-msk-1: " in shown
        assert not english_words(shown), (english_words(shown), shown)


def test_admin_commands(tmp_path: Path) -> None:
    db = tmp_path / "admin.db"
    csv = tmp_path / "c.csv"
    csv.write_text("phone\n+79001234567\n", encoding="utf-8")
    no_program = run(db, "import-customers", str(csv), check=False)
    assert no_program.returncode == 2
    assert_russian(no_program.stderr, "программа не задана")
    assert_english(
        run(db, "import-customers", str(csv), lang="en", check=False).stderr,
        "no program is set: run `processing program set nbclub`",
    )

    def refused(*args: str, lang: str | None = None) -> str:
        result = run(db, *args, lang=lang, check=False)
        assert result.returncode == 2, result.stdout
        assert "Traceback" not in result.stderr
        return result.stderr

    bad_id = ("store", "add", "--id", "Bad id", "--chain", "iport", "--name", "X")
    assert_russian(refused(*bad_id), "Идентификатор магазина 'Bad id' не подходит")
    assert_english(refused(*bad_id, lang="en"), "The store id 'Bad id' is not valid")
    bad_chain = ("store", "add", "--id", "s1", "--chain", "Bad", "--name", "X")
    assert_russian(refused(*bad_chain), "Идентификатор сети 'Bad' не подходит")
    run(db, "store", "add", "--id", "s1", "--chain", "iport", "--name", "S")
    moved = ("store", "add", "--id", "s1", "--chain", "samsung", "--name", "S")
    assert_russian(refused(*moved), "Магазин s1 уже входит в сеть iport.")
    assert_english(refused(*moved, lang="en"), "The store s1 already belongs to the chain iport.")
    assert_russian(
        refused("enroll", "--store", "nope"),
        "Магазина nope нет. Сначала добавьте его: processing store add --id nope",
    )
    assert_english(refused("enroll", "--store", "nope", lang="en"), "There is no store nope.")
    short_pin = ("cashier", "add", "--store", "s1", "--name", "A", "--pin", "12")
    assert_russian(refused(*short_pin), "PIN-код — от 4 до 8 цифр.")
    assert_english(refused(*short_pin, lang="en"), "A PIN is 4 to 8 digits.")
    assert_russian(
        refused("cashier", "add", "--store", "nope", "--name", "A", "--pin", "1234"),
        "Магазина nope нет.",
    )
