"""docs/offline.md scenario 8: a flapping link (scaled down from 1–5 s to a fraction of a second)
while a real till sells through it, some sales with points (online holds when the link is up);
then the link settles and the queue drains: no duplicates, no stuck rows, I1–I6 against the
model of what the cashier was shown."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from cashier.errors import UserFacingError
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.till import Draft, Item, Served
from tests.faults.proxy import FaultProxy
from tests.faults.world import Model, TillWorld, check_invariants, make_world
from tests.processing.conftest import Service

SALES = int(os.environ.get("LOYALTY_FLAP_SALES", "120"))
SEED = 8


@pytest.fixture
def world(till: Service, proxy: FaultProxy, tmp_path: Path) -> Iterator[TillWorld]:
    made = make_world(till, tmp_path / "till", proxy.url)
    made.till.OFFLINE_HOLD_S = 0.05  # a health probe's pace, scaled like the link
    yield made
    made.close()


def test_8_a_flapping_link_doubles_and_strands_nothing(world: TillWorld, proxy: FaultProxy) -> None:
    rng = random.Random(SEED)  # 100–800 ₽ a sale: the customer stays below the next tier, so
    # the earn shown online is the service's figure, not an estimate of a moving tier
    model = Model(opening={"c_1": Decimal(1000)})
    customer = world.customer()
    first = world.sell("100.00", customer)  # the link steady: online
    model.sold(world, first, customer)
    served: list[Served] = [first.served]
    acked_while_flapping = 0
    proxy.flap(up_for=0.12, down_for=0.08)
    try:
        for i in range(SALES):
            with_card = rng.random() < 0.6
            draft = Draft(
                lines=[
                    Item(
                        "sku-1", parse_quantity("1"), parse_money(f"{rng.randint(1, 8)}00.00"), "x"
                    )
                ],
                customer=customer if with_card else None,
                redeem=str(rng.choice([0, 0, 5, 20])) if with_card else "0",
                payments=[Payment(PaymentMethod.CARD)],
            )
            world.till.start_sale()
            try:
                priced = world.till.hold(draft)
            except UserFacingError:  # e.g. above the offline cap: the cashier sells without points
                draft.redeem = "0"
                priced = world.till.hold(draft)
            done = world.till.commit(draft, priced)
            model.sold(world, done, draft.customer)
            served.append(done.served)
            if i % 7 == 0:  # the background loop's turn: a health probe, then the queue
                if world.puller.probe(timeout=0.3).online:
                    world.sender.reset_backoff()  # as sync.runtime.Background does when back
                    world.till.back_online()
                acked_while_flapping += world.sender.drain_once(budget=0.3).acked
            if i % 10 == 0:
                found = world.till.identify("+79001234567").customer  # a fresh (or cached) view
                customer = found or customer
    finally:
        proxy.steady()
    assert Served.ONLINE in served and Served.QUEUED in served, "the link never flapped a sale"
    assert acked_while_flapping or Served.ONLINE in served[1:], "nothing got through the flaps"
    world.drain()
    check_invariants(world, model=model)
