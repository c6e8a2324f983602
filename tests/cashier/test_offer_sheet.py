"""The personal-offer sheet built from real programs: per-good points and prices, totals, the
"how to earn more" tips, the QR code read back, the central record, both languages."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from cashier.errors import InvalidCart, InvalidQrPayload
from cashier.i18n import get_language, set_language
from cashier.money import display_money, parse_money, parse_quantity
from cashier.offer_sheet import (
    MAX_SHEET_GOODS,
    OfferSheet,
    SheetCode,
    SheetGood,
    build_sheet,
    parse_sheet_code,
    sheet_code,
    sheet_event,
)
from cashier.program import Bonus, PaymentMethod, Program, load_preset
from cashier.quote import CapReason, CartLine, CustomerState, Payment, Quote, quote
from cashier.till_types import CustomerView

NB = load_preset("nbclub")  # Start 50 % / 1.5 %, Silver 75 % / 3 %, Gold 99 % / 5 %; SBP, cash +1
KANISTRA = load_preset("kanistra")  # one tier, 50 %, 2 % (1 % once points are used), birthday 300
MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 15:00 in Moscow

GOLD = CustomerView(
    id="c_0a1b2c3d4e5f",
    display_name="Анна Петрова",
    tier="gold",
    verified=True,
    phone_masked="+7 *** ***-45-67",
    available=Decimal(12500),
)
START = CustomerView(
    id="c_9f8e7d6c5b4a",
    display_name="Борис Котов",
    tier="start",
    verified=True,
    phone_masked=None,
    available=Decimal(300),
    next_tier="silver",
    next_tier_missing=parse_money("25000"),
)
GOODS = (
    SheetGood("4607000000011", "Смартфон Xiaomi Redmi Note 13 Pro 8/256 ГБ", "phones", 2999900),
    SheetGood("4607000000028", "Чехол-книжка", "accessories", parse_money("1490"), 2000),
    SheetGood("4607000000035", "Кабель USB-C", "cables", parse_money("120"), parse_quantity("1.5")),
    SheetGood("4607000000042", "Подарочная карта", "gift-cards", parse_money("3000")),
)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = get_language()
    set_language("en")
    yield
    set_language(before)


def sheet(
    program: Program = NB,
    customer: CustomerView = GOLD,
    goods: tuple[SheetGood, ...] = GOODS,
    **kw: Any,
) -> OfferSheet:
    args: dict[str, Any] = {
        "issued_at": NOW,
        "store_name": "iPort, ТЦ Галерея",
        "consultant": "Иванова А.",
        "tz": MSK,
    }
    args.update(kw)
    return build_sheet(program, customer, goods, **args)


def alone(
    program: Program, customer: CustomerView, good: SheetGood, method: PaymentMethod
) -> Quote:
    """The engine's own quote of the good bought alone, most points, the rest paid by ``method``."""
    state = CustomerState(
        available=customer.available or Decimal(0), verified=customer.verified, tier=customer.tier
    )
    line = CartLine("x", good.sku, good.qty, good.price, good.category)
    return quote(program, state, [line], occurred_at=NOW, redeem="max", payments=[Payment(method)])


def with_profile_bonus(program: Program, bonus: Bonus) -> Program:
    """``program`` with a profile bonus, whether or not ``Program`` has the field yet."""

    @dataclass(frozen=True)
    class WithProfile(Program):
        profile_bonus: Bonus | None = None

    values = {f.name: getattr(program, f.name) for f in fields(Program)}
    values["profile_bonus"] = bonus
    return WithProfile(**values)


