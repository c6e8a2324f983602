"""docs/offline.md scenarios 2 and 16: power lost while SQLite writes; a hot ``-wal`` deleted or a
database copied without it.

What each test can and cannot show:

- A SIGKILL stops the till in the middle of a write but keeps what reached the OS: the ``-wal``
  is left hot and SQLite must recover it on the next open (``test_2_kill_9``).
- A power cut also drops what was written but not yet fsynced.  ``synchronous=FULL`` fsyncs the WAL
  at every commit, before ``commit`` returns, so only the transaction in flight can lose frames:
  the crash images of ``test_2_power_cut`` are the database and WAL as they stood after a commit
  returned, with any prefix (and torn garbage) of the next transaction's frames.
- A deleted hot ``-wal`` is detected from the ``-shm`` index left behind (the store refuses loyalty
  operations and says why); a database file copied alone to another folder leaves no trace on the
  till, and it is the service that refuses the till's reused sequence numbers (``seq_reused``).
"""

from __future__ import annotations

import random
import shutil
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cashier.store.db import DB_NAME, WAL_LOST_NAME, StoreDamaged, open_store
from cashier.store.models import Counter as SeqCounter
from cashier.store.models import OutboxItem, Sale, SaleLine, SalePayment
from processing.db import transaction
from processing.models import Purchase, ReviewItem
from tests.faults.kill_worker import Zygote
from tests.faults.proxy import FaultProxy
from tests.faults.world import TillWorld, check_invariants, make_world
from tests.processing.conftest import Service

SEED = 20261202
WAL_HEADER, FRAME_HEADER = 32, 24


@pytest.fixture
def world(till: Service, proxy: FaultProxy, tmp_path: Path) -> Iterator[TillWorld]:
    made = make_world(till, tmp_path / "till", proxy.url)
    yield made
    made.close()


def whole(store_folder: Path) -> tuple[list[str], str]:
    """Open a till folder; every sale whole (lines, payments, its outbox item), the seqs
    contiguous; the committed sales' ids in seq order and the integrity check's verdict."""
    store = open_store(store_folder)
    try:
        with store.read() as s:
            sales = {sale.id: sale for sale in s.scalars(select(Sale))}
            items = list(s.scalars(select(OutboxItem).order_by(OutboxItem.seq)))
            for sale in sales.values():
                if sale.state != "committed":
                    continue  # a hold's trace (holding/abandoned) has no lines yet
                assert s.scalar(select(func.count()).where(SaleLine.sale_id == sale.id)), sale.id
                payments = select(func.count()).where(SalePayment.sale_id == sale.id)
                assert s.scalar(payments), sale.id
            integrity = s.connection().exec_driver_sql("PRAGMA integrity_check").scalar()
        assert store.healthy, store.problem
    finally:
        store.close()
    subjects = [i.subject for i in items if i.kind in ("purchase", "confirm")]
    assert sorted(subjects) == sorted(k for k, v in sales.items() if v.state == "committed")
    assert [i.seq for i in items] == list(range(1, len(items) + 1))
    return [str(x) for x in subjects], str(integrity)


def snapshot(folder: Path, into: Path, *, wal: bool = True, shm: bool = False) -> Path:
    """The files of a live till as a crash would leave them on disk (no transaction is open)."""
    into.mkdir(parents=True)
    names = [DB_NAME] + ([DB_NAME + "-wal"] if wal else []) + ([DB_NAME + "-shm"] if shm else [])
    for name in names:
        shutil.copyfile(folder / name, into / name)
    return into


def frame_ends(wal: bytes) -> list[int]:
    """The byte offsets where each WAL frame ends (the frame's header names its commit)."""
    page_size = struct.unpack_from(">I", wal, 8)[0]
    step = FRAME_HEADER + page_size
    return list(range(WAL_HEADER + step, len(wal) + 1, step))


