"""Worked examples of the quote, from the case studies (seeds 000, 001, 002)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cashier.errors import InvalidCart, InvalidPayments, RedeemNotAllowed
from cashier.i18n import set_language
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod, load_preset
from cashier.quote import CapReason, CartLine, CustomerState, OfflineContext, Payment, quote

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NB = load_preset("nbclub")
KANT = load_preset("kant")
KANISTRA = load_preset("kanistra")


def line(line_id: str = "L1", price: str = "10000", qty: str = "1", **kw: object) -> CartLine:
    return CartLine(
        line_id, kw.pop("sku", f"sku-{line_id}"), parse_quantity(qty), parse_money(price), **kw
    )  # type: ignore[arg-type]


def customer(available: int = 0, spend: str = "0", verified: bool = True) -> CustomerState:
    return CustomerState(
        available=Decimal(available), verified=verified, window_spend=parse_money(spend)
    )


@pytest.mark.parametrize(
    ("method", "earned"),
    [(PaymentMethod.SBP, 250), (PaymentMethod.CARD, 150), (PaymentMethod.CASH, 250)],
)
def test_nbclub_start_10000_earns_by_payment_method(method: PaymentMethod, earned: int) -> None:
    q = quote(NB, customer(), [line()], occurred_at=NOW, redeem=0, payments=[Payment(method)])
    assert q.tier.code == "start"
    assert q.to_pay == parse_money("10000")
    assert q.earn_points == earned


def test_payment_bonus_applies_only_to_the_part_paid_that_way() -> None:
    # 4 000 ₽ by SBP (2.5 %) + 6 000 ₽ by card (1.5 %) = 100 + 90
    q = quote(
        NB,
        customer(),
        [line()],
        occurred_at=NOW,
        redeem=0,
        payments=[Payment(PaymentMethod.SBP, parse_money("4000")), Payment(PaymentMethod.CARD)],
    )
    assert q.earn_points == 190
    assert [p.amount for p in q.payments] == [parse_money("4000"), parse_money("6000")]


def test_without_payments_no_method_bonus_is_assumed() -> None:
    q = quote(NB, customer(), [line()], occurred_at=NOW, redeem=0)
    assert q.earn_points == 150


def test_gold_customer_may_pay_99_percent_with_points() -> None:
    gold = customer(available=50_000, spend="95000")
    q = quote(
        NB, gold, [line()], occurred_at=NOW, redeem="max", payments=[Payment(PaymentMethod.CARD)]
    )
    assert q.tier.code == "gold"
    assert q.max_redeem_points == 9900
    assert q.redeem_amount == parse_money("9900")
    assert q.to_pay == parse_money("100")
    assert q.earn_points == 5  # 5 % of the 100 ₽ paid in money
    assert q.cap_reasons == (CapReason.TIER_SHARE,)


@pytest.mark.parametrize(
    ("spend", "tier", "cap"), [("0", "start", 5000), ("30000", "silver", 7500)]
)
def test_tier_caps(spend: str, tier: str, cap: int) -> None:
    q = quote(NB, customer(available=50_000, spend=spend), [line()], occurred_at=NOW)
    assert (q.tier.code, q.max_redeem_points) == (tier, cap)


def test_balance_caps_before_the_tier_share() -> None:
    q = quote(NB, customer(available=1250, spend="95000"), [line()], occurred_at=NOW)
    assert q.max_redeem_points == 1250
    assert q.cap_reasons == (CapReason.BALANCE,)
    set_language("en")
    try:
        assert q.cap_explanation() == "balance: 1250"
    finally:
        set_language("ru")


def test_kant_caps_at_50_percent() -> None:
    q = quote(KANT, customer(available=100_000), [line(price="3000")], occurred_at=NOW)
    assert q.max_redeem_points == 1500
    assert q.to_pay == parse_money("1500")
    assert q.earn_points == 75  # 5 % of the 1 500 ₽ paid


def test_kanistra_2_percent_with_money_only_1_percent_once_points_are_used() -> None:
    c = customer(available=500)
    money_only = quote(KANISTRA, c, [line(price="5000")], occurred_at=NOW, redeem=0)
    assert money_only.earn_points == 100
    with_points = quote(KANISTRA, c, [line(price="5000")], occurred_at=NOW, redeem=500)
    assert with_points.redeem_points == 500
    assert with_points.to_pay == parse_money("4500")
    assert with_points.earn_points == 45


def test_explicit_request_is_clamped_or_refused_when_strict() -> None:
    c = customer(available=100_000)
    q = quote(NB, c, [line()], occurred_at=NOW, redeem=7000)
    assert (q.redeem_points, q.requested, q.requested_clamped) == (5000, "7000", True)
    with pytest.raises(RedeemNotAllowed):
        quote(NB, c, [line()], occurred_at=NOW, redeem=7000, strict_redeem=True)


def test_unverified_customer_earns_but_cannot_spend() -> None:
    q = quote(NB, customer(available=1000, verified=False), [line()], occurred_at=NOW)
    assert q.max_redeem_points == 0
    assert CapReason.NOT_VERIFIED in q.cap_reasons
    assert q.earn_points == 150


def test_excluded_category_is_neither_redeemed_nor_earned_and_is_explained() -> None:
    lines = [line("L1", "1000"), line("L2", "1000", category="gift-cards")]
    q = quote(NB, customer(available=100_000), lines, occurred_at=NOW)
    assert q.max_redeem_points == 500  # 50 % of the 1 000 ₽ that may be paid with points
    assert q.lines[1].redeem_points == 0
    assert not q.lines[1].redeem_eligible
    assert q.lines[1].earn_points == 0
    assert not q.lines[1].earn_eligible
    assert q.cap_reasons == (CapReason.TIER_SHARE, CapReason.EXCLUDED_LINES)


def test_no_redeem_flag_and_min_unit_price_floor() -> None:
    lines = [
        line("L1", "1000", no_redeem=True),
        CartLine(
            "L2", "s2", parse_quantity("2"), parse_money("500"), min_unit_price=parse_money("400")
        ),
    ]
    q = quote(NB, customer(available=100_000, spend="95000"), lines, occurred_at=NOW)
    # Gold 99 % of the eligible 1 000 ₽ = 990, but L2 must keep 2 × 400 ₽ in money
    assert q.max_redeem_points == 200
    assert q.cap_reasons == (CapReason.MIN_TO_PAY, CapReason.EXCLUDED_LINES)
    assert q.lines[1].final_amount == parse_money("800")


def test_redeemed_points_spread_by_largest_remainder_and_sum_exactly() -> None:
    lines = [line("L1", "100"), line("L2", "100"), line("L3", "100")]
    q = quote(NB, customer(available=100), lines, occurred_at=NOW)
    assert [ln.redeem_points for ln in q.lines] == [34, 33, 33]
    assert sum(ln.final_amount for ln in q.lines) == q.to_pay == parse_money("200")


def test_weighed_goods_round_to_the_kopeck() -> None:
    q = quote(NB, customer(), [line(price="389.90", qty="0.742")], occurred_at=NOW, redeem=0)
    assert q.base_total == 28931  # 389.90 × 0.742 = 289.3058 → 289.31


def test_earn_is_spread_over_lines_and_sums_to_the_floored_total() -> None:
    lines = [line("L1", "33.33"), line("L2", "33.33"), line("L3", "33.34")]
    q = quote(
        NB, customer(), lines, occurred_at=NOW, redeem=0, payments=[Payment(PaymentMethod.SBP)]
    )
    assert q.earn_points == 2  # 2.5 % of 100 ₽
    assert sum(ln.earn_points for ln in q.lines) == 2


def test_multipliers_scale_the_rate() -> None:
    from dataclasses import replace

    doubled = replace(NB, category_multipliers={"tv": Decimal(2)})
    q = quote(doubled, customer(), [line(category="tv")], occurred_at=NOW, redeem=0)
    assert q.earn_points == 300


def test_activation_and_expiry_dates() -> None:
    q = quote(NB, customer(), [line()], occurred_at=NOW, redeem=0)
    assert q.earn_available_from == NOW + timedelta(days=14)
    assert q.earn_expires_at == datetime(2028, 1, 23, 12, 0, tzinfo=UTC)
    k = quote(KANT, customer(), [line()], occurred_at=NOW, redeem=0)
    assert k.earn_expires_at == datetime(2027, 6, 7, 12, 0, tzinfo=UTC)  # 6 months after activation


def test_offline_budget_caps_redemption() -> None:
    c = customer(available=5000, spend="95000")
    off = OfflineContext(
        snapshot_age=timedelta(hours=1), spent_today=Decimal(300), spent_since_snapshot=Decimal(300)
    )
    q = quote(NB, c, [line()], occurred_at=NOW, offline=off)
    assert q.max_redeem_points == 700  # 1 000 a day, 300 already spent offline today
    assert q.cap_reasons == (CapReason.OFFLINE_BUDGET,)
    assert q.offline
    set_language("en")
    try:
        assert q.cap_explanation() == "offline: at most 700 today"
    finally:
        set_language("ru")


@pytest.mark.parametrize(
    ("program", "ctx", "verified", "reason"),
    [
        (KANISTRA, OfflineContext(snapshot_age=timedelta(0)), True, CapReason.OFFLINE_DISABLED),
        (
            NB,
            OfflineContext(snapshot_age=timedelta(hours=25)),
            True,
            CapReason.OFFLINE_SNAPSHOT_OLD,
        ),
    ],
)
def test_offline_redemption_refused(program, ctx, verified, reason) -> None:  # type: ignore[no-untyped-def]
    q = quote(
        program, customer(available=5000, verified=verified), [line()], occurred_at=NOW, offline=ctx
    )
    assert q.max_redeem_points == 0
    assert reason in q.cap_reasons


def test_offline_balance_minus_what_this_till_spent_since_the_snapshot() -> None:
    off = OfflineContext(snapshot_age=timedelta(hours=1), spent_since_snapshot=Decimal(4800))
    q = quote(NB, customer(available=5000, spend="95000"), [line()], occurred_at=NOW, offline=off)
    assert q.max_redeem_points == 200
    assert q.cap_reasons == (CapReason.BALANCE,)


def test_anonymous_sale_earns_nothing_and_redeems_nothing() -> None:
    q = quote(NB, None, [line()], occurred_at=NOW)
    assert (q.max_redeem_points, q.earn_points, q.to_pay) == (0, 0, parse_money("10000"))


def test_confirmation_required_above_the_threshold() -> None:
    q = quote(NB, customer(available=1000), [line()], occurred_at=NOW, redeem=600)
    assert q.requires_confirmation
    assert not quote(
        NB, customer(available=1000), [line()], occurred_at=NOW, redeem=500
    ).requires_confirmation


@pytest.mark.parametrize(
    "payments",
    [
        [Payment(PaymentMethod.CARD), Payment(PaymentMethod.CASH)],
        [Payment(PaymentMethod.CARD, parse_money("20000"))],
        [Payment(PaymentMethod.CARD, parse_money("100"))],
        [Payment(PaymentMethod.CARD, -1), Payment(PaymentMethod.CASH)],
    ],
)
def test_payments_that_do_not_add_up_are_refused(payments: list[Payment]) -> None:
    with pytest.raises(InvalidPayments):
        quote(NB, customer(), [line()], occurred_at=NOW, redeem=0, payments=payments)


def test_bad_cart_lines_are_refused() -> None:
    with pytest.raises(InvalidCart):
        quote(NB, customer(), [line("L1"), line("L1")], occurred_at=NOW)
    with pytest.raises(InvalidCart):
        quote(NB, customer(), [CartLine("L1", "s", 0, 100)], occurred_at=NOW)
    with pytest.raises(InvalidCart):
        quote(NB, customer(), [line()], occurred_at=NOW, redeem="-5")
    with pytest.raises(InvalidCart):
        quote(NB, customer(), [line()], occurred_at=NOW, redeem="lots")


def test_messages_are_russian_by_default() -> None:
    set_language("ru")
    with pytest.raises(InvalidPayments) as err:
        quote(NB, customer(), [line()], occurred_at=NOW, payments=[Payment(PaymentMethod.CARD, 1)])
    assert "оплат" in err.value.message.lower()


def test_a_coupon_discount_comes_off_before_points_and_earn() -> None:
    rich = CustomerState(available=Decimal(10_000), verified=True)
    line = CartLine("L1", "sku", parse_quantity("1"), parse_money("1000.00"), "x", discount=10_000)
    q = quote(NB, rich, [line], occurred_at=NOW, payments=[Payment(PaymentMethod.CARD)])
    assert (q.base_total, q.discount_total) == (100_000, 10_000)
    assert q.redeem_points == Decimal(450)  # Start: 50 % of the 900 ₽ left after the coupon
    assert q.to_pay == 45_000 and q.lines[0].final_amount == 45_000
    assert q.lines[0].base_amount == 100_000 and q.lines[0].discount == 10_000
    assert q.earn_points == Decimal(6)  # Start: 1.5 % of the 450 ₽ paid, rounded down
    too_big = CartLine("L1", "sku", parse_quantity("1"), parse_money("10.00"), "x", discount=1001)
    with pytest.raises(InvalidCart):
        quote(NB, rich, [too_big], occurred_at=NOW)
