"""docs/offline.md scenario 14: the till's clock jumps backwards in the middle of a shift (2 hours,
then a day) while it sells online and offline and makes a return: nothing crashes, the service
takes every operation in sequence order whatever its timestamp, the skew is reported, I1–I6."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from cashier.money import parse_quantity
from cashier.store.models import OutboxItem
from cashier.till import Served
from processing.db import transaction
from processing.models import SyncItem
from tests.faults.proxy import FaultProxy
from tests.faults.world import Model, TillWorld, check_invariants, make_world
from tests.processing.conftest import NOW, Service


class Clock:
    """The till's wall clock, which an NTP fix or a flat CMOS battery may move at any time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def jump(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def world(till: Service, proxy: FaultProxy, tmp_path: Path) -> Iterator[TillWorld]:
    made = make_world(till, tmp_path / "till", proxy.url)
    yield made
    made.close()


def test_14_the_clock_jumps_back_mid_shift(world: TillWorld, proxy: FaultProxy) -> None:
    clock = Clock(NOW)
    world.till.clock = world.sender.clock = world.puller.clock = clock
    model = Model(opening={"c_1": Decimal(1000)})
    customer = world.customer()

    def sell(amount: str, redeem: int = 0) -> None:
        done = world.sell(amount, customer, redeem=redeem)
        model.sold(world, done, customer)

    sell("1000.00")
    sell("2000.00", redeem=50)
    assert not world.puller.probe().skewed
    clock.jump(-timedelta(hours=2))  # back two hours, online
    sell("1500.00", redeem=20)
    proxy.down()
    sell("1200.00")  # and offline
    proxy.up()
    world.drain()
    clock.jump(-timedelta(days=1))  # back a whole day: the skew is reported
    probe = world.puller.probe()
    assert probe.skewed and probe.skew_s is not None and probe.skew_s < -86_000
    proxy.down()
    sell("900.00", redeem=10)  # offline, dated "yesterday", after sales dated today
    last = world.sell("3000.00", customer)
    model.sold(world, last, customer)
    back = world.till.return_sale(last.sale_id, {last.quote.lines[0].line_id: parse_quantity("1")})
    model.returned(world, last.sale_id, back)
    proxy.up()
    sell("500.00")  # online again, the clock still a day behind
    world.drain()
    with world.store.read() as s:
        items = list(s.scalars(select(OutboxItem).order_by(OutboxItem.seq)))
    stamps = [i.occurred_at for i in items]
    assert stamps != sorted(stamps), "the timestamps went backwards"
    assert [i.seq for i in items] == list(range(1, len(items) + 1))
    assert all(i.state == "acked" for i in items)
    with transaction(world.service.factory) as session:
        order = list(
            session.scalars(
                select(SyncItem.seq)
                .where(SyncItem.device_id == world.device_id)
                .order_by(SyncItem.created_at, SyncItem.seq)
            )
        )
    assert order == sorted(order)  # applied in sequence order, not timestamp order
    assert last.served is Served.QUEUED
    check_invariants(world, model=model)
