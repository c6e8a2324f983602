"""Coupons in a sale: which apply, what they take off, and their life through a purchase.

Owns: the check behind ``coupons`` in ``/carts/calculate`` and ``/purchases`` (docs/protocol.md D, H):
each code gets a status (``applied`` with its amount, or ``not_found``, ``not_issued``, ``used``,
``not_yet_active``, ``expired``, ``not_applicable``, ``blocked``), and applied coupons become line
discounts the engine prices points on.  A coupon takes a percentage off the lines of its category
(or any line), at most one coupon per line, lines flagged ``no_discount`` excluded.  Through a
purchase a single-use coupon is ``held`` (pending), ``used`` (confirm) or ``issued`` again (cancel,
or a hold that expired: read lazily, a held coupon of a purchase that is no longer pending is free).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cashier.money import format_money, line_amount
from cashier.quote import CartLine
from processing.models import Coupon, Purchase
from sync.protocol import LineIn

APPLIED = "applied"


@dataclass(frozen=True)
class CouponCheck:
    code: str
    status: str
    amount: int = 0
    """Kopecks taken off in total."""
    lines: tuple[tuple[str, int], ...] = ()
    """(line key, kopecks) for every line it discounts."""

    def wire(self) -> dict[str, str]:
        return {"code": self.code, "status": self.status, "amount": format_money(self.amount)}


def _free(session: Session, coupon: Coupon, purchase_id: str | None, now: datetime) -> bool:
    """Whether the coupon can be used by ``purchase_id`` (a hold of a dead purchase has lapsed)."""
    if coupon.status == "issued":
        return True
    if coupon.status != "held" or coupon.used_purchase_id is None:
        return False
    if coupon.used_purchase_id == purchase_id:
        return True
    holder = session.get(Purchase, coupon.used_purchase_id)
    if holder is None or holder.state != "pending":
        return True
    return holder.hold_expires_at is not None and holder.hold_expires_at <= now


def check(
    session: Session,
    codes: Sequence[str],
    customer_id: str | None,
    lines: Sequence[CartLine],
    wire: Sequence[LineIn],
    now: datetime,
    *,
    purchase_id: str | None = None,
) -> list[CouponCheck]:
    """The status of each code for this cart, and the discounts of those that apply."""
    if not codes:
        return []
    found = {
        c.code: c
        for c in session.scalars(select(Coupon).where(Coupon.code.in_([c.upper() for c in codes])))
    }
    taken: set[str] = set()
    seen: set[str] = set()
    out = []
    for raw in codes:
        code = raw.upper()
        coupon = found.get(code)
        status = _status(session, coupon, customer_id, purchase_id, now)
        if code in seen:
            status = "not_applicable"
        seen.add(code)
        if status != APPLIED or coupon is None:
            out.append(CouponCheck(code, status))
            continue
        discounts = []
        for line, wire_line in zip(lines, wire, strict=True):
            if line.line_id in taken or wire_line.flags.no_discount:
                continue
            if coupon.category is not None and line.category != coupon.category:
                continue
            gross = line_amount(line.unit_price, line.qty)
            off = int(
                (Decimal(gross - line.discount) * coupon.discount_pct / 100).to_integral_value(
                    ROUND_FLOOR
                )
            )
            if off > 0:
                discounts.append((line.line_id, off))
                taken.add(line.line_id)
        if not discounts:
            out.append(CouponCheck(code, "not_applicable"))
            continue
        out.append(CouponCheck(code, APPLIED, sum(d for _, d in discounts), tuple(discounts)))
    return out


def _status(
    session: Session,
    coupon: Coupon | None,
    customer_id: str | None,
    purchase_id: str | None,
    now: datetime,
) -> str:
    if coupon is None:
        return "not_found"
    if coupon.customer_id is not None and coupon.customer_id != customer_id:
        return "not_issued"
    if coupon.status == "blocked":
        return "blocked"
    if not _free(session, coupon, purchase_id, now):
        return "used"
    if now < coupon.valid_from:
        return "not_yet_active"
    if now >= coupon.valid_till:
        return "expired"
    return APPLIED


def discounted(lines: Sequence[CartLine], checks: Sequence[CouponCheck]) -> list[CartLine]:
    """The cart with the applied coupons' discounts on its lines."""
    off: dict[str, int] = {}
    for c in checks:
        for key, amount in c.lines:
            off[key] = off.get(key, 0) + amount
    return [dataclasses.replace(ln, discount=ln.discount + off.get(ln.line_id, 0)) for ln in lines]


def line_coupons(checks: Sequence[CouponCheck]) -> dict[str, tuple[str, int]]:
    """Line key → (coupon code, kopecks) for the applied coupons."""
    return {key: (c.code, amount) for c in checks for key, amount in c.lines}


def hold(session: Session, checks: Sequence[CouponCheck], purchase_id: str) -> None:
    for c in checks:
        coupon = session.get(Coupon, c.code)
        if coupon is not None and c.status == APPLIED:
            coupon.status, coupon.used_purchase_id = "held", purchase_id


def settle(session: Session, purchase_id: str, *, used: bool) -> list[str]:
    """Confirm (``used``) or release the coupons a purchase holds; returns their codes."""
    rows = session.scalars(
        select(Coupon).where(Coupon.used_purchase_id == purchase_id, Coupon.status == "held")
    ).all()
    for coupon in rows:
        if used:
            coupon.status = "used"
        else:
            coupon.status, coupon.used_purchase_id = "issued", None
    return sorted(c.code for c in rows)
