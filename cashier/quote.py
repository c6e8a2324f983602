"""The quote: what a cart costs with points, and what it earns.

Owns: the pure function :func:`quote` that both the till (offline) and the processing service
(online, authoritative) run.  Inputs are plain values; the result is a frozen view.  Every amount is
exact: money in kopecks, points in integer units at the program's scale, rates as integer
fractions.  No clock, no I/O: the caller passes ``occurred_at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from cashier.allocation import allocate, apportion
from cashier.errors import InvalidCart, InvalidPayments, RedeemNotAllowed
from cashier.i18n import _
from cashier.money import (
    Kopecks,
    display_money,
    format_points,
    line_amount,
    points_to_units,
    units_to_points,
)
from cashier.program import PCT_SCALE, PaymentMethod, Program, Tier

MAX_LINES = 1000
MAX_UNIT_PRICE = 100_000_000_00  # 100 million roubles: anything above is a scanner or typing error
MAX_QTY = 1_000_000_000  # thousandths: a million units


@dataclass(frozen=True)
class CartLine:
    """One cart line.  ``qty`` is in thousandths (``parse_quantity``), ``unit_price`` in kopecks."""

    line_id: str
    sku: str
    qty: int
    unit_price: Kopecks
    category: str | None = None
    no_redeem: bool = False
    no_earn: bool = False
    min_unit_price: Kopecks | None = None
    discount: Kopecks = 0
    """A discount already granted on the line (a coupon): points pay part of what is left."""


@dataclass(frozen=True)
class Payment:
    """A payment by method; ``amount`` None means "the rest" (at most one such payment)."""

    method: PaymentMethod
    amount: Kopecks | None = None


@dataclass(frozen=True)
class CustomerState:
    """What the rules need to know of the customer (from the server, or the till's cache)."""

    available: Decimal = Decimal(0)
    pending: Decimal = Decimal(0)
    verified: bool = False
    window_spend: Kopecks = 0
    tier: str | None = None
    """An explicit tier code (server-decided, e.g. a manual floor); else it follows window_spend."""


@dataclass(frozen=True)
class OfflineContext:
    """Present when the till quotes without the server: the offline redemption budget's inputs."""

    snapshot_age: timedelta
    spent_today: Decimal = Decimal(0)
    """Points this till already spent offline for this customer today."""
    spent_since_snapshot: Decimal = Decimal(0)
    """Points this till spent offline for this customer since the balance snapshot was taken."""


class CapReason(StrEnum):
    """Why the redeemable maximum is what it is (the binding limits)."""

    TIER_SHARE = "tier_share"
    MIN_TO_PAY = "min_to_pay"
    EXCLUDED_LINES = "excluded_lines"
    NO_ELIGIBLE_LINES = "no_eligible_lines"
    BALANCE = "balance"
    NOT_VERIFIED = "not_verified"
    OFFLINE_BUDGET = "offline_budget"
    OFFLINE_DISABLED = "offline_disabled"
    OFFLINE_SNAPSHOT_OLD = "offline_snapshot_old"
    OFFLINE_UNVERIFIED = "offline_unverified"


@dataclass(frozen=True)
class LineQuote:
    line_id: str
    sku: str
    category: str | None
    qty: int
    unit_price: Kopecks
    base_amount: Kopecks
    redeem_points: Decimal
    redeem_amount: Kopecks
    earn_points: Decimal
    final_amount: Kopecks
    redeem_eligible: bool
    earn_eligible: bool
    discount: Kopecks = 0
    """Of ``base_amount``, what a coupon took off before points (``final = base − discount − redeem``)."""


@dataclass(frozen=True)
class Quote:
    lines: tuple[LineQuote, ...]
    tier: Tier
    base_total: Kopecks
    redeem_points: Decimal
    redeem_amount: Kopecks
    to_pay: Kopecks
    earn_points: Decimal
    max_redeem_points: Decimal
    cap_reasons: tuple[CapReason, ...]
    limits: Mapping[CapReason, Decimal]
    requested: str
    requested_clamped: bool
    requires_confirmation: bool
    payments: tuple[Payment, ...]
    earn_available_from: datetime
    earn_expires_at: datetime | None
    offline: bool
    program: Program = field(repr=False)
    discount_total: Kopecks = 0

    def cap_explanation(self) -> str:
        """One line a cashier reads next to the points field: why the maximum is what it is."""
        return "; ".join(describe_cap(self, reason) for reason in self.cap_reasons)


def quote(
    program: Program,
    customer: CustomerState | None,
    lines: Sequence[CartLine],
    *,
    occurred_at: datetime,
    redeem: str | Decimal | int = "max",
    payments: Sequence[Payment] = (),
    offline: OfflineContext | None = None,
    strict_redeem: bool = False,
) -> Quote:
    """Price a cart for a customer under a program.

    Args:
        program: the rules.
        customer: the identified customer, or None (an anonymous sale: no redemption, no accrual).
        lines: the cart.
        occurred_at: when the sale happens (aware datetime); drives activation and expiry dates.
        redeem: ``"max"``, or a number of points to spend (clamped to the maximum), or 0.
        payments: how the rest is paid; drives the payment-method bonus.  Optional.
        offline: the offline budget's inputs when quoting without the server.
        strict_redeem: raise instead of clamping an explicit request above the maximum
            (the server's ``/purchases`` does this).

    Raises:
        InvalidCart, InvalidPayments, RedeemNotAllowed.
    """
    _check_lines(lines)
    tier = _tier(program, customer)
    gross = [line_amount(line.unit_price, line.qty) for line in lines]
    bases = [gross[i] - line.discount for i, line in enumerate(lines)]  # what points may pay for
    redeem_ok = [_redeem_eligible(program, line) and bases[i] > 0 for i, line in enumerate(lines)]
    earn_ok = [_earn_eligible(program, line) for line in lines]
    unit = program.unit_value

    line_caps = [
        (bases[i] - _min_to_pay(program, line)) // unit if redeem_ok[i] else 0
        for i, line in enumerate(lines)
    ]
    line_caps = [max(cap, 0) for cap in line_caps]
    limits, reasons_pool = _limits(program, customer, tier, bases, redeem_ok, line_caps, offline)
    max_units = min(limits.values()) if limits else 0
    max_units = max(max_units, 0)
    cap_reasons = tuple(r for r, v in limits.items() if v == max_units) or (
        CapReason.NO_ELIGIBLE_LINES,
    )
    if (
        CapReason.NO_ELIGIBLE_LINES in cap_reasons
    ):  # the share and per-line limits are 0 because of it
        cap_reasons = tuple(
            r for r in cap_reasons if r not in (CapReason.TIER_SHARE, CapReason.MIN_TO_PAY)
        )
    elif reasons_pool and set(cap_reasons) & {CapReason.TIER_SHARE, CapReason.MIN_TO_PAY}:
        cap_reasons = (*cap_reasons, *reasons_pool)

    requested_label, applied_units, clamped = _requested(program, redeem, max_units)
    if clamped and strict_redeem:
        raise RedeemNotAllowed(
            _("At most {max} points can pay for this purchase.").format(
                max=format_points(
                    units_to_points(max_units, program.points_scale), program.points_scale
                )
            )
        )

    redeem_units = allocate(applied_units, bases, line_caps) if applied_units else [0] * len(lines)
    finals = [bases[i] - redeem_units[i] * unit for i in range(len(lines))]
    to_pay = sum(finals)
    resolved = _resolve_payments(payments, to_pay)
    earn_units = _earn(
        program, tier, customer, finals, earn_ok, lines, resolved, to_pay, applied_units > 0
    )

    scale = program.points_scale
    line_views = tuple(
        LineQuote(
            line_id=line.line_id,
            sku=line.sku,
            category=line.category,
            qty=line.qty,
            unit_price=line.unit_price,
            base_amount=gross[i],
            discount=line.discount,
            redeem_points=units_to_points(redeem_units[i], scale),
            redeem_amount=redeem_units[i] * unit,
            earn_points=units_to_points(earn_units[i], scale),
            final_amount=finals[i],
            redeem_eligible=redeem_ok[i],
            earn_eligible=earn_ok[i],
        )
        for i, line in enumerate(lines)
    )
    applied_points = units_to_points(applied_units, scale)
    return Quote(
        lines=line_views,
        tier=tier,
        base_total=sum(gross),
        discount_total=sum(line.discount for line in lines),
        redeem_points=applied_points,
        redeem_amount=applied_units * unit,
        to_pay=to_pay,
        earn_points=units_to_points(sum(earn_units), scale),
        max_redeem_points=units_to_points(max_units, scale),
        cap_reasons=cap_reasons,
        limits={r: units_to_points(v, scale) for r, v in limits.items()},
        requested=requested_label,
        requested_clamped=clamped,
        requires_confirmation=(
            program.confirmation_above is not None and applied_points > program.confirmation_above
        ),
        payments=resolved,
        earn_available_from=program.earn_available_from(occurred_at),
        earn_expires_at=program.earn_expires_at(occurred_at),
        offline=offline is not None,
        program=program,
    )


def _check_lines(lines: Sequence[CartLine]) -> None:
    if len(lines) > MAX_LINES:
        raise InvalidCart(
            _("A receipt has at most {n} lines. Split the purchase.").format(n=MAX_LINES)
        )
    seen: set[str] = set()
    for line in lines:
        if line.line_id in seen:
            raise InvalidCart(_("Two cart lines share the id {id}.").format(id=line.line_id))
        seen.add(line.line_id)
        if not 0 < line.qty <= MAX_QTY:
            raise InvalidCart(_("The quantity of {sku} is not valid.").format(sku=line.sku))
        if not 0 <= line.unit_price <= MAX_UNIT_PRICE:
            raise InvalidCart(
                _("The price of {sku} is not valid: check the price and scan again.").format(
                    sku=line.sku
                )
            )
        if not 0 <= line.discount <= line_amount(line.unit_price, line.qty):
            raise InvalidCart(
                _("The discount on {sku} is larger than its price.").format(sku=line.sku)
            )


def _tier(program: Program, customer: CustomerState | None) -> Tier:
    if customer is not None and customer.tier is not None:
        try:
            return program.tier(customer.tier)
        except KeyError:
            pass  # a tier the program no longer has: fall back to the spend
    return program.tier_for_spend(customer.window_spend if customer else 0)


def _redeem_eligible(program: Program, line: CartLine) -> bool:
    return not (
        line.no_redeem
        or line.sku in program.redeem_excluded_skus
        or (line.category is not None and line.category in program.redeem_excluded_categories)
    )


def _earn_eligible(program: Program, line: CartLine) -> bool:
    return not (
        line.no_earn
        or line.sku in program.earn_excluded_skus
        or (line.category is not None and line.category in program.earn_excluded_categories)
    )


def _min_to_pay(program: Program, line: CartLine) -> Kopecks:
    floor = program.min_line_to_pay
    if line.min_unit_price is not None:
        floor = max(floor, -(-line.min_unit_price * line.qty // 1000))
    return floor


def _limits(
    program: Program,
    customer: CustomerState | None,
    tier: Tier,
    bases: list[Kopecks],
    redeem_ok: list[bool],
    line_caps: list[int],
    offline: OfflineContext | None,
) -> tuple[dict[CapReason, int], tuple[CapReason, ...]]:
    """Each limit on the redeemable units, keyed by its reason; plus notes on excluded lines."""
    unit = program.unit_value
    scale = program.points_scale
    limits: dict[CapReason, int] = {}
    eligible_base = sum(b for b, ok in zip(bases, redeem_ok, strict=True) if ok)
    if eligible_base == 0:
        limits[CapReason.NO_ELIGIBLE_LINES] = 0
    limits[CapReason.TIER_SHARE] = eligible_base * tier.redeem_cap_e4 // (100 * PCT_SCALE) // unit
    limits[CapReason.MIN_TO_PAY] = sum(line_caps)
    if customer is None:
        limits[CapReason.BALANCE] = 0
        return limits, ()
    available = points_to_units(customer.available, scale)
    if program.redeem_requires_verified_phone and not customer.verified:
        limits[CapReason.NOT_VERIFIED] = 0
    if offline is not None:
        budget = program.offline_redeem
        available -= points_to_units(offline.spent_since_snapshot, scale)
        if not budget.enabled:
            limits[CapReason.OFFLINE_DISABLED] = 0
        elif offline.snapshot_age > timedelta(hours=budget.max_snapshot_age_hours):
            limits[CapReason.OFFLINE_SNAPSHOT_OLD] = 0
        elif budget.verified_customers_only and not customer.verified:
            limits[CapReason.OFFLINE_UNVERIFIED] = 0
        else:
            limits[CapReason.OFFLINE_BUDGET] = max(
                points_to_units(
                    budget.max_points_per_customer_per_day - offline.spent_today, scale
                ),
                0,
            )
    limits[CapReason.BALANCE] = max(available, 0)
    excluded = any(not ok and b > 0 for b, ok in zip(bases, redeem_ok, strict=True))
    return limits, ((CapReason.EXCLUDED_LINES,) if excluded and eligible_base else ())


def _requested(
    program: Program, redeem: str | Decimal | int, max_units: int
) -> tuple[str, int, bool]:
    if isinstance(redeem, str) and redeem.strip().lower() == "max":
        return "max", max_units, False
    units = points_to_units(redeem, program.points_scale)
    if units < 0:
        raise InvalidCart(_("Points to spend cannot be negative."))
    label = format_points(units_to_points(units, program.points_scale), program.points_scale)
    if units > max_units:
        return label, max_units, True
    return label, units, False


def _resolve_payments(payments: Sequence[Payment], to_pay: Kopecks) -> tuple[Payment, ...]:
    if not payments:
        return ()
    open_ended = [p for p in payments if p.amount is None]
    if len(open_ended) > 1:
        raise InvalidPayments(
            _('Only one payment can take "the rest": enter the amounts of the others.')
        )
    fixed = sum(p.amount for p in payments if p.amount is not None)
    if any(p.amount is not None and p.amount < 0 for p in payments):
        raise InvalidPayments(_("A payment amount cannot be negative."))
    if fixed > to_pay or (not open_ended and fixed != to_pay):
        raise InvalidPayments(
            _("The payments add up to {paid}, but {due} is to pay. Correct the amounts.").format(
                paid=display_money(fixed), due=display_money(to_pay)
            )
        )
    return tuple(
        Payment(p.method, to_pay - fixed if p.amount is None else p.amount) for p in payments
    )


def _multiplier_e4(program: Program, line: CartLine) -> int:
    mult = program.sku_multipliers.get(line.sku)
    if mult is None and line.category is not None:
        mult = program.category_multipliers.get(line.category)
    return int((mult if mult is not None else Decimal(1)) * PCT_SCALE)


def _earn(
    program: Program,
    tier: Tier,
    customer: CustomerState | None,
    finals: list[Kopecks],
    earn_ok: list[bool],
    lines: Sequence[CartLine],
    payments: tuple[Payment, ...],
    to_pay: Kopecks,
    points_used: bool,
) -> list[int]:
    """Points units earned per line: exact shares, total floored, spread by largest remainder.

    A line earns ``final × (rate + Σ bonus_m × paid_m / to_pay) × multiplier`` where the rate is the
    tier's (or the program's lower rate once points were used) and each payment method's bonus
    counts only for the share of the purchase paid that way.
    """
    if customer is None or to_pay == 0:
        return [0] * len(finals)
    base_e4 = tier.earn_e4
    if points_used and program.earn_pct_when_points_used is not None:
        base_e4 = int(program.earn_pct_when_points_used * PCT_SCALE)
    # rate × to_pay, in (1/10 000 %) × kopecks, with the payment bonuses folded in by share
    rate_num = base_e4 * to_pay
    for payment in payments:
        bonus = program.payment_bonus_pct.get(payment.method)
        if bonus and payment.amount:
            rate_num += int(bonus * PCT_SCALE) * payment.amount
    # units = final × rate_num/to_pay × mult/PCT_SCALE / (100·PCT_SCALE) / unit_value
    denominator = to_pay * PCT_SCALE * 100 * PCT_SCALE * program.unit_value
    numerators = [
        finals[i] * rate_num * _multiplier_e4(program, line) if earn_ok[i] else 0
        for i, line in enumerate(lines)
    ]
    total = sum(numerators) // denominator
    return apportion(total, numerators, denominator)


def describe_cap(q: Quote, reason: CapReason) -> str:
    """A short translated phrase for one cap reason ("Gold: up to 99%", "balance: 1 250")."""
    scale = q.program.points_scale
    value = format_points(q.limits.get(reason, Decimal(0)), scale)
    texts = {
        CapReason.TIER_SHARE: lambda: _("{tier}: up to {pct}% of the purchase").format(
            tier=q.tier.name, pct=_pct(q.tier.redeem_cap_pct)
        ),
        CapReason.MIN_TO_PAY: lambda: _("each line keeps a minimum to pay in money"),
        CapReason.EXCLUDED_LINES: lambda: _("some goods cannot be paid with points"),
        CapReason.NO_ELIGIBLE_LINES: lambda: _("no goods in the cart can be paid with points"),
        CapReason.BALANCE: lambda: _("balance: {points}").format(points=value),
        CapReason.NOT_VERIFIED: lambda: _("phone not verified: points cannot be spent yet"),
        CapReason.OFFLINE_BUDGET: lambda: _("offline: at most {points} today").format(points=value),
        CapReason.OFFLINE_DISABLED: lambda: _(
            "offline: points cannot be spent until the connection is back"
        ),
        CapReason.OFFLINE_SNAPSHOT_OLD: lambda: _(
            "offline: the balance on this till is too old to spend"
        ),
        CapReason.OFFLINE_UNVERIFIED: lambda: _(
            "offline: only verified customers can spend points"
        ),
    }
    return texts[reason]()


def _pct(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text