@pytest.mark.skipif(sys.platform == "win32", reason="fork and SIGKILL")
def test_2_kill_9_mid_write_leaves_a_hot_wal_the_reopened_till_recovers(
    till: Service, tmp_path: Path
) -> None:
    folder = tmp_path / "till"
    world = make_world(till, folder, till.base_url)
    world.close()
    zygote = Zygote(folder, till.base_url, world.token)
    rng = random.Random(SEED)
    hot = 0
    try:
        for i in range(12):
            pid = zygote.go(i)
            zygote.expect("READY")  # the store is open (a loaded machine may take a while)
            threading.Event().wait(rng.uniform(0.15, 0.5))  # sales and sends, then the kill
            zygote.kill(pid)
            wal = folder / (DB_NAME + "-wal")
            hot += wal.exists() and wal.stat().st_size > 0
    finally:
        done = zygote.close()
    assert hot == 12, "a killed till always leaves its -wal behind (no clean close)"
    assert len(done) >= 3, f"too few sales between the kills: {len(done)}"
    # The same crash image with the -wal deleted: refused if it held anything not in the database.
    lost = snapshot(folder, tmp_path / "no-wal", wal=False, shm=True)
    header = (lost / (DB_NAME + "-shm")).read_bytes()
    unbackfilled = struct.unpack_from("=I", header, 16)[0] > struct.unpack_from("=I", header, 96)[0]
    store = open_store(lost)
    try:
        assert store.healthy is (not unbackfilled), store.problem
    finally:
        store.close()
    sales, integrity = whole(folder)  # the real folder: SQLite replays the hot -wal
    assert integrity == "ok"
    assert done <= set(sales), f"done sales lost: {done - set(sales)}"
    world.reopen()
    try:
        world.drain()
        check_invariants(world, seen_done=done)
    finally:
        world.close()