# --- each good on its own ---------------------------------------------------------------------
def test_gold_customer_worked_example() -> None:
    s = sheet()
    phone, case, cable, gift = s.lines
    # 29 999 ₽, Gold may pay 99 % with points, but only 12 500 are on the balance
    assert phone.redeem_points == 12500
    assert phone.cap_reasons == (CapReason.BALANCE,)
    assert phone.limit == "all your points"
    assert phone.personal_amount == parse_money("17499")
    assert phone.earn_points == 874  # 5 % of 17 499 ₽ paid by card
    assert (phone.price, phone.points, phone.personal_price, phone.earn) == (
        "29\u202f999,00 ₽",
        "12\u202f500",
        "17\u202f499,00 ₽",
        "+874",
    )
    # 2 × 1 490 ₽ = 2 980 ₽: the tier's 99 % binds (2 950.2 → 2 950 points)
    assert case.amount == parse_money("2980")
    assert case.redeem_points == 2950
    assert case.limit == "Gold: up to 99%"
    assert case.personal_amount == parse_money("30")
    assert case.quantity == "2 pcs × 1\u202f490,00 ₽"
    # weighed: 1.5 × 120 ₽ = 180 ₽, 99 % → 178 points
    assert (cable.amount, cable.redeem_points, cable.personal_amount) == (18000, Decimal(178), 200)
    assert cable.quantity == "1,500 kg × 120,00 ₽/kg"
    # gift cards can be paid with no points and earn none
    assert (gift.redeem_points, gift.personal_amount, gift.earn_points) == (
        Decimal(0),
        300000,
        Decimal(0),
    )
    assert gift.limit == "cannot be paid with points"
    assert gift.quantity is None


def test_start_customer_worked_example() -> None:
    s = sheet(customer=START)
    phone, case, cable, _gift = s.lines
    assert phone.redeem_points == 300  # the balance binds long before Start's 50 %
    assert phone.limit == "all your points"
    assert phone.personal_amount == parse_money("29699")
    assert phone.earn_points == 445  # 1.5 % of 29 699 ₽
    assert case.redeem_points == 300
    assert cable.redeem_points == 90  # 50 % of 180 ₽
    assert cable.limit == "Start: up to 50%"
    assert s.customer[1].value == "Start"


@pytest.mark.parametrize("program", [NB, KANISTRA], ids=["nbclub", "kanistra"])
@pytest.mark.parametrize("customer", [GOLD, START], ids=["gold", "start"])
def test_each_good_is_priced_alone_by_the_engine(program: Program, customer: CustomerView) -> None:
    s = sheet(program, customer)
    available = customer.available or Decimal(0)
    for good, line in zip(GOODS, s.lines, strict=True):
        q = alone(program, customer, good, PaymentMethod.CARD)
        tier = q.tier
        assert line.redeem_points == q.max_redeem_points
        assert line.redeem_points <= available
        assert line.redeem_amount * 100 <= line.amount * tier.redeem_cap_pct
        assert line.redeem_amount == line.redeem_points * program.unit_value
        assert line.personal_amount == line.amount - line.redeem_amount
        assert line.personal_price == display_money(line.personal_amount)
        assert line.earn_points == q.earn_points
        assert line.cap_reasons == q.cap_reasons


def test_kanistra_earns_the_lower_rate_once_points_are_used() -> None:
    s = sheet(KANISTRA, START)
    phone = s.lines[0]
    assert phone.redeem_points == 300
    assert phone.earn_points == 296  # 1 % of 29 699 ₽, not 2 %


def test_an_unverified_customer_sees_no_points_to_use() -> None:
    unverified = CustomerView("c_1", "Ева", "gold", False, None, Decimal(5000))
    s = sheet(customer=unverified)
    assert all(line.redeem_points == 0 for line in s.lines[:3])
    assert s.lines[0].limit == "once your phone is confirmed"
    assert s.earn_more[0] == "Confirm your phone number at the till to pay with points."
    assert s.redeem_points == 0
    assert s.to_pay == s.total


def test_an_unknown_balance_is_treated_as_none() -> None:
    s = sheet(customer=CustomerView("c_1", "Ева", "gold", True, None, None))
    assert s.customer[2].value == "—"
    assert s.available is None
    assert all(line.redeem_points == 0 for line in s.lines)


