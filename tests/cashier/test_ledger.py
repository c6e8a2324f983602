"""Ledger math: balances, which lots a redemption or a return takes, expiry, tier window, bonuses.

Plus properties of the exact apportioning helpers the quote builds on (``cashier.allocation``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cashier.allocation import allocate, apportion
from cashier.errors import InsufficientPoints
from cashier.ledger import (
    Balance,
    Lot,
    SpendEvent,
    balance,
    expired_lots,
    lot_expiry,
    plan_consumption,
    plan_revoke,
    tier_at,
    welcome_bonus_due,
    window_spend,
)
from cashier.program import Bonus, ExpiryPolicy, Program, load_preset

NB = load_preset("nbclub")  # since_last_purchase, 14 months
KANT = load_preset("kant")  # per_lot, 6 months
NEVER = dataclasses.replace(KANT, expiry_policy=ExpiryPolicy.NEVER, expiry_months=0)


def at(
    year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def lot(
    lot_id: str, points: int | str, available_from: datetime, expires_at: datetime | None = None
) -> Lot:
    return Lot(lot_id, Decimal(points), available_from, expires_at)


NOW = at(2026, 3, 10)

# Kant lots at NOW: two available, two pending on the same day, one pending later, one expired,
# one empty.
KANT_LOTS = [
    lot("a", 10, at(2026, 1, 1), at(2026, 7, 1)),
    lot("b", 20, at(2026, 2, 1), at(2026, 8, 1)),
    lot("c", 5, at(2026, 3, 20), at(2026, 9, 20)),
    lot("d", 7, at(2026, 3, 20), at(2026, 9, 20)),
    lot("e", 3, at(2026, 3, 25), at(2026, 9, 25)),
    lot("old", 100, at(2025, 6, 1), at(2025, 12, 1)),
    lot("empty", 0, at(2026, 1, 1), at(2026, 6, 1)),
]


# -- balance --------------------------------------------------------------------------------------


def test_balance_per_lot() -> None:
    b = balance(KANT, KANT_LOTS, NOW, None)
    assert b == Balance(
        available=Decimal(30),
        pending=Decimal(15),
        next_activation=(Decimal(12), at(2026, 3, 20)),
        next_expiry=(Decimal(10), at(2026, 7, 1)),
    )
    assert b.total == Decimal(45)


def test_balance_activation_is_inclusive() -> None:
    b = balance(KANT, KANT_LOTS, at(2026, 3, 20), None)
    assert b.available == Decimal(42)
    assert b.pending == Decimal(3)
    assert b.next_activation == (Decimal(3), at(2026, 3, 25))


def test_balance_nothing_pending() -> None:
    b = balance(KANT, KANT_LOTS, at(2026, 4, 1), None)
    assert b.pending == 0
    assert b.next_activation is None
    assert b.available == Decimal(45)


def test_balance_excludes_expired_lots_at_the_expiry_instant() -> None:
    b = balance(KANT, KANT_LOTS, at(2026, 7, 1), None)
    assert b.available == Decimal(35)  # "a" expired exactly now
    assert b.next_expiry == (Decimal(20), at(2026, 8, 1))
    before = balance(KANT, KANT_LOTS, at(2026, 7, 1) - timedelta(seconds=1), None)
    assert before.available == Decimal(45)


def test_balance_next_expiry_sums_lots_expiring_together() -> None:
    b = balance(KANT, KANT_LOTS, at(2026, 8, 2), None)
    assert b.next_expiry == (Decimal(12), at(2026, 9, 20))


def test_balance_since_last_purchase() -> None:
    lots = [
        lot("a", 10, at(2025, 12, 1)),
        lot("b", 20, at(2026, 1, 29)),
        lot("p", 5, at(2026, 3, 20)),  # pending
    ]
    last = at(2026, 3, 6)
    b = balance(NB, lots, NOW, last)
    assert b.available == Decimal(30)
    assert b.pending == Decimal(5)
    assert b.next_activation == (Decimal(5), at(2026, 3, 20))
    # the whole balance burns together, 14 months after the last purchase
    assert b.next_expiry == (Decimal(35), at(2027, 5, 6))


def test_balance_since_last_purchase_after_the_burn() -> None:
    lots = [lot("a", 10, at(2025, 12, 1)), lot("b", 20, at(2026, 1, 29))]
    b = balance(NB, lots, at(2027, 5, 6), at(2026, 3, 6))
    assert b == Balance(Decimal(0), Decimal(0), None, None)


def test_balance_without_a_purchase_never_burns_under_since_last_purchase() -> None:
    lots = [lot("welcome", 100, at(2020, 1, 1))]
    b = balance(NB, lots, NOW, None)
    assert b.available == Decimal(100)
    assert b.next_expiry is None


def test_balance_never_policy_ignores_lot_expiry() -> None:
    b = balance(NEVER, KANT_LOTS, at(2030, 1, 1), None)
    assert b.available == Decimal(145)
    assert b.next_expiry is None


def test_balance_of_no_lots() -> None:
    assert balance(KANT, [], NOW, None) == Balance(Decimal(0), Decimal(0), None, None)


def test_lot_expiry_by_policy() -> None:
    some = lot("x", 1, at(2026, 1, 1), at(2026, 7, 1))
    assert lot_expiry(KANT, some, at(2026, 2, 1)) == at(2026, 7, 1)
    assert lot_expiry(NB, some, at(2026, 2, 1)) == at(2027, 4, 1)
    assert lot_expiry(NB, some, None) is None
    assert lot_expiry(NEVER, some, at(2026, 2, 1)) is None


# -- plan_consumption -----------------------------------------------------------------------------


def test_consumption_takes_nearest_expiry_first() -> None:
    lots = [
        lot("late", 20, at(2026, 2, 1), at(2026, 8, 1)),
        lot("soon", 10, at(2026, 1, 1), at(2026, 7, 1)),
    ]
    takes, shortfall = plan_consumption(KANT, lots, Decimal(25), NOW, None)
    assert takes == [("soon", Decimal(10)), ("late", Decimal(15))]
    assert shortfall == 0


def test_consumption_stops_when_covered() -> None:
    takes, shortfall = plan_consumption(KANT, KANT_LOTS, Decimal(4), NOW, None)
    assert takes == [("a", Decimal(4))]
    assert shortfall == 0


def test_consumption_takes_never_expiring_lots_last() -> None:
    lots = [
        lot("forever", 50, at(2025, 1, 1), None),  # e.g. an opening balance without expiry
        lot("soon", 10, at(2026, 1, 1), at(2026, 7, 1)),
        lot("later", 10, at(2026, 1, 1), at(2027, 7, 1)),
    ]
    takes, _ = plan_consumption(KANT, lots, Decimal(30), NOW, None)
    assert takes == [("soon", Decimal(10)), ("later", Decimal(10)), ("forever", Decimal(10))]


def test_consumption_ties_by_activation_then_lot_id() -> None:
    expiry = at(2026, 9, 1)
    lots = [
        lot("z", 5, at(2026, 2, 1), expiry),
        lot("m", 5, at(2026, 1, 1), expiry),
        lot("b", 5, at(2026, 2, 1), expiry),
        lot("a", 5, at(2026, 2, 1), expiry),
    ]
    takes, _ = plan_consumption(KANT, lots, Decimal(20), NOW, None)
    assert [lot_id for lot_id, _ in takes] == ["m", "a", "b", "z"]


def test_consumption_since_last_purchase_goes_by_activation() -> None:
    lots = [
        lot("newer", 10, at(2026, 2, 1)),
        lot("older", 10, at(2025, 12, 1)),
        lot("pending", 10, at(2026, 3, 20)),
    ]
    takes, _ = plan_consumption(NB, lots, Decimal(15), NOW, at(2026, 3, 6))
    assert takes == [("older", Decimal(10)), ("newer", Decimal(5))]


def test_consumption_leaves_pending_and_expired_lots_alone() -> None:
    takes, shortfall = plan_consumption(KANT, KANT_LOTS, Decimal(30), NOW, None)
    assert takes == [("a", Decimal(10)), ("b", Decimal(20))]
    assert shortfall == 0


def test_consumption_beyond_available_raises() -> None:
    with pytest.raises(InsufficientPoints) as info:
        plan_consumption(KANT, KANT_LOTS, Decimal(31), NOW, None)
    assert info.value.code == "insufficient_points"
    assert "30" in info.value.message  # what is available (pending and expired lots do not count)


def test_consumption_with_shortfall_allowed() -> None:
    takes, shortfall = plan_consumption(
        KANT, KANT_LOTS, Decimal(50), NOW, None, allow_shortfall=True
    )
    assert takes == [("a", Decimal(10)), ("b", Decimal(20))]
    assert shortfall == Decimal(20)


def test_consumption_of_nothing() -> None:
    assert plan_consumption(KANT, KANT_LOTS, Decimal(0), NOW, None) == ([], Decimal(0))


def test_consumption_with_no_lots() -> None:
    with pytest.raises(InsufficientPoints):
        plan_consumption(KANT, [], Decimal(1), NOW, None)
    assert plan_consumption(KANT, [], Decimal(1), NOW, None, allow_shortfall=True) == (
        [],
        Decimal(1),
    )


def test_consumption_fractional_points() -> None:
    lots = [
        lot("a", "1.25", at(2026, 1, 1), at(2026, 7, 1)),
        lot("b", "3.50", at(2026, 1, 1), at(2026, 8, 1)),
    ]
    takes, shortfall = plan_consumption(KANT, lots, Decimal("2.75"), NOW, None)
    assert takes == [("a", Decimal("1.25")), ("b", Decimal("1.50"))]
    assert shortfall == 0


# -- plan_revoke ----------------------------------------------------------------------------------


def test_revoke_takes_own_lots_first_even_pending() -> None:
    lots = [*KANT_LOTS, lot("own", 50, at(2026, 3, 24), at(2026, 9, 24))]
    takes, shortfall = plan_revoke(KANT, lots, Decimal(20), ["own"], NOW, None)
    assert takes == [("own", Decimal(20))]
    assert shortfall == 0


def test_revoke_then_other_available_lots_by_nearest_expiry() -> None:
    lots = [*KANT_LOTS, lot("own", 5, at(2026, 3, 24), at(2026, 9, 24))]
    takes, shortfall = plan_revoke(KANT, lots, Decimal(20), ["own"], NOW, None)
    assert takes == [("own", Decimal(5)), ("a", Decimal(10)), ("b", Decimal(5))]
    assert shortfall == 0


def test_revoke_several_own_lots_in_the_given_order() -> None:
    lots = [
        *KANT_LOTS,
        lot("own1", 4, at(2026, 3, 24), at(2026, 9, 24)),
        lot("own2", 6, at(2026, 3, 24), at(2026, 9, 24)),
    ]
    takes, _ = plan_revoke(KANT, lots, Decimal(8), ["own2", "own1"], NOW, None)
    assert takes == [("own2", Decimal(6)), ("own1", Decimal(2))]


def test_revoke_shortfall_when_the_points_are_gone() -> None:
    lots = [*KANT_LOTS, lot("own", 5, at(2026, 3, 24), at(2026, 9, 24))]
    takes, shortfall = plan_revoke(KANT, lots, Decimal(60), ["own"], NOW, None)
    # own 5, then the available 30; other pending lots (c, d, e) are not taken
    assert takes == [("own", Decimal(5)), ("a", Decimal(10)), ("b", Decimal(20))]
    assert shortfall == Decimal(25)


def test_revoke_skips_spent_expired_and_unknown_own_lots() -> None:
    lots = [
        lot("own-spent", 0, at(2026, 1, 1), at(2026, 7, 1)),
        lot("own-expired", 9, at(2025, 1, 1), at(2025, 7, 1)),
        lot("other", 10, at(2026, 1, 1), at(2026, 7, 1)),
    ]
    takes, shortfall = plan_revoke(
        KANT, lots, Decimal(4), ["own-spent", "own-expired", "ghost"], NOW, None
    )
    assert takes == [("other", Decimal(4))]
    assert shortfall == 0


def test_revoke_of_nothing() -> None:
    assert plan_revoke(KANT, KANT_LOTS, Decimal(0), ["a"], NOW, None) == ([], Decimal(0))


# -- expired_lots ---------------------------------------------------------------------------------


def test_expired_lots_per_lot() -> None:
    assert expired_lots(KANT, KANT_LOTS, NOW, None) == [("old", Decimal(100))]
    assert expired_lots(KANT, KANT_LOTS, at(2026, 7, 1) - timedelta(seconds=1), None) == [
        ("old", Decimal(100))
    ]
    assert expired_lots(KANT, KANT_LOTS, at(2026, 7, 1), None) == [
        ("a", Decimal(10)),
        ("old", Decimal(100)),
    ]


NB_LOTS = [
    lot("a", 10, at(2025, 12, 1)),
    lot("b", 20, at(2026, 1, 29)),
    lot("spent", 0, at(2025, 11, 1)),
]


def test_nbclub_whole_balance_burns_14_months_after_last_purchase() -> None:
    last = at(2026, 1, 15, 10)
    burn = at(2027, 3, 15, 10)
    assert expired_lots(NB, NB_LOTS, burn - timedelta(seconds=1), last) == []
    assert expired_lots(NB, NB_LOTS, burn, last) == [("a", Decimal(10)), ("b", Decimal(20))]


def test_nbclub_later_purchase_moves_the_burn() -> None:
    later = at(2026, 6, 1, 10)
    assert expired_lots(NB, NB_LOTS, at(2027, 3, 15, 10), later) == []
    assert expired_lots(NB, NB_LOTS, at(2027, 7, 31, 10), later) == []
    assert expired_lots(NB, NB_LOTS, at(2027, 8, 1, 10), later) == [
        ("a", Decimal(10)),
        ("b", Decimal(20)),
    ]


def test_nbclub_burn_clamps_to_month_end() -> None:
    last = at(2025, 12, 31)  # + 14 months → 28 February 2027
    assert expired_lots(NB, NB_LOTS, at(2027, 2, 28) - timedelta(seconds=1), last) == []
    assert len(expired_lots(NB, NB_LOTS, at(2027, 2, 28), last)) == 2


def test_nothing_expires_without_an_expiry() -> None:
    assert expired_lots(NEVER, KANT_LOTS, at(2099, 1, 1), None) == []
    assert expired_lots(NB, NB_LOTS, at(2099, 1, 1), None) == []


# -- tier window ----------------------------------------------------------------------------------


def test_window_spend_counts_only_inside_the_window() -> None:
    at_ = at(2026, 3, 10)
    start = at(2025, 1, 10)  # 14 months earlier
    events = [
        SpendEvent(start - timedelta(seconds=1), 1_000_000),
        SpendEvent(start + timedelta(seconds=1), 200_000),
        SpendEvent(at(2025, 8, 1), 300_000),
        SpendEvent(at_, 50_000),
        SpendEvent(at_ + timedelta(seconds=1), 9_999_999),  # after "now": not yet
    ]
    assert window_spend(NB, events, at_) == 550_000


def test_window_spend_is_net_of_returns() -> None:
    events = [
        SpendEvent(at(2026, 1, 5), 5_000_000),
        SpendEvent(at(2026, 1, 20), -1_500_000),
        SpendEvent(at(2026, 2, 5), 1_000_000),
    ]
    assert window_spend(NB, events, NOW) == 4_500_000


def test_window_spend_never_below_zero() -> None:
    events = [
        SpendEvent(at(2024, 6, 1), 5_000_000),  # outside the window
        SpendEvent(at(2026, 1, 20), -3_000_000),  # its return, inside
    ]
    assert window_spend(NB, events, NOW) == 0
    assert window_spend(NB, [], NOW) == 0


def test_tier_at_follows_window_spend() -> None:
    assert tier_at(NB, [SpendEvent(at(2026, 1, 5), 2_999_999)], NOW).code == "start"
    assert tier_at(NB, [SpendEvent(at(2026, 1, 5), 3_000_000)], NOW).code == "silver"
    gold = [SpendEvent(at(2025, 6, 1), 9_000_000)]
    assert tier_at(NB, gold, NOW).code == "gold"
    # a return drops the tier
    assert tier_at(NB, [*gold, SpendEvent(at(2026, 1, 5), -1)], NOW).code == "silver"
    # the spend leaves the 14-month window: back to Start
    assert tier_at(NB, gold, at(2026, 8, 2)).code == "start"


# -- welcome bonus --------------------------------------------------------------------------------


def test_welcome_bonus_once_per_phone_only_verified() -> None:
    assert welcome_bonus_due(KANT, phone_verified=True, phone_ever_welcomed=False) == Decimal(100)
    assert welcome_bonus_due(KANT, phone_verified=False, phone_ever_welcomed=False) == 0
    assert welcome_bonus_due(KANT, phone_verified=True, phone_ever_welcomed=True) == 0
    assert welcome_bonus_due(KANT, phone_verified=False, phone_ever_welcomed=True) == 0


def test_welcome_bonus_absent() -> None:
    assert welcome_bonus_due(NB, phone_verified=True, phone_ever_welcomed=False) == 0


def test_welcome_bonus_without_verification_requirement() -> None:
    program = dataclasses.replace(
        KANT, welcome_bonus=Bonus(points=Decimal(50), requires_verified_phone=False)
    )
    assert welcome_bonus_due(program, phone_verified=False, phone_ever_welcomed=False) == Decimal(
        50
    )
    assert welcome_bonus_due(program, phone_verified=False, phone_ever_welcomed=True) == 0


# -- properties: plan_consumption -----------------------------------------------------------------

BASE = at(2026, 6, 1)


@st.composite
def lots_strategy(draw: st.DrawFn) -> list[Lot]:
    n = draw(st.integers(min_value=0, max_value=12))
    out = []
    for i in range(n):
        remaining = Decimal(draw(st.integers(min_value=0, max_value=5000))).scaleb(
            -draw(st.sampled_from([0, 2]))
        )
        available = BASE + timedelta(days=draw(st.integers(min_value=-400, max_value=60)))
        expires = draw(
            st.one_of(
                st.none(),
                st.integers(min_value=-200, max_value=400).map(lambda d: BASE + timedelta(days=d)),
            )
        )
        out.append(Lot(f"lot{i:02d}", remaining, available, expires))
    return out


PROGRAMS = st.sampled_from([KANT, NB, NEVER])
LAST_PURCHASE = st.one_of(
    st.none(), st.integers(min_value=-700, max_value=0).map(lambda d: BASE + timedelta(days=d))
)


@given(PROGRAMS, lots_strategy(), st.data(), LAST_PURCHASE)
@settings(max_examples=300)
def test_consumption_takes_exactly_from_available_lots(
    program: Program, lots: list[Lot], data: st.DataObject, last: datetime | None
) -> None:
    available = balance(program, lots, BASE, last).available
    points = data.draw(st.decimals(min_value=0, max_value=available, places=2), label="points")
    takes, shortfall = plan_consumption(program, lots, points, BASE, last)
    assert shortfall == 0
    assert sum((amount for _, amount in takes), Decimal(0)) == points
    by_id = {lot.lot_id: lot for lot in lots}
    ids = [lot_id for lot_id, _ in takes]
    assert len(ids) == len(set(ids))
    for lot_id, amount in takes:
        taken = by_id[lot_id]
        assert 0 < amount <= taken.remaining
        assert taken.available_from <= BASE
        expiry = lot_expiry(program, taken, last)
        assert expiry is None or expiry > BASE
    # every lot but the last one taken is emptied
    for lot_id, amount in takes[:-1]:
        assert amount == by_id[lot_id].remaining


@given(PROGRAMS, lots_strategy(), LAST_PURCHASE, st.integers(min_value=1, max_value=100))
def test_consumption_beyond_available_raises_or_reports_shortfall(
    program: Program, lots: list[Lot], last: datetime | None, extra: int
) -> None:
    available = balance(program, lots, BASE, last).available
    points = available + extra
    with pytest.raises(InsufficientPoints):
        plan_consumption(program, lots, points, BASE, last)
    takes, shortfall = plan_consumption(program, lots, points, BASE, last, allow_shortfall=True)
    assert shortfall == extra
    assert sum((amount for _, amount in takes), Decimal(0)) == available


@given(PROGRAMS, lots_strategy(), LAST_PURCHASE, st.integers(min_value=0, max_value=20_000))
def test_revoke_never_takes_more_than_asked_or_held(
    program: Program, lots: list[Lot], last: datetime | None, cents: int
) -> None:
    points = Decimal(cents).scaleb(-2)
    own = [lot.lot_id for lot in lots[::2]]
    takes, shortfall = plan_revoke(program, lots, points, own, BASE, last)
    assert shortfall >= 0
    assert sum((amount for _, amount in takes), Decimal(0)) + shortfall == points
    by_id = {lot.lot_id: lot for lot in lots}
    ids = [lot_id for lot_id, _ in takes]
    assert len(ids) == len(set(ids))
    for lot_id, amount in takes:
        assert 0 < amount <= by_id[lot_id].remaining


# -- properties: allocation -----------------------------------------------------------------------


@st.composite
def allocation_case(draw: st.DrawFn) -> tuple[int, list[int], list[int]]:
    n = draw(st.integers(min_value=1, max_value=30))
    weights = draw(st.lists(st.integers(min_value=0, max_value=10**7), min_size=n, max_size=n))
    caps = draw(st.lists(st.integers(min_value=0, max_value=10**5), min_size=n, max_size=n))
    room = sum(c for w, c in zip(weights, caps, strict=True) if w > 0)
    total = draw(st.integers(min_value=0, max_value=room))
    return total, weights, caps


@given(allocation_case())
@settings(max_examples=500)
def test_allocate_sums_to_total_within_caps(case: tuple[int, list[int], list[int]]) -> None:
    total, weights, caps = case
    shares = allocate(total, weights, caps)
    assert len(shares) == len(weights)
    assert sum(shares) == total
    for share, weight, cap in zip(shares, weights, caps, strict=True):
        assert 0 <= share <= cap
        if weight == 0:
            assert share == 0


@given(allocation_case())
@settings(max_examples=500)
def test_allocate_is_proportional_when_no_cap_binds(case: tuple[int, list[int], list[int]]) -> None:
    total, weights, caps = case
    weight_sum = sum(weights)
    if weight_sum == 0:
        return
    # "no cap binds": every weighted part's exact proportional share fits under its cap
    if any(w > 0 and total * w > c * weight_sum for w, c in zip(weights, caps, strict=True)):
        return
    shares = allocate(total, weights, caps)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(Fraction(share) - Fraction(total * weight, weight_sum)) < 1


def test_allocate_examples() -> None:
    assert allocate(10, [1, 1, 1], [10, 10, 10]) == [4, 3, 3]  # ties: the earlier part
    assert allocate(10, [1, 1, 0], [2, 100, 100]) == [
        2,
        8,
        0,
    ]  # a cap binds, the rest is shared again
    assert allocate(0, [5, 5], [0, 0]) == [0, 0]
    assert allocate(5, [0, 3], [100, 5]) == [0, 5]


def test_allocate_refuses_impossible_totals() -> None:
    with pytest.raises(ValueError, match="cannot allocate"):
        allocate(11, [1, 1], [5, 5])
    with pytest.raises(ValueError, match="cannot allocate"):
        allocate(1, [0, 0], [5, 5])  # zero-weight parts cannot take anything
    with pytest.raises(ValueError, match="cannot allocate"):
        allocate(-1, [1], [5])


@st.composite
def apportion_case(draw: st.DrawFn) -> tuple[int, list[int], int]:
    denominator = draw(st.integers(min_value=1, max_value=10**6))
    numerators = draw(st.lists(st.integers(min_value=0, max_value=10**9), min_size=0, max_size=30))
    floors = sum(n // denominator for n in numerators)
    total = floors + draw(st.integers(min_value=0, max_value=len(numerators)))
    return total, numerators, denominator


@given(apportion_case())
@settings(max_examples=500)
def test_apportion_sums_and_rounds_each_part_by_less_than_one(
    case: tuple[int, list[int], int],
) -> None:
    total, numerators, denominator = case
    parts = apportion(total, numerators, denominator)
    assert sum(parts) == total
    for part, num in zip(parts, numerators, strict=True):
        assert part in (num // denominator, num // denominator + 1)


def test_apportion_largest_remainders_get_the_extra() -> None:
    # 0.2, 0.7, 0.1 → one extra unit, to the part at 0.7
    assert apportion(1, [2, 7, 1], 10) == [0, 1, 0]
    assert apportion(2, [5, 5, 5], 10) == [1, 1, 0]  # ties: the earlier part


def test_apportion_refuses_totals_out_of_range() -> None:
    with pytest.raises(ValueError, match="total outside"):
        apportion(4, [2, 7, 1], 10)
    with pytest.raises(ValueError, match="total outside"):
        apportion(0, [12, 7], 10)


def test_revoke_own_lot_listed_twice_is_taken_once() -> None:
    # fails against the current ledger: a repeated id (e.g. one per receipt line) takes the lot twice,
    # 8 points out of a lot that holds 5
    lots = [
        lot("own", 5, at(2026, 3, 24), at(2026, 9, 24)),
        lot("other", 10, at(2026, 1, 1), at(2026, 7, 1)),
    ]
    takes, shortfall = plan_revoke(KANT, lots, Decimal(8), ["own", "own"], NOW, None)
    assert takes == [("own", Decimal(5)), ("other", Decimal(3))]
    assert shortfall == 0
