"""The till's database: migrations, the single-instance lock, the integrity check, exact values."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from cashier.store.db import StoreDamaged, StoreLocked, open_store
from cashier.store.models import Base, CachedCoupon, Meta, OfflineSpend, OutboxItem

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_new_folder_gets_the_newest_schema_and_it_matches_the_models(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert store.healthy
    finally:
        store.close()
    again = open_store(tmp_path)  # reopening an up-to-date database changes nothing
    again.close()


def test_points_stay_exact(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        with store.write() as s:
            s.add(
                OfflineSpend(
                    customer_id="c", day="2026-11-23", points=Decimal("0.1") + Decimal("0.2")
                )
            )
        with store.read() as s:
            row = s.get(OfflineSpend, ("c", "2026-11-23"))
            assert row is not None and row.points == Decimal("0.3")
    finally:
        store.close()


def test_a_second_copy_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        with pytest.raises(StoreLocked) as refused:
            open_store(tmp_path)
        assert str(tmp_path) in refused.value.message
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from cashier.store.db import open_store; open_store({str(tmp_path)!r})",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert other.returncode != 0 and "StoreLocked" in other.stderr
    finally:
        store.close()
    open_store(tmp_path).close()  # free again once the first copy is gone


def test_a_damaged_database_stops_loyalty_operations(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    with store.write() as s:
        for i in range(2000):
            s.add(Meta(key=f"k{i}", value="x" * 100))
    store.close()
    db = tmp_path / "till.db"
    raw = bytearray(db.read_bytes())
    for offset in range(4096 * 3, min(len(raw), 4096 * 40), 4096):  # scribble over b-tree pages
        raw[offset + 8 : offset + 64] = b"\xff" * 56
    db.write_bytes(bytes(raw))
    for extra in ("till.db-wal", "till.db-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    damaged = open_store(tmp_path, migrate=False)
    try:
        assert not damaged.healthy
        with pytest.raises(StoreDamaged) as stopped:
            damaged.check_healthy()
        assert "integrity" in stopped.value.message or "целостност" in stopped.value.message
    finally:
        damaged.close()


def test_an_upgrade_keeps_a_full_queue(tmp_path: Path) -> None:
    """A till upgraded from the first schema with items still queued loses none of them."""
    from alembic import command

    from cashier.store.db import _alembic_config

    url = f"sqlite:///{tmp_path / 'till.db'}"
    command.upgrade(_alembic_config(url), "0001")
    import sqlite3

    with sqlite3.connect(tmp_path / "till.db") as conn:
        conn.executemany(
            "INSERT INTO outbox (seq, op_id, kind, subject, body, body_hash, state, attempts, "
            "created_at, occurred_at) VALUES (?, ?, 'purchase', ?, '{}', 'h', 'queued', 0, ?, ?)",
            [
                (i, f"op-{i}", f"p-{i}", "2026-11-23 12:00:00", "2026-11-23 12:00:00")
                for i in range(1, 101)
            ],
        )
    store = open_store(tmp_path)
    try:
        with store.read() as s:
            rows = s.scalars(select(OutboxItem).order_by(OutboxItem.seq)).all()
            assert [r.seq for r in rows] == list(range(1, 101))
            assert all(r.state == "queued" and r.created_at == NOW for r in rows)
            assert s.scalars(select(CachedCoupon)).all() == []  # the newer table exists
    finally:
        store.close()


def test_the_head_revision_constant_is_the_newest_migration(tmp_path: Path) -> None:
    """A store at HEAD_REVISION opens without Alembic; the constant must follow the migrations."""
    from alembic.script import ScriptDirectory

    from cashier.store.db import HEAD_REVISION, _alembic_config

    script = ScriptDirectory.from_config(_alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert script.get_current_head() == HEAD_REVISION
    store = open_store(tmp_path / "till")
    store.close()
    again = open_store(tmp_path / "till")  # already at head: no upgrade run
    assert again.healthy
    again.close()


def test_upgrading_to_offline_lookups_drops_the_phone_hashes_and_pulls_again(
    tmp_path: Path,
) -> None:
    """Revision 0003: no fast phone hash or card number stays on the till; the customers the
    service sent go and their sync starts over; customers registered here offline stay."""
    import sqlite3

    from alembic import command

    from cashier.store.db import DB_NAME, _alembic_config

    folder = tmp_path / "till"
    folder.mkdir()
    url = f"sqlite:///{folder / DB_NAME}"
    command.upgrade(_alembic_config(url), "0002")
    with sqlite3.connect(folder / DB_NAME) as conn:
        conn.executemany(
            "INSERT INTO customers (id, phone_hash, phone_masked, verified, local)"
            " VALUES (?, ?, ?, 0, ?)",
            [("c_1", "sha256:ab", "+7 900 ***-45-67", 0), ("local_1", "sha256:cd", None, 1)],
        )
        conn.execute("INSERT INTO cards (number, customer_id, status) VALUES ('2200', 'c_1', 'a')")
        conn.execute("INSERT INTO meta (key, value) VALUES ('customers_cursor', 'abc')")
        conn.execute("INSERT INTO meta (key, value) VALUES ('device_id', 'd_1')")
    store = open_store(folder)
    try:
        with sqlite3.connect(folder / DB_NAME) as conn:
            assert conn.execute("SELECT id FROM customers").fetchall() == [("local_1",)]
            assert conn.execute("SELECT count(*) FROM cards").fetchone() == (0,)
            assert conn.execute("SELECT key FROM meta ORDER BY key").fetchall() == [("device_id",)]
            columns = {r[1] for r in conn.execute("PRAGMA table_info(customers)")}
            assert "phone_hash" not in columns and {"phone_bucket", "phone_digest"} <= columns
            assert "number" not in {r[1] for r in conn.execute("PRAGMA table_info(cards)")}
    finally:
        store.close()