# --- all together -----------------------------------------------------------------------------
def test_totals_are_one_cart_of_everything() -> None:
    s = sheet()
    state = CustomerState(available=Decimal(12500), verified=True, tier="gold")
    cart = [CartLine(str(n), g.sku, g.qty, g.price, g.category) for n, g in enumerate(GOODS)]
    q = quote(
        NB, state, cart, occurred_at=NOW, redeem="max", payments=[Payment(PaymentMethod.CARD)]
    )
    assert s.total == sum(line.amount for line in s.lines) == q.base_total
    assert s.redeem_points == q.redeem_points == 12500  # spent once, not per good
    assert sum(line.redeem_points for line in s.lines) > s.redeem_points
    assert s.to_pay == s.total - s.redeem_amount == q.to_pay
    assert s.earn_points == q.earn_points
    labels = [row.label for row in s.totals]
    assert labels == ["Total", "Points to use: 12\u202f500", "To pay", "Points you earn"]
    assert [row.strong for row in s.totals] == [False, False, True, False]
    assert s.totals_note == "Points limited by: all your points"


# --- how to earn more -------------------------------------------------------------------------
def test_nbclub_suggests_the_payment_bonus_with_what_it_adds() -> None:
    s = sheet()
    state = CustomerState(available=Decimal(12500), verified=True, tier="gold")
    cart = [CartLine(str(n), g.sku, g.qty, g.price, g.category) for n, g in enumerate(GOODS)]
    by_sbp = quote(
        NB, state, cart, occurred_at=NOW, redeem="max", payments=[Payment(PaymentMethod.SBP)]
    )
    extra = by_sbp.earn_points - s.earn_points
    assert extra > 0
    assert s.earn_more[0] == (
        f"+1 p.p. on what you pay in cash or by SBP: {extra} more points on this offer"
    )


def test_kanistra_has_no_payment_bonus_to_suggest() -> None:
    s = sheet(KANISTRA, START)
    assert not any("p.p." in tip for tip in s.earn_more)


def test_next_tier_and_whether_this_sheet_reaches_it() -> None:
    s = sheet(customer=START)
    (tip,) = [t for t in s.earn_more if t.startswith("Spend")]
    assert tip == (
        "Spend 25\u202f000,00 ₽ more to reach Silver: up to 75% of a purchase with points and "
        "3% back. Buying everything on this sheet gets you there."
    )
    small = sheet(customer=START, goods=GOODS[1:3])
    (tip,) = [t for t in small.earn_more if t.startswith("Spend")]
    assert "gets you there" not in tip
    assert not any(t.startswith("Spend") for t in sheet(customer=GOLD).earn_more)


def test_birthday_bonus_only_when_the_program_has_one_and_the_date_is_missing() -> None:
    tip = "With your birth date on file: +300 points on every birthday"
    assert tip in sheet(KANISTRA, START, missing=("birth_date",)).earn_more
    assert tip not in sheet(KANISTRA, START, missing=("email",)).earn_more
    assert not any("birth" in t for t in sheet(NB, START, missing=("birth_date",)).earn_more)


def test_profile_bonus_for_the_missing_fields() -> None:
    program = with_profile_bonus(NB, Bonus(points=Decimal(100)))
    assert "Add your e-mail: +100 points" in sheet(program, missing=("email",)).earn_more
    assert "Add your birth date: +100 points" in sheet(program, missing=("birth_date",)).earn_more
    both = sheet(program, missing=("email", "birth_date")).earn_more
    assert "Add your e-mail or birth date: +100 points" in both  # once, for the first of them
    assert not any(t.startswith("Add your") for t in sheet(program).earn_more)
    # the program without the bonus says nothing of it
    assert not any(t.startswith("Add your") for t in sheet(NB, missing=("email",)).earn_more)
    unverified = CustomerView("c_1", "Ева", "start", False, None, Decimal(0))
    tips = sheet(program, unverified, missing=("email",)).earn_more
    assert "Add your e-mail: +100 points (once your phone is confirmed)" in tips


