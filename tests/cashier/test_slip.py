"""The loyalty slip built from real quotes: figures, dates, the offline note, the QR, its text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from cashier.i18n import get_language, set_language
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod, Program, load_preset
from cashier.quote import CartLine, CustomerState, Payment, Quote, quote
from cashier.slip import Slip, build_slip
from cashier.till_types import Committed, CustomerView, Item, Priced, Served, slip_code

NB = load_preset("nbclub")  # earned points activate after 14 days
KANISTRA = load_preset("kanistra")  # earned points are available at once
MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SALE_ID = "3f2a9c1e-1111-4222-8333-444455556666"

ITEMS = (
    Item("XR-13", parse_quantity("1"), parse_money("29999"), "phones", "Смартфон Xiaomi", "L1"),
    Item("BAN", parse_quantity("0.742"), parse_money("189.90"), "food", "Бананы", "L2"),
    Item("CASE-7", parse_quantity("2"), parse_money("499"), None, None, "L3"),
)
CUSTOMER = CustomerView(
    id="c1",
    display_name="Анна П.",
    tier="start",
    verified=True,
    phone_masked="+7 *** ***-45-67",
    available=Decimal(1250),
)


@pytest.fixture(autouse=True)
def russian() -> Iterator[None]:
    before = get_language()
    set_language("ru")
    yield
    set_language(before)


def cart(items: tuple[Item, ...] = ITEMS) -> list[CartLine]:
    return [CartLine(i.line_id, i.sku, i.qty, i.unit_price, i.category) for i in items]


def priced_sale(
    *,
    program: Program = NB,
    customer: CustomerView | None = CUSTOMER,
    redeem: str | int = 500,
    payments: tuple[Payment, ...] = (
        Payment(PaymentMethod.SBP, 100_000),
        Payment(PaymentMethod.CARD),
    ),
    served: Served = Served.ONLINE,
    offline: bool = False,
    at: datetime = NOW,
    items: tuple[Item, ...] = ITEMS,
) -> tuple[Committed, Priced]:
    state = None
    if customer is not None:
        state = CustomerState(available=customer.available or Decimal(0), verified=True)
    q: Quote = quote(program, state, cart(items), occurred_at=at, redeem=redeem, payments=payments)
    priced = Priced(q, customer, Served.OFFLINE if offline else Served.ONLINE, items)
    return Committed(SALE_ID, 7, served, q, "done", offline), priced


def slip_of(committed: Committed, priced: Priced, **kw: object) -> Slip:
    args: dict[str, object] = {
        "store_name": "iPort, ТЦ Галерея",
        "cashier_name": "Иванова А.",
        "printed_at": NOW,
        "tz": MSK,
    }
    args.update(kw)
    return build_slip(committed, priced, **args)  # type: ignore[arg-type]


def test_online_sale_figures() -> None:
    committed, priced = priced_sale()
    q = committed.quote
    slip = slip_of(committed, priced)

    assert q.redeem_points == 500
    assert q.earn_points > 0
    assert slip.points_spent == 500
    assert slip.points_spent_value == parse_money("500")
    assert slip.points_earned == q.earn_points
    assert slip.total == q.base_total
    assert slip.to_pay == q.to_pay == q.base_total - parse_money("500")
    # earned points are pending for 14 days: not in the balance yet
    assert slip.pending_until == date(2026, 12, 7)
    assert slip.balance_after == Decimal(1250 - 500)
    assert not slip.balance_estimated
    assert not slip.offline
    assert slip.notes == ()
    assert slip.qr_payload == slip_code(SALE_ID) == "LS1." + SALE_ID
    assert slip.sold_at == NOW  # the quote's occurred_at, recovered
    assert slip.sold_at.utcoffset() == timedelta(hours=3)


def test_russian_text() -> None:
    committed, priced = priced_sale()
    text = slip_of(committed, priced).text()

    assert "iPort, ТЦ Галерея" in text
    assert "Слип программы лояльности" in text
    assert "23.11.2026 15:00" in text  # 12:00 UTC printed in Moscow time
    assert "3F2A9C1E" in text
    assert "Иванова А." in text
    assert "Смартфон Xiaomi" in text
    assert "CASE-7" in text  # no name: the SKU
    assert "0,742 кг × 189,90 ₽/кг" in text  # weighed goods in kg, 3 decimals
    assert "2 шт × 499,00 ₽" in text
    assert "Оплачено баллами: 500" in text
    assert "К ОПЛАТЕ" in text
    assert "СБП" in text
    assert "Карта" in text
    assert "Программа лояльности NBclub" in text
    assert "Анна П." in text
    assert "+7 *** ***-45-67" in text
    assert "Начислено баллов" in text
    assert "Будут доступны с" in text
    assert "07.12.2026" in text
    assert "Баланс после покупки" in text
    assert "Отсканируйте для возврата" in text
    assert "LS1." + SALE_ID in text
    for line in text.splitlines():
        assert len(line) <= 42, line


def test_english_text() -> None:
    committed, priced = priced_sale()
    set_language("en")
    text = slip_of(committed, priced).text()

    assert "Loyalty slip" in text
    assert "0,742 kg × 189,90 ₽/kg" in text
    assert "Points spent: 500" in text
    assert "TO PAY" in text
    assert "SBP" in text
    assert "Card" in text
    assert "Points earned" in text
    assert "Pending until" in text
    assert "Balance after" in text
    assert "Scan for a return" in text
    assert "Слип" not in text


def test_offline_sale_estimates_and_explains() -> None:
    committed, priced = priced_sale(served=Served.QUEUED, offline=True)
    slip = slip_of(committed, priced)

    assert slip.offline
    assert slip.balance_estimated
    assert slip.balance_after == Decimal(750)
    assert slip.notes == (
        "Продажа без связи: баллы будут подтверждены, когда касса выйдет на связь.",
    )
    text = slip.text()
    assert "Баланс после (примерно)" in text
    assert "≈ 750" in text
    assert "баллы будут" in text


def test_online_priced_but_still_queued_is_an_estimate() -> None:
    committed, priced = priced_sale(served=Served.QUEUED)
    slip = slip_of(committed, priced)
    assert slip.offline
    assert slip.balance_estimated


def test_points_available_at_once_are_in_the_balance() -> None:
    committed, priced = priced_sale(program=KANISTRA, redeem=0, payments=())
    q = committed.quote
    slip = slip_of(committed, priced)

    assert q.earn_points > 0
    assert slip.pending_until is None
    assert slip.balance_after == Decimal(1250) + q.earn_points
    assert "Будут доступны с" not in slip.text()


def test_unknown_balance_prints_no_balance() -> None:
    unknown = CustomerView("c2", "Борис", None, True, None, None)
    committed, priced = priced_sale(customer=unknown, redeem=0)
    slip = slip_of(committed, priced)
    assert slip.balance_after is None
    assert not slip.balance_estimated
    assert "Баланс" not in slip.text()
    assert "Телефон" not in slip.text()


def test_anonymous_sale_invites_to_join() -> None:
    payments = (Payment(PaymentMethod.CASH),)
    committed, priced = priced_sale(customer=None, payments=payments)
    slip = slip_of(committed, priced)
    member = quote(NB, CustomerState(), cart(), occurred_at=NOW, redeem=0, payments=list(payments))

    assert committed.quote.earn_points == 0
    assert slip.anonymous
    assert slip.loyalty_heading is None
    assert slip.loyalty == ()
    assert slip.balance_after is None
    assert slip.join_points == member.earn_points == 778  # 2.5 % of 31 137,91 ₽ paid in cash
    points = f"{int(member.earn_points)}"
    assert slip.notes == (
        f"Вступите в программу лояльности и получите {points} баллов за эту покупку.",
    )
    text = slip.text()
    assert "Покупатель" not in text
    assert "Программа лояльности" not in text
    assert "LS1." + SALE_ID in text

    set_language("en")
    english = slip_of(committed, priced)
    assert english.notes == (
        f"Join the loyalty program to earn {points} points for this purchase.",
    )


def test_dates_are_local_across_midnight() -> None:
    late = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 01:30 on the 24th in Moscow
    committed, priced = priced_sale(at=late)
    slip = slip_of(committed, priced, printed_at=late + timedelta(minutes=1))

    assert slip.sold_at.date() == date(2026, 11, 24)
    assert slip.pending_until == date(2026, 12, 8)
    text = slip.text()
    assert "24.11.2026 01:30" in text
    assert "08.12.2026" in text
    assert "Копия" not in text


def test_a_late_print_says_it_is_a_copy() -> None:
    committed, priced = priced_sale()
    slip = slip_of(committed, priced, printed_at=NOW + timedelta(days=2, hours=1))
    assert "Копия напечатана" in slip.text()
    assert "25.11.2026 16:00" in slip.text()


def test_points_per_line_and_missing_cashier() -> None:
    committed, priced = priced_sale()
    slip = slip_of(committed, priced, cashier_name=None)
    spent_on_lines = [d for line in slip.lines for d in line.details]
    assert len(spent_on_lines) == sum(1 for lq in committed.quote.lines if lq.redeem_points > 0)
    assert sum(lq.redeem_points for lq in committed.quote.lines) == 500
    assert "Кассир" not in slip.text()


@pytest.mark.parametrize("width", [24, 32, 42, 48])
def test_text_fits_the_width(width: int) -> None:
    long_name = Item("LONG", 1000, 1_000_000, None, "Очень-очень длинное название " * 4, "L1")
    committed, priced = priced_sale(items=(long_name,), served=Served.QUEUED, offline=True)
    text = slip_of(committed, priced).text(width)
    for line in text.splitlines():
        assert len(line) <= width, line


def test_naive_print_time_is_refused() -> None:
    committed, priced = priced_sale()
    with pytest.raises(ValueError, match="timezone-aware"):
        slip_of(committed, priced, printed_at=datetime(2026, 11, 23, 12, 0))
