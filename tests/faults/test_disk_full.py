"""docs/offline.md scenario 15: the till's disk fills (or turns read-only) while the cashier sells.

The disk is made "full" with SQLite's own ``PRAGMA max_page_count`` on the till's connections: the
pager then refuses to grow the file with ``SQLITE_FULL``, the same result code (and the same path
through the store) as a ``write()`` that fails with ``ENOSPC``.  Read-only is ``PRAGMA
query_only``, which answers ``SQLITE_READONLY`` like a filesystem remounted read-only.  What the
cashier gets is a :class:`StoreWriteFailed` saying the sale was NOT saved and what to do; nothing
of the sale is written; the same sale goes through once space is back (Pay again).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from cashier.errors import StoreWriteFailed
from cashier.i18n import get_language, set_language
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import Store
from cashier.store.models import OutboxItem, Sale, SaleLine, SalePayment
from cashier.till import Draft, Item, Served
from tests.faults.proxy import FaultProxy
from tests.faults.world import Model, TillWorld, check_invariants, make_world
from tests.processing.conftest import Service


@pytest.fixture
def world(till: Service, proxy: FaultProxy, tmp_path: Path) -> Iterator[TillWorld]:
    made = make_world(till, tmp_path / "till", proxy.url)
    yield made
    made.close()


class Pragma:
    """A pragma on every (new) connection of the store's engine, until ``remove``."""

    def __init__(self, store: Store, pragma: str) -> None:
        self.store, self.pragma = store, pragma
        store.engine.dispose()
        event.listen(store.engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_connection: object, _record: object) -> None:
        cur = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cur.execute(f"PRAGMA {self.pragma}")
        cur.close()

    def remove(self) -> None:
        event.remove(self.store.engine, "connect", self._on_connect)
        self.store.engine.dispose()


def counts(world: TillWorld) -> tuple[int, int, int, int]:
    with world.store.read() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in (Sale, SaleLine, SalePayment, OutboxItem)
        )


def draft_for(world: TillWorld, amount: str, redeem: int = 0) -> Draft:
    return Draft(
        lines=[Item("sku-1", parse_quantity("1"), parse_money(amount), "smartphones")],
        customer=world.customer(),
        redeem=str(redeem),
        payments=[Payment(PaymentMethod.CARD)],
    )


def test_15_full_disk_refuses_the_sale_whole_and_pay_again_goes_through(
    world: TillWorld, proxy: FaultProxy
) -> None:
    model = Model(opening={"c_1": Decimal(1000)})
    proxy.down()  # the queue grows: every sale is written to the till's disk and stays there
    customer = world.customer()
    done = world.sell("500.00", customer)
    model.sold(world, done, customer)
    with world.store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    full = Pragma(world.store, f"max_page_count={pages}")
    failed: StoreWriteFailed | None = None
    for _ in range(200):  # sell until the last free page is gone
        before = counts(world)
        draft = draft_for(world, "300.00", redeem=10)
        priced = world.till.hold(draft)
        try:
            done = world.till.commit(draft, priced)
        except StoreWriteFailed as exc:
            failed = exc
            break
        model.sold(world, done, draft.customer)
    assert failed is not None, "the disk never filled"
    # What the cashier reads: what happened, that the sale was NOT saved, what to do.
    assert failed.kind == "full" and failed.code == "disk_full"
    if get_language() == "ru":
        assert "НЕ сохранена" in failed.message and "Оплата" in failed.message
    assert str(world.folder) in failed.message
    assert counts(world) == before  # nothing of it: no sale, line, payment or outbox row
    # Whatever else the cashier does meanwhile is refused cleanly too, not with a raw error.
    with pytest.raises(StoreWriteFailed, match=str(world.folder)):  # noqa: PT012 - until full
        for _ in range(50):
            world.till.set_meta("note", "x" * 4000)
    full.remove()  # space is back: Pay again, the same draft and quote
    done = world.till.commit(draft, priced)
    model.sold(world, done, draft.customer)
    assert done.served is Served.QUEUED
    proxy.up()
    world.drain()
    check_invariants(world, model=model)


def test_15_the_message_in_english(world: TillWorld) -> None:
    language = get_language()
    set_language("en")
    try:
        with world.store.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        full = Pragma(world.store, f"max_page_count={pages}")
        with pytest.raises(StoreWriteFailed) as failed:  # noqa: PT012 - until the disk is full
            for _ in range(200):
                world.sell("100.00")
        full.remove()
    finally:
        set_language(language)
    assert failed.value.message.startswith("The till's disk is full: the sale was NOT saved.")
    assert "press Pay again" in failed.value.message


def test_15_a_read_only_disk_refuses_the_sale_and_recovers(
    world: TillWorld, proxy: FaultProxy
) -> None:
    model = Model(opening={"c_1": Decimal(1000)})
    proxy.down()
    before = counts(world)
    read_only = Pragma(world.store, "query_only=ON")
    draft = draft_for(world, "1000.00")
    priced = world.till.hold(draft)
    with pytest.raises(StoreWriteFailed) as failed:
        world.till.commit(draft, priced)
    assert failed.value.kind == "read_only"
    read_only.remove()
    assert counts(world) == before
    done = world.till.commit(draft, priced)
    model.sold(world, done, draft.customer)
    proxy.up()
    world.drain()
    check_invariants(world, model=model)


def test_15_a_disk_refusing_writes_while_sending_backs_off_and_nothing_is_lost(
    world: TillWorld, proxy: FaultProxy
) -> None:
    """The service accepted a batch but the till cannot record it: the sender backs off (the
    background loop does not spin on the error) and the items go again later as duplicates."""
    model = Model(opening={"c_1": Decimal(1000)})
    proxy.down()
    customer = world.customer()
    for amount in ("400.00", "600.00", "800.00"):
        model.sold(world, world.sell(amount, customer), customer)
    read_only = Pragma(world.store, "query_only=ON")
    proxy.up()
    world.sender.reset_backoff()
    got = world.sender.drain()
    assert got.error is not None and str(world.folder) in got.error
    assert world.sender.backing_off, "a disk error must back off, not spin"
    assert world.sender.last_error == got.error
    read_only.remove()
    with world.store.read() as s:
        states = set(s.scalars(select(OutboxItem.state)))
    assert states == {"queued"}  # the answer was not recorded: nothing acked, nothing lost
    world.drain()  # the same items with the same keys: the service answers "duplicate"
    with world.store.read() as s:
        assert set(s.scalars(select(OutboxItem.state))) == {"acked"}
    check_invariants(world, model=model)
