"""Properties of the quote and returns that must hold for any cart, customer and program."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cashier.errors import InvalidCart, InvalidPayments, UserFacingError
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod, Program, load_preset
from cashier.quote import CapReason, CartLine, CustomerState, OfflineContext, Payment, quote
from cashier.returns import PurchasedLine, compute_return

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PRESETS = [load_preset(name) for name in ("nbclub", "kant", "kanistra")]
CATEGORIES = ["phones", "tv", "gift-cards", "services-warranty", None]


@st.composite
def programs(draw: st.DrawFn) -> Program:
    program = draw(st.sampled_from(PRESETS))
    scale = draw(st.sampled_from([0, 0, 1, 2]))
    if scale:  # exercise fractional points: 1 point = 1 rouble, smallest unit 10^-scale points
        program = replace(program, points_scale=scale)
    return program


@st.composite
def carts(draw: st.DrawFn) -> list[CartLine]:
    n = draw(st.integers(1, 12))
    lines = []
    for i in range(n):
        lines.append(
            CartLine(
                line_id=f"L{i}",
                sku=draw(st.sampled_from(["a", "b", "c", "d"])) + str(i),
                qty=draw(st.integers(1, 50_000)),
                unit_price=draw(st.integers(0, 20_000_000)),
                category=draw(st.sampled_from(CATEGORIES)),
                no_redeem=draw(st.booleans()),
                no_earn=draw(st.booleans()),
                min_unit_price=draw(st.none() | st.integers(0, 5_000_000)),
            )
        )
    return lines


customers = st.builds(
    CustomerState,
    available=st.integers(-1000, 1_000_000).map(Decimal),
    pending=st.integers(0, 1000).map(Decimal),
    verified=st.booleans(),
    window_spend=st.integers(0, 20_000_000),
)
offline_contexts = st.none() | st.builds(
    OfflineContext,
    snapshot_age=st.integers(0, 48 * 3600).map(lambda s: timedelta(seconds=s)),
    spent_today=st.integers(0, 2000).map(Decimal),
    spent_since_snapshot=st.integers(0, 2000).map(Decimal),
)
redeems = st.just("max") | st.integers(0, 2_000_000) | st.just(0)
payment_lists = st.lists(st.sampled_from(list(PaymentMethod)), max_size=3).map(
    lambda methods: [Payment(m) for m in methods[:1]]
)


@settings(max_examples=300, deadline=None)
@given(programs(), customers, carts(), redeems, offline_contexts, payment_lists)
def test_quote_invariants(program, customer, lines, redeem, offline, payments) -> None:  # type: ignore[no-untyped-def]
    q = quote(
        program, customer, lines, occurred_at=NOW, redeem=redeem, payments=payments, offline=offline
    )
    unit = program.unit_value
    # line values sum exactly; no negative line; points and money agree
    assert sum(ln.base_amount for ln in q.lines) == q.base_total
    assert sum(ln.final_amount for ln in q.lines) == q.to_pay == q.base_total - q.redeem_amount
    assert sum(ln.redeem_points for ln in q.lines) == q.redeem_points
    assert sum(ln.earn_points for ln in q.lines) == q.earn_points
    assert q.redeem_amount == q.redeem_points * program.point_value
    for ln, src in zip(q.lines, lines, strict=True):
        assert ln.final_amount >= 0
        assert ln.redeem_points >= 0
        assert ln.earn_points >= 0
        if ln.redeem_points:
            assert ln.redeem_eligible
            floor = max(program.min_line_to_pay, -(-(src.min_unit_price or 0) * src.qty // 1000))
            assert ln.final_amount >= floor
        if not ln.earn_eligible:
            assert ln.earn_points == 0
    # redemption never exceeds the tier cap, the balance or the offline budget
    assert q.redeem_points <= q.max_redeem_points
    eligible = sum(ln.base_amount for ln in q.lines if ln.redeem_eligible)
    assert q.redeem_amount * 100 <= eligible * q.tier.redeem_cap_pct
    assert q.redeem_points <= max(customer.available, Decimal(0))
    if offline is not None:
        budget = program.offline_redeem
        if not budget.enabled:
            assert q.redeem_points == 0
        else:
            assert q.redeem_points <= max(
                budget.max_points_per_customer_per_day - offline.spent_today, 0
            )
            assert q.redeem_points <= max(customer.available - offline.spent_since_snapshot, 0)
    if program.redeem_requires_verified_phone and not customer.verified:
        assert q.redeem_points == 0
    if redeem == "max":
        assert q.redeem_points == q.max_redeem_points
    assert q.cap_reasons
    assert all(
        q.limits[r] == q.max_redeem_points
        for r in q.cap_reasons
        if r is not CapReason.EXCLUDED_LINES
    )
    assert q.redeem_amount % unit == 0
    q.cap_explanation()  # every reason can be put into words


@settings(max_examples=200, deadline=None)
@given(programs(), customers, carts(), st.randoms(use_true_random=False))
def test_full_return_in_random_steps_reverses_exactly(program, customer, lines, rnd) -> None:  # type: ignore[no-untyped-def]
    q = quote(
        program,
        customer,
        lines,
        occurred_at=NOW,
        redeem="max",
        payments=[Payment(PaymentMethod.SBP)],
    )
    bought = [
        PurchasedLine(ln.line_id, ln.qty, ln.redeem_points, ln.earn_points, ln.final_amount)
        for ln in q.lines
    ]
    returned: dict[str, int] = {}
    restored = revoked = Decimal(0)
    refunded = 0
    while any(returned.get(b.line_id, 0) < b.qty for b in bought):
        step: dict[str, int] = {}
        for b in bought:
            left = b.qty - returned.get(b.line_id, 0)
            if left and rnd.random() < 0.6:
                step[b.line_id] = rnd.randint(1, left)
        if not step:
            continue
        result = compute_return(bought, returned, step, points_scale=program.points_scale)
        for r in result.lines:
            assert r.points_restored >= 0
            assert r.points_revoked >= 0
            assert r.refund_amount >= 0
        restored += result.points_restored
        revoked += result.points_revoked
        refunded += result.refund_amount
        for k, v in step.items():
            returned[k] = returned.get(k, 0) + v
        assert result.complete == all(returned.get(b.line_id, 0) == b.qty for b in bought)
    assert restored == q.redeem_points
    assert revoked == q.earn_points
    assert refunded == q.to_pay


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.from_regex(r"-?\d{0,14}(\.\d{0,4})?", fullmatch=True))
def test_parsing_any_string_never_crashes(text: str) -> None:
    for parse in (parse_money, parse_quantity):
        try:
            value = parse(text)
        except UserFacingError:
            continue
        assert isinstance(value, int)
    with contextlib.suppress(InvalidCart, InvalidPayments):
        quote(
            PRESETS[0],
            CustomerState(available=Decimal(10**6), verified=True),
            [CartLine("L1", "s", 1000, 100_000)],
            occurred_at=NOW,
            redeem=text,
        )