def test_2_power_cut_mid_commit_keeps_every_done_sale(
    world: TillWorld, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.down()  # offline: every sale stays in the till's queue, the service has none yet
    customer = world.customer()
    done = [world.sell("700.00", customer, redeem=10 * (i % 2)).sale_id for i in range(4)]
    before = snapshot(world.folder, tmp_path / "before")  # done sales fsynced: on disk for sure
    inflight = world.sell("900.00", customer)  # the commit the power cut hits
    after = snapshot(world.folder, tmp_path / "after")
    db_before = (before / DB_NAME).read_bytes()
    assert db_before == (after / DB_NAME).read_bytes(), "a checkpoint ran: not a WAL-tail test"
    wal_before = (before / (DB_NAME + "-wal")).read_bytes()
    wal_after = (after / (DB_NAME + "-wal")).read_bytes()
    assert wal_after.startswith(wal_before) and len(wal_after) > len(wal_before)
    rng = random.Random(SEED)
    cuts = sorted(
        {len(wal_before), len(wal_after)}
        | {e for e in frame_ends(wal_after) if e > len(wal_before)}
        | {rng.randrange(len(wal_before), len(wal_after)) for _ in range(6)}
    )
    outcomes = set()
    for n, cut in enumerate(cuts):
        image = tmp_path / f"cut{n}"
        image.mkdir()
        (image / DB_NAME).write_bytes(db_before)
        torn = wal_after[:cut] + (rng.randbytes(rng.randrange(0, 600)) if n % 2 else b"")
        (image / (DB_NAME + "-wal")).write_bytes(torn)
        sales, integrity = whole(image)
        assert integrity == "ok", (cut, integrity)
        assert sales[: len(done)] == done, f"a done sale was lost at cut {cut}"
        assert sales in (done, [*done, inflight.sale_id]), sales
        outcomes.add(len(sales))
    assert outcomes == {len(done), len(done) + 1}  # both sides of the commit point were cut
    # One crash image (the in-flight sale lost) becomes the till again and drains exactly once.
    world.close()
    shutil.rmtree(world.folder)
    image = next(tmp_path / f"cut{n}" for n, cut in enumerate(cuts) if cut == len(wal_before))
    shutil.copytree(image, world.folder)
    world.store = open_store(world.folder)
    world._wire(world.base_url)
    proxy.up()
    world.drain()
    check_invariants(world, seen_done=set(done))
    with transaction(world.service.factory) as session:
        assert session.get(Purchase, inflight.sale_id) is None


def test_16_a_deleted_hot_wal_is_refused_with_a_message(
    world: TillWorld, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.down()
    for _ in range(3):
        world.sell("500.00")
    image = snapshot(world.folder, tmp_path / "crashed", wal=False, shm=True)  # -wal deleted
    store = open_store(image)
    try:
        assert not store.healthy
        assert store.problem is not None and "till.db-wal" in store.problem
        with pytest.raises(StoreDamaged):
            store.check_healthy()
    finally:
        store.close()
    assert (image / WAL_LOST_NAME).exists()
    store = open_store(image)  # the index is rebuilt now, the marker keeps the verdict
    try:
        assert not store.healthy
    finally:
        store.close()
    (image / WAL_LOST_NAME).unlink()  # support restored the database and removed the marker
    store = open_store(image)
    try:
        assert store.healthy
    finally:
        store.close()


def test_16_a_database_copied_without_its_wal_resumes_from_the_services_numbers(
    world: TillWorld, tmp_path: Path
) -> None:
    raw = world.store.engine.raw_connection()  # the rules and settings reach the file itself
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    first = [world.sell("500.00") for _ in range(3)]  # online: sent and acknowledged
    image = snapshot(world.folder, tmp_path / "backup", wal=False)  # the mis-handled backup
    world.close()
    shutil.rmtree(world.folder)
    shutil.copytree(image, world.folder)
    world.store = open_store(world.folder)
    world._wire(world.base_url)
    assert world.store.healthy  # nothing on the till can tell: the file alone is consistent
    with world.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Sale)) == 0  # the shift is gone
    again = world.sell("800.00")  # takes seq 1 again: the service had 1-3 already
    later = world.sell("300.00")
    assert again.seq == 1
    world.drain()
    with world.store.read() as s:
        items = {i.op_id: i for i in s.scalars(select(OutboxItem))}
        counter = s.get(SeqCounter, "seq")
    assert {i.state for i in items.values()} == {"acked"}  # resumed, not quarantined
    assert sorted(i.seq for i in items.values()) == [4, 5]  # from the service's next number
    assert counter is not None and counter.value == 5
    with transaction(world.service.factory) as session:
        assert all(session.get(Purchase, d.sale_id) is not None for d in first)
        for done in (again, later):  # applied once each, under their own keys
            bought = session.get(Purchase, done.sale_id)
            assert bought is not None and bought.state == "confirmed"
        assert session.scalar(select(func.count()).select_from(Purchase)) == 5
        # The chain's admin sees it (`processing review`): the till's database went back.
        reviews = list(
            session.scalars(
                select(ReviewItem).where(
                    ReviewItem.kind == "seq_reused", ReviewItem.device_id == world.device_id
                )
            )
        )
    assert len(reviews) == 1 and "#1 " in reviews[0].reason
    item = next(i for i in items.values() if i.subject == again.sale_id)
    stale = {
        "batch_id": "resend",
        "items": [
            {
                "seq": 1,  # the old number, as a batch resent after a lost answer would carry
                "idempotency_key": item.op_id,
                "kind": item.kind,
                "occurred_at": item.occurred_at.isoformat(),
                "body": item.body,
            }
        ],
    }
    world.gateway.push_batch(stale, timeout=5.0)
    with transaction(world.service.factory) as session:
        assert session.scalar(select(func.count()).where(ReviewItem.kind == "seq_reused")) == 1
        assert session.scalar(select(func.count()).select_from(Purchase)) == 5
