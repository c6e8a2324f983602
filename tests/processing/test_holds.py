"""Hold expiry over time (the purchase functions with a moving clock, on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from importlib import resources

import pytest
from sqlalchemy.orm import Session, sessionmaker

from processing import purchases
from processing.admin import add_store
from processing.customers import customer_balance
from processing.db import make_engine, session_factory, transaction
from processing.deps import TillRef
from processing.errors import ApiError
from processing.models import Customer, Device
from processing.state import active_program, set_program
from sync.protocol import CancelRequest, ConfirmRequest, PurchaseRequest
from tests.processing.conftest import NOW, add_customer

TILL = TillRef("d_1", "iport-msk-1", "iport", "till 1")
TTL = timedelta(minutes=30)


@pytest.fixture
def factory(migrated_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_url)
    made = session_factory(engine)
    text = resources.files("resources").joinpath("programs", "nbclub.toml").read_text("utf-8")
    with transaction(made) as session:
        set_program(session, text, "nbclub.toml", now=NOW)
        add_store(session, "iport-msk-1", "iport", "iPort")
        session.add(
            Device(id="d_1", store_id="iport-msk-1", token_hash="x", name="t", created_at=NOW)
        )
    add_customer(made, "c_1", "+79001234567", points=1000)
    yield made
    engine.dispose()


def body(purchase_id: str, redeem: str) -> PurchaseRequest:
    return PurchaseRequest.model_validate(
        {
            "purchase_id": purchase_id,
            "customer": {"id": "c_1"},
            "lines": [
                {
                    "line_id": "L1",
                    "line_no": 1,
                    "sku": "1",
                    "category": "x",
                    "qty": "1.000",
                    "unit_price": "1000.00",
                }
            ],
            "redeem_points": redeem,
            "occurred_at": NOW.isoformat(),
        }
    )


def available(factory: sessionmaker[Session], at_minutes: int) -> Decimal:
    with transaction(factory) as session:
        customer = session.get(Customer, "c_1")
        assert customer is not None
        program = active_program(session).program
        return customer_balance(
            session, program, customer, NOW + timedelta(minutes=at_minutes)
        ).available


def test_an_abandoned_hold_gives_the_points_back_by_itself(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        purchases.create(session, TILL, body("p1", "300"), NOW, TTL)
    assert available(factory, 29) == Decimal(700)
    assert available(factory, 30) == Decimal(1000)
    later = NOW + timedelta(minutes=31)
    with transaction(factory) as session:
        seen = purchases.view(session, "p1", later)
        assert (seen.state, seen.cancel_reason) == ("cancelled", "hold_expired")
        with pytest.raises(ApiError) as refused:
            purchases.confirm(session, TILL, "p1", ConfirmRequest(), later)
        assert (refused.value.status, refused.value.code) == (409, "invalid_state")
    with transaction(factory) as session:  # the till's own cancel after expiry changes nothing
        answer = purchases.cancel(session, TILL, "p1", CancelRequest(reason="void"), later)
        assert answer.status == 200
    assert available(factory, 31) == Decimal(1000)
    assert available(factory, 0) == Decimal(1000)  # released, before and after the expiry alike


def test_a_late_confirm_without_points_is_accepted(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        purchases.create(session, TILL, body("p2", "0"), NOW, TTL)
    later = NOW + timedelta(hours=2)
    with transaction(factory) as session:
        answer = purchases.confirm(session, TILL, "p2", ConfirmRequest(payments=[]), later)
        assert answer.status == 200
        assert purchases.view(session, "p2", later).state == "confirmed"


def test_a_confirmed_hold_stays_spent_after_the_hold_time(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        purchases.create(session, TILL, body("p3", "300"), NOW, TTL)
    with transaction(factory) as session:
        purchases.confirm(session, TILL, "p3", ConfirmRequest(), NOW + timedelta(minutes=10))
    assert available(factory, 20) == Decimal(700)
    assert available(factory, 60 * 24) == Decimal(700)
