"""Housekeeping on SQLite and PostgreSQL: expired points written off once, abandoned holds closed."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from processing import housekeeping, purchases
from processing.db import transaction
from processing.models import Customer, LedgerEntry, Purchase
from tests.processing.conftest import NOW, add_customer
from tests.processing.test_holds import TILL, TTL, available, body, factory

__all__ = ["factory"]  # the fixture, shared with test_holds


def test_expired_points_are_written_off_once_and_balances_do_not_move(
    factory: sessionmaker[Session],
) -> None:
    add_customer(factory, "c_old", "+79001230000", points=400)
    with transaction(
        factory
    ) as session:  # NBclub: everything burns 14 months after the last purchase
        old = session.get(Customer, "c_old")
        assert old is not None
        old.last_purchase_at = NOW - timedelta(days=30 * 15)
    before = available(factory, 0)
    assert housekeeping.expire_points(factory, NOW) == 1
    assert housekeeping.expire_points(factory, NOW) == 0
    assert available(factory, 0) == before
    with transaction(factory) as session:
        entries = session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.customer_id == "c_old", LedgerEntry.kind == "expire"
            )
        ).all()
        assert [e.amount for e in entries] == [Decimal(-400)]
        assert entries[0].lot_id is not None
        customer = session.get(Customer, "c_old")
        assert customer is not None and customer.updated_at == NOW


def test_abandoned_holds_are_closed_but_pending_sales_without_points_wait(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as session:
        purchases.create(session, TILL, body("p_points", "100"), NOW, TTL)
        purchases.create(session, TILL, body("p_none", "0"), NOW, TTL)
    with transaction(factory) as session:
        assert housekeeping.close_abandoned_holds(session, NOW + timedelta(minutes=10)) == 0
    with transaction(factory) as session:
        assert housekeeping.close_abandoned_holds(session, NOW + timedelta(minutes=31)) == 1
    with transaction(factory) as session:
        closed = session.get(Purchase, "p_points")
        waiting = session.get(Purchase, "p_none")
        assert closed is not None and (closed.state, closed.cancel_reason) == (
            "cancelled",
            "hold_expired",
        )
        assert waiting is not None and waiting.state == "pending"
    assert available(factory, 31) == Decimal(1000)


def test_the_housekeeper_thread_runs_rounds_until_stopped(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        purchases.create(session, TILL, body("p_bg", "100"), NOW, TTL)
    keeper = housekeeping.Housekeeper(
        factory, lambda: NOW + timedelta(hours=1), timedelta(milliseconds=20)
    )
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with transaction(factory) as session:
                found = session.get(Purchase, "p_bg")
                if found is not None and found.state == "cancelled":
                    break
            time.sleep(0.02)
    finally:
        keeper.stop()
    with transaction(factory) as session:
        found = session.get(Purchase, "p_bg")
        assert found is not None and found.state == "cancelled"
