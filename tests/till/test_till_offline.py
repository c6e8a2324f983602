"""The Till service with no service at all: the cache, the offline budget, the durable outbox."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cashier.errors import ReturnExceedsPurchase
from cashier.identifiers import (
    generate_wallet_keypair,
    public_key_to_text,
    sign_wallet_token,
)
from cashier.lookup import LookupKey, bucket, digest
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import CapReason, Payment
from cashier.store.db import open_store
from cashier.store.models import (
    CachedCard,
    CachedCustomer,
    OfflineSpend,
    OutboxItem,
    Rules,
    Sale,
    SaleLine,
)
from cashier.till import Draft, Item, Served, Till, TillError, body_hash

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KEY = b"k" * 32
LOOKUP = LookupKey(KEY)
PRIVATE, PUBLIC = generate_wallet_keypair()


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Till]:
    store = open_store(tmp_path / "till")
    toml = resources.files("resources").joinpath("programs", "nbclub.toml").read_text("utf-8")
    with store.write() as s:
        s.add(
            Rules(
                id=1,
                version="2026-11-01.1",
                program_toml=toml,
                wallet_public_key=public_key_to_text(PUBLIC),
                phone_hash_key=base64.urlsafe_b64encode(KEY).decode().rstrip("="),
                offline_redeem={"enabled": True, "max_points_per_customer_per_day": "1000"},
                fetched_at=NOW,
            )
        )
        s.add(
            CachedCustomer(
                id="c_1",
                phone_bucket=bucket("phone", "+79001234567", LOOKUP),
                phone_digest=digest("phone", "+79001234567", LOOKUP, "c_1"),
                display_name="Иван П.",
                tier="gold",
                verified=True,
                balance=Decimal(5000),
                balance_as_of=NOW - timedelta(hours=1),
            )
        )
        s.add(
            CachedCard(
                customer_id="c_1",
                bucket=bucket("card", "2200000000019", LOOKUP),
                digest=digest("card", "2200000000019", LOOKUP, "c_1"),
                status="active",
            )
        )
    yield Till(store, None, clock=lambda: NOW)
    store.close()


def items(*prices: str) -> list[Item]:
    return [
        Item(sku=f"sku{i}", qty=parse_quantity("1"), unit_price=parse_money(p), category="x")
        for i, p in enumerate(prices)
    ]


def test_identify_from_the_cache_by_phone_card_and_wallet_qr(till: Till) -> None:
    for text in (
        "8 900 123-45-67",
        "2200000000019",
        sign_wallet_token(PRIVATE, "c_1", NOW + timedelta(minutes=5)),
    ):
        found = till.identify(text)
        assert (found.status, found.served) == ("found", Served.OFFLINE), text
        assert found.customer is not None and found.customer.id == "c_1"
    assert till.identify("+7 900 000-00-00").status == "not_found"
    assert till.identify("\x1b[ЙЦУК").status == "unrecognised"


def test_an_offline_sale_is_durable_with_its_outbox_item_before_done(till: Till) -> None:
    customer = till.identify("+79001234567").customer
    draft = Draft(
        lines=items("2000.00", "500.00"),
        customer=customer,
        redeem="max",
        payments=[Payment(PaymentMethod.CARD)],
    )
    priced = till.price(draft, online=False)
    assert priced.quote.redeem_points == Decimal(
        1000
    )  # Gold could pay 99 %, the offline budget is 1 000
    assert CapReason.OFFLINE_BUDGET in priced.quote.cap_reasons
    done = till.commit(draft, priced)
    assert (done.served, done.seq, done.offline) == (Served.QUEUED, 1, True)
    with till.store.read() as s:
        sale = s.get(Sale, done.sale_id)
        assert sale is not None and sale.redeem_points == Decimal(1000) and sale.to_pay == 150_000
        assert s.scalar(select(func.count()).select_from(SaleLine)) == 2
        item = s.scalars(select(OutboxItem)).one()
        assert (item.kind, item.state, item.subject) == ("purchase", "queued", done.sale_id)
        assert item.body["offline"] is True and item.body["redeem_points"] == "1000"
        assert item.body_hash == body_hash(item.body)
        spent = s.get(OfflineSpend, ("c_1", "2026-11-23"))
        assert spent is not None and spent.points == Decimal(1000)
    # the budget is spent for today: the next offline sale cannot use points
    again = Draft(lines=items("1000.00"), customer=customer, payments=[Payment(PaymentMethod.CASH)])
    assert till.price(again, online=False).quote.redeem_points == 0
    second = till.commit(again, till.price(again, online=False))
    assert second.seq == 2


def test_sequence_numbers_have_no_gaps_and_keys_are_unique(till: Till) -> None:
    for _ in range(20):
        d = Draft(lines=items("100.00"), payments=[Payment(PaymentMethod.CASH)])
        till.commit(d, till.price(d, online=False))
    with till.store.read() as s:
        rows = s.execute(select(OutboxItem.seq, OutboxItem.op_id)).all()
    assert [r.seq for r in rows] == list(range(1, 21))
    assert len({r.op_id for r in rows}) == 20


def test_a_sale_cannot_be_committed_twice(till: Till) -> None:
    d = Draft(lines=items("100.00"), payments=[Payment(PaymentMethod.CASH)])
    priced = till.price(d, online=False)
    till.commit(d, priced)
    with pytest.raises(TillError):
        till.commit(d, priced)


def test_a_return_is_queued_after_its_sale_and_reverses_exactly(till: Till) -> None:
    customer = till.identify("+79001234567").customer
    d = Draft(
        lines=items("1000.00", "1000.00"),
        customer=customer,
        redeem="500",
        payments=[Payment(PaymentMethod.CARD)],
    )
    sold = till.commit(d, till.price(d, online=False))
    first = till.return_sale(sold.sale_id, {"L1": parse_quantity("1")})
    second = till.return_sale(sold.sale_id, {"L2": parse_quantity("1")})
    assert first.points_restored + second.points_restored == Decimal(500)
    assert second.complete
    with till.store.read() as s:
        kinds = [r.kind for r in s.scalars(select(OutboxItem).order_by(OutboxItem.seq))]
    assert kinds == ["purchase", "return", "return"]
    with pytest.raises(ReturnExceedsPurchase):
        till.return_sale(sold.sale_id, {"L1": parse_quantity("1")})


def test_an_offline_registration_is_unverified_and_findable(till: Till) -> None:
    view = till.register("+7 (900) 555-00-77", "Анна")
    assert (view.local, view.verified) == (True, False)
    found = till.identify("89005550077")
    assert found.customer is not None and found.customer.id == view.id
    d = Draft(lines=items("1000.00"), customer=found.customer, redeem="max")
    assert till.price(d, online=False).quote.redeem_points == 0  # unverified: earns, cannot spend


def test_a_return_names_lines_by_the_numbers_the_service_got(till: Till) -> None:
    lines = [
        Item("a", parse_quantity("1"), parse_money("100.00"), "x", None, "A"),
        Item("b", parse_quantity("1"), parse_money("200.00"), "x", None, "B"),
    ]
    d = Draft(lines=lines, payments=[Payment(PaymentMethod.CASH)])
    sold = till.commit(d, till.price(d, online=False))
    till.return_sale(sold.sale_id, {"B": parse_quantity("1")})
    with till.store.read() as s:
        sale_body, return_body = (
            i.body for i in s.scalars(select(OutboxItem).order_by(OutboxItem.seq))
        )
    sent = {ln["line_id"]: ln["line_no"] for ln in sale_body["lines"]}
    assert return_body["lines"] == [{"line_id": "B", "line_no": sent["B"], "qty": "1.000"}]