@pytest.mark.skipif(
    getattr(KANISTRA, "profile_bonus", None) is None, reason="the preset has no profile bonus yet"
)
def test_kanistra_preset_profile_bonus() -> None:
    member = CustomerView("c_1", "Ева", "base", True, None, Decimal(500))
    tips = sheet(KANISTRA, member, missing=("email", "birth_date")).earn_more
    assert tips == (
        "Add your e-mail or birth date: +100 points",
        "With your birth date on file: +300 points on every birthday",
    )
    set_language("ru")
    tips = sheet(KANISTRA, member, missing=("email",)).earn_more
    assert tips == ("Укажите e-mail: +100 баллов",)


def test_coupons_are_listed_with_their_dates() -> None:
    s = sheet(coupons=[("−10% на аксессуары", "2026-12-31"), ("Чехол в подарок", "")])
    assert s.earn_more[-2:] == (
        "Coupon «−10% на аксессуары», valid till 31.12.2026",
        "Coupon «Чехол в подарок»",
    )


def test_no_tips_when_there_is_nothing_to_suggest() -> None:
    assert sheet(KANISTRA, GOLD).earn_more == ()


# --- dates, the QR code, the record -----------------------------------------------------------
def test_validity_counts_from_the_local_day() -> None:
    s = sheet()
    assert s.valid_till == date(2026, 12, 7)
    assert s.validity == "Offer valid till 07.12.2026 inclusive"
    assert s.info[0].value == "23.11.2026"
    late = sheet(issued_at=datetime(2026, 11, 23, 22, 30, tzinfo=UTC), valid_days=7)
    assert late.issued_at.date() == date(2026, 11, 24)  # already the 24th in Moscow
    assert late.valid_till == date(2026, 12, 1)


def test_qr_payload_format_and_round_trip() -> None:
    s = sheet()
    assert uuid.UUID(s.sheet_id).version == 4
    assert s.short_id == s.sheet_id.replace("-", "")[:8].upper()
    assert s.qr_payload.startswith("OS1.")
    data = s.qr_payload[4:]
    assert "=" not in data
    body = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    assert body == {
        "s": s.sheet_id,
        "c": "c_0a1b2c3d4e5f",
        "i": [
            ["4607000000011", 1000],
            ["4607000000028", 2000],
            ["4607000000035", 1500],
            ["4607000000042", 1000],
        ],
        "v": "2026-12-07",
    }
    assert parse_sheet_code(s.qr_payload, today=date(2026, 12, 7)) == SheetCode(
        s.sheet_id, "c_0a1b2c3d4e5f", s.items, date(2026, 12, 7)
    )
    # scanner noise around it
    assert parse_sheet_code(f"  {s.qr_payload}\r\n", today=NOW.date()).items == s.items


