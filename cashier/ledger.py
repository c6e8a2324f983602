"""Ledger math shared by the processing service and the till: lots, balances, expiry, tiers.

Owns: pure functions over point *lots* (what one accrual left, with when it becomes available and
when it expires) and over spend events.  The server's ledger is append-only; these functions compute
what its entries mean.  No database here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cashier.errors import InsufficientPoints
from cashier.i18n import _
from cashier.ledger_time import add_months
from cashier.money import Kopecks
from cashier.program import ExpiryPolicy, Program, Tier

_FAR_FUTURE = datetime.max.replace(tzinfo=None)


@dataclass(frozen=True)
class Lot:
    """Points one accrual (or bonus, or opening balance) still holds."""

    lot_id: str
    remaining: Decimal
    available_from: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Balance:
    available: Decimal
    pending: Decimal
    next_activation: tuple[Decimal, datetime] | None
    next_expiry: tuple[Decimal, datetime] | None

    @property
    def total(self) -> Decimal:
        return self.available + self.pending


@dataclass(frozen=True)
class SpendEvent:
    """Money that counts towards the tier: a purchase (positive) or a return (negative)."""

    at: datetime
    amount: Kopecks


def lot_expiry(program: Program, lot: Lot, last_purchase_at: datetime | None) -> datetime | None:
    """When ``lot`` expires under the program's policy."""
    if program.expiry_policy is ExpiryPolicy.PER_LOT:
        return lot.expires_at
    if program.expiry_policy is ExpiryPolicy.SINCE_LAST_PURCHASE and last_purchase_at is not None:
        return add_months(last_purchase_at, program.expiry_months)
    return None


def _live(program: Program, lots: Sequence[Lot], at: datetime, last: datetime | None) -> list[Lot]:
    out = []
    for lot in lots:
        expiry = lot_expiry(program, lot, last)
        if lot.remaining > 0 and (expiry is None or expiry > at):
            out.append(lot)
    return out


def balance(
    program: Program, lots: Sequence[Lot], at: datetime, last_purchase_at: datetime | None
) -> Balance:
    """Available and pending points at ``at``, the next activation and the next expiry."""
    live = _live(program, lots, at, last_purchase_at)
    available = sum((lot.remaining for lot in live if lot.available_from <= at), Decimal(0))
    pending_lots = sorted(
        (lot for lot in live if lot.available_from > at), key=lambda lot: lot.available_from
    )
    pending = sum((lot.remaining for lot in pending_lots), Decimal(0))
    activation = None
    if pending_lots:
        first = pending_lots[0].available_from
        activation = (
            sum((lot.remaining for lot in pending_lots if lot.available_from == first), Decimal(0)),
            first,
        )
    expiries: dict[datetime, Decimal] = {}
    for lot in live:
        expiry = lot_expiry(program, lot, last_purchase_at)
        if expiry is not None:
            expiries[expiry] = expiries.get(expiry, Decimal(0)) + lot.remaining
    next_expiry = None
    if expiries:
        soonest = min(expiries)
        next_expiry = (expiries[soonest], soonest)
    return Balance(available, pending, activation, next_expiry)


def plan_consumption(
    program: Program,
    lots: Sequence[Lot],
    points: Decimal,
    at: datetime,
    last_purchase_at: datetime | None,
    *,
    allow_shortfall: bool = False,
) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """Which available lots a redemption of ``points`` takes from: nearest expiry first.

    Lots that never expire go last; ties break by activation date, then lot id.

    Returns:
        ``(takes, shortfall)``: ``(lot_id, amount)`` pairs, and what could not be covered (an
        offline redemption inside the budget may leave a shortfall, recorded as an overdraft).

    Raises:
        InsufficientPoints: not enough available points and ``allow_shortfall`` is false.
    """
    usable = [lot for lot in _live(program, lots, at, last_purchase_at) if lot.available_from <= at]

    def order(lot: Lot) -> tuple[datetime, datetime, str]:
        expiry = lot_expiry(program, lot, last_purchase_at)
        far = _FAR_FUTURE.replace(tzinfo=lot.available_from.tzinfo)
        return (expiry or far, lot.available_from, lot.lot_id)

    takes: list[tuple[str, Decimal]] = []
    left = points
    for lot in sorted(usable, key=order):
        if left <= 0:
            break
        take = min(lot.remaining, left)
        takes.append((lot.lot_id, take))
        left -= take
    if left > 0 and not allow_shortfall:
        raise InsufficientPoints(
            _("The customer has only {available} points available.").format(available=points - left)
        )
    return takes, max(left, Decimal(0))


def plan_revoke(
    program: Program,
    lots: Sequence[Lot],
    points: Decimal,
    own_lot_ids: Sequence[str],
    at: datetime,
    last_purchase_at: datetime | None,
) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """Which lots a return takes earned points back from.

    First the purchase's own accrual lots (pending or available), then other available points by
    nearest expiry.  What cannot be covered is returned as a shortfall (the balance goes negative
    and the server records it).
    """
    takes: list[tuple[str, Decimal]] = []
    left = points
    live = {lot.lot_id: lot for lot in _live(program, lots, at, last_purchase_at)}
    for lot_id in dict.fromkeys(own_lot_ids):  # each own lot once, in the given order
        lot = live.get(lot_id)
        if lot is None or left <= 0:
            continue
        take = min(lot.remaining, left)
        takes.append((lot_id, take))
        left -= take
    if left > 0:
        others = [lot for lot in lots if lot.lot_id not in set(own_lot_ids)]
        more, left = plan_consumption(
            program, others, left, at, last_purchase_at, allow_shortfall=True
        )
        takes.extend(more)
    return takes, left


def expired_lots(
    program: Program, lots: Sequence[Lot], at: datetime, last_purchase_at: datetime | None
) -> list[tuple[str, Decimal]]:
    """Lots (with what they still hold) that have expired by ``at`` and must be written off."""
    out = []
    for lot in lots:
        expiry = lot_expiry(program, lot, last_purchase_at)
        if lot.remaining > 0 and expiry is not None and expiry <= at:
            out.append((lot.lot_id, lot.remaining))
    return out


def window_spend(program: Program, events: Sequence[SpendEvent], at: datetime) -> Kopecks:
    """Spend over the program's tier window ending at ``at``, net of returns (never below 0)."""
    start = add_months(at, -program.tier_window_months)
    return max(sum(e.amount for e in events if start < e.at <= at), 0)


def tier_at(program: Program, events: Sequence[SpendEvent], at: datetime) -> Tier:
    return program.tier_for_spend(window_spend(program, events, at))


def welcome_bonus_due(
    program: Program, *, phone_verified: bool, phone_ever_welcomed: bool
) -> Decimal:
    """The welcome bonus owed: once per phone number ever, and only once the phone is verified."""
    bonus = program.welcome_bonus
    if (
        bonus is None
        or phone_ever_welcomed
        or (bonus.requires_verified_phone and not phone_verified)
    ):
        return Decimal(0)
    return bonus.points
