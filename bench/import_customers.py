"""Benchmark of ``processing import-customers``: how fast a legacy CSV export goes in.

What it measures: the wall time of :func:`processing.importer.import_customers` plus the commit, for
a generated file of N rows (default 100 000) with every column filled the way a real export is:
phones written several ways, names, 70 % with a plastic card (EAN-13), 80 % with a birth date
(both date formats), 50 % with an e-mail, an opening balance and a window spend with kopecks.
Each run imports a file of its own (other phones and cards), 3 runs by default; it prints each
run's time and rows/s and the median, and, once, how long checking the file alone takes (no
database).

* SQLite: always, into a fresh file in a temporary folder for each run.
* PostgreSQL: also when ``--db postgresql://...`` is given.  Use a scratch database: the script
  migrates it, sets the NBclub program if none is active, and leaves the imported customers there
  (run numbers keep the phones of later runs apart from earlier ones: pass ``--first-run`` to go on
  from where a previous bench left off).  Each run opens a new connection, as each CLI run does:
  reusing one connection made the second 100 000-row run about ten times slower (plans cached while
  the tables were empty, most likely).

Nothing is asserted: the figures are for reading.

Run: ``.venv/bin/python bench/import_customers.py [--rows N] [--runs 3] [--db URL]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from cashier.identifiers import ean13_check_digit
from processing.db import make_engine, migrate, session_factory, transaction
from processing.importer import import_customers, parse_file
from processing.state import NoProgram, active_program, set_program

SEED = 20261123
FIRST = ("Иван", "Анна", "Пётр", "Ольга", "Сергей", "Мария", "Алексей", "Елена", "Дмитрий", "Ника")
LAST = ("Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева", "Козлов", "Новикова")


def generate(path: Path, rows: int, run: int) -> None:
    """A CSV export of ``rows`` customers; phones and cards are unique to ``run`` (0–89)."""
    rng = random.Random(SEED + run)
    today = date(2026, 11, 23)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "phone,first_name,last_name,card_number,birth_date,email,opening_points,window_spend\n"
        )
        for i in range(rows):
            digits = f"9{10 + run:02d}{i:07d}"  # +7 9RR NNNNNNN: run RR, row N
            style = i % 3
            phone = (
                f"+7{digits}"
                if style == 0
                else f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
                if style == 1
                else f"+7 {digits[:3]} {digits[3:6]} {digits[6:]}"
            )
            card = ""
            if rng.random() < 0.7:
                first12 = f"22{10 + run:02d}{i:08d}"
                card = f"{first12}{ean13_check_digit(first12)}"
            birth = ""
            if rng.random() < 0.8:
                born = today - timedelta(days=rng.randint(18 * 365, 80 * 365))
                birth = born.isoformat() if i % 2 else f"{born:%d.%m.%Y}"
            email = f"user{run}x{i}@example.ru" if rng.random() < 0.5 else ""
            points = rng.randint(0, 20_000)
            spend = rng.randint(0, 300_000_00)
            out.write(
                f"{phone},{rng.choice(FIRST)},{rng.choice(LAST)},{card},{birth},{email},"
                f"{points},{spend // 100}.{spend % 100:02d}\n"
            )


def prepare(url: str) -> Engine:
    migrate(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        try:
            active_program(session)
        except NoProgram:
            text = resources.files("resources").joinpath("programs", "nbclub.toml")
            set_program(session, text.read_text(encoding="utf-8"), "nbclub.toml")
    return engine


def timed_import(engine: Engine, path: Path) -> tuple[float, int]:
    factory = session_factory(engine)
    started = time.perf_counter()
    with transaction(factory) as session:
        program = active_program(session).program
        summary = import_customers(session, path, program=program, now=datetime.now(UTC))
    return time.perf_counter() - started, summary.customers


def report(label: str, rows: int, times: list[float]) -> None:
    for n, seconds in enumerate(times, start=1):
        print(f"  {label} run {n}: {seconds:7.2f} s  {rows / seconds:9.0f} rows/s")
    median = statistics.median(times)
    print(f"  {label} median of {len(times)}: {median:.2f} s  {rows / median:.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", help="also a PostgreSQL (or other) scratch database URL")
    parser.add_argument("--first-run", type=int, default=0, help="run number to start from")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        folder = Path(tmp)
        runs = range(args.first_run, args.first_run + args.runs)
        files = []
        started = time.perf_counter()
        for run in runs:
            path = folder / f"legacy-{run}.csv"
            generate(path, args.rows, run)
            files.append(path)
        size = files[0].stat().st_size / 1e6
        print(
            f"{args.runs} files of {args.rows} rows ({size:.1f} MB each) generated in "
            f"{time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        parsed = parse_file(files[0].read_bytes(), points_scale=0, today=date(2026, 11, 23))
        assert not parsed.problems, parsed.problems[:3]
        check = time.perf_counter() - started
        print(
            f"checking one file alone (no database): {check:.2f} s, {args.rows / check:.0f} rows/s"
        )

        print("SQLite (a fresh file per run):")
        times = []
        for n, path in enumerate(files):
            engine = prepare(f"sqlite:///{folder / f'bench-{n}.db'}")
            seconds, count = timed_import(engine, path)
            assert count == args.rows
            engine.dispose()
            times.append(seconds)
        report("sqlite", args.rows, times)

        if args.db:
            print(f"{args.db.split('://', 1)[0]} ({args.db.rsplit('/', 1)[-1]}):")
            times = []
            for path in files:
                engine = prepare(args.db)  # a new connection per run, as each CLI run has
                seconds, count = timed_import(engine, path)
                engine.dispose()
                assert count == args.rows
                times.append(seconds)
            report("db", args.rows, times)


if __name__ == "__main__":
    main()