def test_qr_payload_stays_short() -> None:
    ten = tuple(SheetGood(f"46070000000{n:02d}", f"Товар {n}", None, 100000) for n in range(10))
    s = sheet(goods=ten)
    compact = json.dumps(
        {"s": s.sheet_id, "c": s.customer_id, "i": [list(i) for i in s.items], "v": "2026-12-07"},
        separators=(",", ":"),
    )
    assert len(s.qr_payload) == 4 + -(-len(compact) * 4 // 3)  # base64 of the compact JSON
    assert len(s.qr_payload) <= 430  # 10 EAN-13 goods; short SKUs (≤ 5 characters) ≤ 330
    short = tuple(SheetGood(f"A-{n}", f"Товар {n}", None, 100000) for n in range(10))
    assert len(sheet(goods=short).qr_payload) <= 330


def _code(body: Any) -> str:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return "OS1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


GOOD_BODY = {
    "s": "3f2a9c1e-1111-4222-8333-444455556666",
    "c": "c_1",
    "i": [["SKU-1", 1000]],
    "v": "2026-12-07",
}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "LS1.3f2a9c1e-1111-4222-8333-444455556666",
        "os1." + _code(GOOD_BODY)[4:],
        "OS1.",
        "OS1.@@@@",
        "OS1.eyJz!",
        "OS1." + base64.urlsafe_b64encode(b"hello").decode(),
        "OS1." + base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        _code([1, 2, 3]),
        _code(dict(GOOD_BODY, s="not-a-uuid")),
        _code(dict(GOOD_BODY, s=123)),
        _code(dict(GOOD_BODY, c="")),
        _code(dict(GOOD_BODY, c=7)),
        _code(dict(GOOD_BODY, i="SKU-1")),
        _code(dict(GOOD_BODY, i=[])),
        _code(dict(GOOD_BODY, i=[["SKU-1"]])),
        _code(dict(GOOD_BODY, i=[["SKU-1", 1000, 3]])),
        _code(dict(GOOD_BODY, i=[["SKU-1", "1000"]])),
        _code(dict(GOOD_BODY, i=[["SKU-1", 1.5]])),
        _code(dict(GOOD_BODY, i=[["SKU-1", True]])),
        _code(dict(GOOD_BODY, i=[["SKU-1", 0]])),
        _code(dict(GOOD_BODY, i=[["SKU-1", -1000]])),
        _code(dict(GOOD_BODY, i=[["", 1000]])),
        _code(dict(GOOD_BODY, i=[[5, 1000]])),
        _code(dict(GOOD_BODY, i=[["SKU", 1000]] * (MAX_SHEET_GOODS + 1))),
        _code(dict(GOOD_BODY, v="07.12.2026")),
        _code(dict(GOOD_BODY, v="2026-13-01")),
        _code(dict(GOOD_BODY, v=20261207)),
        _code({k: v for k, v in GOOD_BODY.items() if k != "v"}),
    ],
)
def test_malformed_codes_are_refused_with_a_clear_message(text: str) -> None:
    with pytest.raises(InvalidQrPayload) as caught:
        parse_sheet_code(text, today=date(2026, 12, 1))
    assert caught.value.code == "invalid_qr"
    assert caught.value.message == (
        "This code is not a readable offer sheet: scan the QR on the personal offer sheet "
        "again, or ring the goods up by hand."
    )


def test_the_well_formed_body_of_those_tests_is_accepted() -> None:
    code = parse_sheet_code(_code(GOOD_BODY), today=date(2026, 12, 1))
    assert code.items == (("SKU-1", 1000),)
    fifty = _code(dict(GOOD_BODY, i=[["SKU", 1000]] * MAX_SHEET_GOODS))
    assert len(parse_sheet_code(fifty, today=date(2026, 12, 1)).items) == MAX_SHEET_GOODS


def test_an_expired_sheet_says_so() -> None:
    s = sheet()
    assert parse_sheet_code(s.qr_payload, today=s.valid_till).valid_till == s.valid_till
    with pytest.raises(InvalidQrPayload) as caught:
        parse_sheet_code(s.qr_payload, today=s.valid_till + timedelta(days=1))
    assert caught.value.code == "sheet_expired"
    assert caught.value.message == (
        "This offer sheet was valid till 07.12.2026: ring the goods up by hand, or ask a "
        "consultant for a new sheet."
    )
    set_language("ru")
    with pytest.raises(InvalidQrPayload, match=r"Предложение действовало до 07\.12\.2026"):
        parse_sheet_code(s.qr_payload, today=date(2027, 1, 1))
    with pytest.raises(InvalidQrPayload, match="не читается как персональное предложение"):
        parse_sheet_code("OS1.xx", today=date(2027, 1, 1))


def test_sheet_code_is_what_build_sheet_prints() -> None:
    s = sheet()
    assert sheet_code(s.sheet_id, s.customer_id, s.items, s.valid_till) == s.qr_payload


