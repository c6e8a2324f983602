"""The invariants check themselves: a doubled ledger entry or a balance the cashier was never shown
fails ``check_invariants`` (I1 and I4 against the independent model, not the ledger alone)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from processing.db import transaction
from processing.models import LedgerEntry
from tests.faults.proxy import FaultProxy
from tests.faults.world import Model, TillWorld, check_invariants, make_world
from tests.processing.conftest import NOW, Service


@pytest.fixture
def world(till: Service, proxy: FaultProxy, tmp_path: Path) -> Iterator[TillWorld]:
    made = make_world(till, tmp_path / "till", proxy.url)
    yield made
    made.close()


def test_a_doubled_earn_entry_fails_i1(world: TillWorld) -> None:
    customer = world.customer()
    model = Model(opening={"c_1": Decimal(1000)})
    done = world.sell("2000.00", customer, redeem=100)
    model.sold(world, done, customer)
    world.drain()
    check_invariants(world, model=model)
    with transaction(world.service.factory) as session:
        earn = session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.purchase_id == done.sale_id, LedgerEntry.kind == "earn"
            )
        ).first()
        assert earn is not None
        session.add(
            LedgerEntry(
                customer_id=earn.customer_id,
                kind="earn",
                amount=earn.amount,
                is_lot=True,
                device_id=earn.device_id,
                purchase_id=earn.purchase_id,
                line_id=earn.line_id,
                available_from=earn.available_from,
                expires_at=earn.expires_at,
                occurred_at=NOW,
                created_at=NOW,
            )
        )
    with pytest.raises(AssertionError, match="I1"):
        check_invariants(world)


def test_a_balance_the_cashier_was_not_shown_fails_i4(world: TillWorld) -> None:
    customer = world.customer()
    model = Model(opening={"c_1": Decimal(1000)})
    done = world.sell("2000.00", customer)
    model.sold(world, done, customer)
    world.drain()
    check_invariants(world, model=model)
    model.opening["c_1"] = Decimal(990)  # the ledger is self-consistent, the model disagrees
    with pytest.raises(AssertionError, match="I4"):
        check_invariants(world, model=model)
