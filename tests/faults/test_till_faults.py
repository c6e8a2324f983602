"""docs/offline.md's fault scenarios against a real processing service behind a fault proxy, each
ending with the invariants I1–I6 (see ``world.check_invariants``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from cashier.errors import StoreWriteFailed
from cashier.money import parse_quantity
from cashier.store.db import StoreLocked, open_store
from cashier.store.models import OutboxItem, Sale
from cashier.till import Served
from processing.db import transaction
from processing.models import Customer, IdempotencyRecord, Purchase, ReviewItem
from tests.faults.proxy import Fault, FaultProxy
from tests.faults.world import TillWorld, check_invariants, make_world
from tests.processing.conftest import NOW, Service, add_customer

BATCH = "/sync/transactions"


@pytest.fixture
def world(till: Service, proxy: FaultProxy, tmp_path: Path) -> Iterator[TillWorld]:
    made = make_world(till, tmp_path / "till", proxy.url)
    yield made
    made.close()


def test_online_sale_goes_at_once_and_offline_sale_waits(
    world: TillWorld, proxy: FaultProxy
) -> None:
    online = world.sell()
    assert online.served is Served.ONLINE
    proxy.down()
    offline = world.sell()
    assert offline.served is Served.QUEUED
    assert world.till.queue_status()["depth"] == 1
    proxy.up()
    world.drain()
    check_invariants(world)


def test_3_the_service_commits_but_the_answer_is_lost(world: TillWorld, proxy: FaultProxy) -> None:
    proxy.plan(Fault.LOSE_REPLY, match=BATCH, times=1)
    done = world.sell()
    assert done.served is Served.QUEUED  # the till could not know
    world.drain()
    with world.store.read() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert item.state == "acked" and item.attempts >= 1
    check_invariants(world)


def test_4_a_late_original_and_its_retry_race(world: TillWorld, proxy: FaultProxy) -> None:
    proxy.plan(Fault.DELAY_REQUEST, match=BATCH, seconds=1.5, times=1)
    world.sell()  # the in-sale attempt gives up after 1 s; the original reaches the service later
    world.drain()
    time.sleep(1.0)  # let the delayed original land too
    check_invariants(world)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5_server_errors_are_retried_with_the_same_key(
    world: TillWorld, proxy: FaultProxy, status: int
) -> None:
    proxy.plan(Fault.STATUS, match=BATCH, status=status, times=2)
    proxy.plan(Fault.STATUS, match=BATCH, status=500, after_upstream=True, times=1)
    world.sell()
    world.drain()
    check_invariants(world)


def test_5_429_retry_after_is_honoured(world: TillWorld, proxy: FaultProxy) -> None:
    proxy.down()
    world.sell()
    proxy.up()
    proxy.plan(Fault.RATE_LIMIT, match=BATCH, retry_after=1, times=1)
    got = world.sender.drain_once()
    assert got.error and world.sender.backing_off
    assert world.sender.drain_once().sent  # drain_once ignores the wait; the loop would not
    world.drain()
    check_invariants(world)


def test_6_a_refused_item_goes_to_review_and_the_rest_flows(
    world: TillWorld, proxy: FaultProxy
) -> None:
    proxy.down()
    first = world.sell()
    with world.store.write() as s:  # a return of a sale the service will never have
        world.till._enqueue(
            s,
            "return",
            "p_unknown",
            {
                "purchase_id": "p_unknown",
                "return_id": "r_x",
                "occurred_at": NOW.isoformat(),
                "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
            },
        )
    after = world.sell()
    proxy.up()
    world.drain()
    with world.store.read() as s:
        states = {row.subject: (row.state, row.reason) for row in s.scalars(select(OutboxItem))}
    assert states[first.sale_id][0] == states[after.sale_id][0] == "acked"
    assert states["p_unknown"][0] == "rejected" and "not_found" in (states["p_unknown"][1] or "")
    check_invariants(world)


def test_7_two_thousand_queued_sales_drain_in_order_in_batches(
    world: TillWorld, proxy: FaultProxy
) -> None:
    proxy.down()
    customer = world.customer()
    commits = []
    for i in range(2000):
        started = time.perf_counter()
        world.sell("100.00", customer if i % 3 == 0 else None)
        commits.append(time.perf_counter() - started)
    assert world.till.queue_status()["depth"] == 2000
    proxy.up()
    world.drain()
    sizes = [r for r in proxy.requests if BATCH in r.path]
    assert len(sizes) >= 20  # at most 100 items a batch
    check_invariants(world)


def test_9_a_dripping_answer_is_cut_by_the_deadline(world: TillWorld, proxy: FaultProxy) -> None:
    proxy.plan(Fault.DRIP, match=BATCH, byte_interval=0.3, times=1)
    started = time.monotonic()
    done = world.sell()
    assert time.monotonic() - started < 4.0  # the in-sale budget (1 s) bounded the wait
    assert done.served is Served.QUEUED
    world.drain()
    check_invariants(world)


def test_10_a_second_copy_of_the_till_is_refused(world: TillWorld) -> None:
    with pytest.raises(StoreLocked):
        open_store(world.folder)


def test_11_two_tills_spend_one_card_offline(
    till: Service, proxy: FaultProxy, tmp_path: Path
) -> None:
    add_customer(till.factory, "c_2", "+79002223344", points=500)
    a = make_world(till, tmp_path / "a", proxy.url)
    b = make_world(till, tmp_path / "b", proxy.url)
    try:
        ca, cb = a.customer("+79002223344"), b.customer("+79002223344")
        proxy.down()
        sa = a.sell("1000.00", ca, redeem=400)
        sb = b.sell("1000.00", cb, redeem=400)
        assert sa.quote.redeem_points == sb.quote.redeem_points == Decimal(400)
        proxy.up()
        b.drain()
        a.drain()
        with transaction(till.factory) as session:
            overdrafts = session.scalars(
                select(ReviewItem).where(ReviewItem.kind == "overdraft")
            ).all()
            assert len(overdrafts) == 1 and overdrafts[0].amount == Decimal(300)
        check_invariants(a)
        check_invariants(b)
    finally:
        a.close()
        b.close()


def test_12_a_return_queued_behind_its_sale_nets_to_zero(
    world: TillWorld, proxy: FaultProxy
) -> None:
    customer = world.customer()
    proxy.down()
    sold = world.sell("2000.00", customer, redeem=300)
    world.till.return_sale(sold.sale_id, {sold.quote.lines[0].line_id: parse_quantity("1")})
    proxy.up()
    world.drain()
    with transaction(world.service.factory) as session:
        from processing.customers import customer_balance
        from processing.state import active_program

        c = session.get(Customer, "c_1")
        assert c is not None
        assert customer_balance(session, active_program(session).program, c, NOW).total == Decimal(
            1000
        )
    check_invariants(world)


def test_13_an_offline_registration_of_a_known_phone_merges(
    world: TillWorld, proxy: FaultProxy
) -> None:
    proxy.down()
    local = world.till.register("+7 900 123-45-67", "Иван")
    world.sell("1000.00", local)
    proxy.up()
    world.drain()
    with transaction(world.service.factory) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        owners = set(session.scalars(select(Purchase.customer_id)))
        assert owners == {"c_1"}
    check_invariants(world)


@pytest.mark.parametrize("shift", [timedelta(days=2), timedelta(days=-365)])
def test_14_a_skewed_till_clock(world: TillWorld, proxy: FaultProxy, shift: timedelta) -> None:
    world.till.clock = lambda: NOW + shift
    world.puller.clock = lambda: NOW + shift
    assert world.puller.probe().skewed
    proxy.down()
    first, second = world.sell(), world.sell()
    proxy.up()
    world.drain()
    assert (first.seq, second.seq) == (1, 2)
    check_invariants(world)


def test_15_a_full_disk_confirms_nothing_and_recovers(world: TillWorld, proxy: FaultProxy) -> None:
    proxy.down()
    world.sell()
    with world.store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    from sqlalchemy import event

    def tiny(dbapi_connection: object, _record: object) -> None:
        cur = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cur.execute(f"PRAGMA max_page_count={pages}")
        cur.close()

    world.store.engine.dispose()
    event.listen(world.store.engine, "connect", tiny)
    with world.store.read() as s:
        before = s.scalar(select(func.count()).select_from(Sale))
    with pytest.raises(StoreWriteFailed) as failed:  # noqa: PT012 - fill until it fails
        for _ in range(50):
            world.sell("100.00")
    assert failed.value.kind == "full" and failed.value.code == "disk_full"
    assert isinstance(failed.value.__cause__, OperationalError)
    with world.store.read() as s:
        sales = s.scalar(select(func.count()).select_from(Sale))
        items = s.scalar(select(func.count()).select_from(OutboxItem))
    assert sales == items  # no sale without its outbox item, no half-written sale
    assert sales is not None and before is not None and sales >= before
    event.remove(world.store.engine, "connect", tiny)
    world.store.engine.dispose()
    world.sell()  # space is back
    proxy.up()
    world.drain()
    check_invariants(world)


def test_17_an_upgraded_till_keeps_its_queue(world: TillWorld, proxy: FaultProxy) -> None:
    proxy.down()
    done = {world.sell().sale_id for _ in range(100)}
    world.reopen()  # opening runs the migrations again
    proxy.up()
    world.drain()
    check_invariants(world, seen_done=done)


def test_18_the_same_key_with_another_body_is_quarantined(
    world: TillWorld, proxy: FaultProxy
) -> None:
    first = world.sell()
    assert first.served is Served.ONLINE
    with world.store.write() as s:  # a bug: the acked item goes again, same key, another payload
        item = s.scalars(select(OutboxItem)).one()
        body = dict(item.body)
        body["lines"] = [dict(body["lines"][0], unit_price="1.00")]
        item.body, item.state, item.acked_at = body, "queued", None
    world.drain()
    with world.store.read() as s:
        item = s.scalars(select(OutboxItem)).one()
        assert item.state == "rejected"
        assert "idempotency_key_reused" in (item.reason or "")
    with transaction(world.service.factory) as session:
        bought = session.get(Purchase, first.sale_id)
        assert bought is not None and bought.to_pay == 100_000  # the original stands
    check_invariants(world)


def test_19_a_very_late_replay_is_still_a_duplicate(world: TillWorld, proxy: FaultProxy) -> None:
    done = world.sell()
    with transaction(world.service.factory) as session:  # the key is 40 days old: no cache expiry
        session.execute(update(IdempotencyRecord).values(created_at=NOW - timedelta(days=40)))
    with world.store.write() as s:  # the till lost the ack and sends again
        s.execute(update(OutboxItem).values(state="queued", acked_at=None))
    world.drain()
    with world.store.read() as s:
        assert s.scalars(select(OutboxItem.state)).one() == "acked"
    check_invariants(world, seen_done={done.sale_id})