def test_the_event_for_the_central_record() -> None:
    s = sheet()
    event = sheet_event(s)
    assert event == {
        "sheet_id": s.sheet_id,
        "customer_id": "c_0a1b2c3d4e5f",
        "items": [
            {"sku": "4607000000011", "qty": "1.000"},
            {"sku": "4607000000028", "qty": "2.000"},
            {"sku": "4607000000035", "qty": "1.500"},
            {"sku": "4607000000042", "qty": "1.000"},
        ],
        "valid_till": "2026-12-07",
        "occurred_at": "2026-11-23T15:00:00+03:00",
    }
    assert datetime.fromisoformat(event["occurred_at"]) == NOW
    json.dumps(event)  # plain JSON values only


# --- refusals ---------------------------------------------------------------------------------
def test_a_sheet_needs_goods_and_holds_at_most_fifty() -> None:
    with pytest.raises(InvalidCart, match="at least one item"):
        sheet(goods=())
    many = tuple(SheetGood(f"S{n}", "x", None, 100) for n in range(MAX_SHEET_GOODS + 1))
    with pytest.raises(InvalidCart, match="at most 50 items"):
        sheet(goods=many)
    with pytest.raises(InvalidCart, match="article number"):
        sheet(goods=(SheetGood("", "Без артикула", None, 100),))
    with pytest.raises(InvalidCart):
        sheet(goods=(SheetGood("S1", "x", None, -100),))
    with pytest.raises(ValueError, match="timezone-aware"):
        sheet(issued_at=datetime(2026, 11, 23, 12, 0))


# --- texts and languages ----------------------------------------------------------------------
def test_text_shows_everything_within_its_width() -> None:
    s = sheet(customer=START, missing=("birth_date",), coupons=[("Купон", "2026-12-31")])
    text = s.text(60)
    assert all(len(line) <= 60 for line in text.splitlines())
    for needle in (
        "Борис Котов",
        "Смартфон Xiaomi",
        "29\u202f699,00 ₽",
        "Personal offer",
        "How to earn more",
        "Offer valid till 07.12.2026 inclusive",
        "Points earned are shown for paying by card.",
    ):
        assert needle in text
    assert s.qr_payload in text.replace("\n", "")  # cut into lines of the width
    with pytest.raises(ValueError, match="at least"):
        s.text(20)


def test_english_and_russian() -> None:
    s = sheet(customer=START, missing=("birth_date",))
    assert s.title == "Personal offer"
    assert s.columns == ("Item", "Price", "Points you can use", "Your price", "Points you earn")
    assert s.qr_caption == "Show at the till: the goods go into the cart"
    set_language("ru")
    r = sheet(customer=START, missing=("birth_date",))
    assert r.title == "Персональное предложение"
    assert r.columns == ("Товар", "Цена", "Можно оплатить баллами", "Ваша цена", "Начислим баллов")
    assert r.lines[0].limit == "все ваши баллы"
    assert r.lines[2].limit == "Start: до 50%"
    assert r.lines[1].quantity == "2 шт × 1\u202f490,00 ₽"
    assert r.validity == "Предложение действует до 07.12.2026 включительно"
    assert r.qr_caption == "Покажите на кассе: товары попадут в чек"
    assert r.earn_more[0].startswith("+1 п.п. к начислению при оплате наличными или по СБП: ещё ")
    assert r.earn_more[1].startswith("Купите ещё на 25\u202f000,00 ₽ — и получите уровень Silver")
    assert r.footer[2] == "Начисленными баллами можно расплатиться через 14 дней после покупки."
    k = sheet(KANISTRA, START, missing=("birth_date",))
    assert "С датой рождения в анкете: +300 баллов в каждый день рождения" in k.earn_more
    assert [row.label for row in r.customer] == ["Покупатель", "Уровень", "Доступно баллов"]
