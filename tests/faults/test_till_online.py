"""The Till online against a real service: identify, hold → confirm, refusals in the cashier's
language, PIN login, shifts, history — and a hold whose answer was lost."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from cashier.errors import ReturnExceedsPurchase
from cashier.money import parse_quantity
from cashier.store.models import OutboxItem, Sale
from cashier.till import Served, TillError, slip_code
from processing.admin import add_cashier
from processing.db import transaction
from processing.models import Purchase
from tests.faults.proxy import Fault, FaultProxy
from tests.faults.world import TillWorld, check_invariants, make_world
from tests.processing.conftest import Service


@pytest.fixture
def world(till: Service, proxy: FaultProxy, tmp_path: Path) -> Iterator[TillWorld]:
    with transaction(till.factory) as session:
        add_cashier(session, "iport-msk-1", "Анна", "1234", "senior")
    made = make_world(till, tmp_path / "till", proxy.url)
    yield made
    made.close()


def test_points_are_held_online_then_the_sale_confirms_them(world: TillWorld) -> None:
    found = world.till.identify("8 900 123 45 67")
    assert (found.status, found.served) == ("found", Served.ONLINE)
    assert found.customer is not None and found.customer.available == Decimal(1000)
    done = world.sell("1000.00", found.customer, redeem=300)
    assert (done.served, done.quote.redeem_points) == (Served.ONLINE, Decimal(300))
    with transaction(world.service.factory) as session:
        bought = session.get(Purchase, done.sale_id)
        assert bought is not None and (bought.state, bought.redeem_points) == (
            "confirmed",
            Decimal(300),
        )
    with world.store.read() as s:
        sale = s.get(Sale, done.sale_id)
        assert sale is not None and sale.earn_confirmed
        assert [i.kind for i in s.scalars(select(OutboxItem))] == ["confirm"]
    assert world.customer().available == Decimal(700)
    check_invariants(world)


def test_a_refusal_reads_in_the_cashiers_language(world: TillWorld) -> None:
    big = world.customer()
    with pytest.raises(TillError) as refused:
        world.sell("2000.00", big, redeem=600)  # above NBclub's 500: an SMS code is needed
    assert "SMS" in refused.value.message and "покупатель" in refused.value.message


def test_a_hold_whose_answer_is_lost_is_cancelled_and_the_sale_priced_offline(
    world: TillWorld, proxy: FaultProxy
) -> None:
    customer = world.customer()
    proxy.plan(Fault.LOSE_REPLY, match="/purchases", method="POST", times=None)
    done = world.sell("1000.00", customer, redeem=200)
    assert done.offline  # priced with the offline budget after giving up the hold
    assert done.served is Served.ONLINE  # the queue itself still reached the service
    proxy.clear()
    world.drain()
    with world.store.read() as s:
        kinds = [i.kind for i in s.scalars(select(OutboxItem).order_by(OutboxItem.seq))]
    assert kinds == ["cancel", "purchase"]
    check_invariants(world)


def test_pin_login_shifts_and_history(world: TillWorld, proxy: FaultProxy) -> None:
    anna = world.till.login("1234")
    assert (anna.name, anna.role) == ("Анна", "senior")
    for _ in range(4):
        with pytest.raises(TillError):
            world.till.login("0000")
    with pytest.raises(TillError):
        world.till.login("9999")  # the fifth wrong PIN locks
    with pytest.raises(TillError, match="минуту"):
        world.till.login("1234")
    world.till._pin_locked_until = 0.0
    shift = world.till.open_shift(anna)
    assert world.till.open_shift(anna) == shift
    customer = world.customer()
    proxy.down()
    world.sell("1000.00", customer)
    with pytest.raises(TillError, match="1"):
        world.till.close_shift()
    items, served = world.till.history(customer.id)
    assert served is Served.OFFLINE and items[0]["kind"] == "earn"
    proxy.up()
    world.till.back_online()
    world.drain()
    assert world.till.close_shift() == shift
    items, served = world.till.history(customer.id)
    assert served is Served.ONLINE and any(i["kind"] == "earn" for i in items)


def test_a_return_at_another_till_by_the_slips_qr(
    till: Service, proxy: FaultProxy, tmp_path: Path
) -> None:
    a = make_world(till, tmp_path / "a", proxy.url)
    b = make_world(till, tmp_path / "b", proxy.url)
    try:
        sold = a.sell("2000.00", a.customer(), redeem=100)
        line = sold.quote.lines[0].line_id
        returned = b.till.return_sale(slip_code(sold.sale_id), {line: parse_quantity("1")})
        assert (returned.points_restored, returned.served) == (Decimal(100), Served.ONLINE)
        with pytest.raises(ReturnExceedsPurchase):  # the service knows it was returned already
            b.till.return_sale(sold.sale_id, {line: parse_quantity("1")})
        proxy.down()
        b.till.went_offline()
        with pytest.raises(TillError, match="на связи"):
            b.till.return_sale(sold.sale_id, {line: parse_quantity("1")})
        with pytest.raises(TillError):
            b.till.return_sale("LS1.<script>", {line: 1})
        proxy.up()
        check_invariants(a)
    finally:
        a.close()
        b.close()


def test_registering_online_with_an_sms_code(world: TillWorld) -> None:
    sent = world.till.send_code("+7 900 765-43-21")
    text = world.service.sms.messages_to("+79007654321")[-1]
    code = next(
        word for word in text.replace(".", " ").split() if word.isdigit() and len(word) >= 4
    )
    token = world.till.verify_code(sent["otp_id"], code)
    customer = world.till.register("+7 900 765-43-21", "Мария", confirmation_token=token)
    assert (customer.verified, customer.local) == (True, False)
    again = world.till.identify("89007654321")
    assert again.customer is not None and again.customer.id == customer.id


def test_the_customers_coupons_are_kept_for_offline(world: TillWorld, proxy: FaultProxy) -> None:
    from datetime import timedelta

    from processing.models import Coupon
    from tests.processing.conftest import NOW

    with transaction(world.service.factory) as session:
        session.add(
            Coupon(
                code="NB-TEST-1",
                customer_id="c_1",
                title="−10% на кабели",
                category="cables",
                discount_pct=Decimal(10),
                valid_from=NOW - timedelta(days=1),
                valid_till=NOW + timedelta(days=9),
            )
        )
    customer = world.customer()
    online, served = world.till.coupons(customer.id)
    assert served is Served.ONLINE and [c["code"] for c in online] == ["NB-TEST-1"]
    proxy.down()
    world.till.went_offline()
    offline, served = world.till.coupons(customer.id)
    assert served is Served.OFFLINE and [c["title"] for c in offline] == ["−10% на кабели"]


def test_a_sale_waits_for_the_service_one_budget_in_all(
    world: TillWorld, proxy: FaultProxy
) -> None:
    """Identify took half the sale's budget (1 s here): delivery gets only what is left, so a slow
    answer leaves the sale queued instead of making the customer wait a second budget."""
    proxy.plan(Fault.DELAY_REPLY, match="/customers/identify", seconds=0.5, times=1)
    proxy.plan(Fault.DELAY_REPLY, match="/sync/transactions", seconds=0.7, times=1)
    world.till.start_sale()
    found = world.till.identify("+79001234567")
    assert found.served is Served.ONLINE
    assert world.till.time_left() < 0.55
    done = world.sell("1000.00", found.customer)
    assert done.served is Served.QUEUED
    assert world.till.time_left() == world.till.budget  # the next sale starts afresh
    world.drain()
    check_invariants(world)
