"""The till's look-ups around a sale: a sale found for a return and what the return would do,
the review list of refused operations, a customer's cached coupons.

Owns: :func:`find_sale` (by the slip's QR, the sale id or the short number printed on the slip),
:func:`preview_return` (points restored and revoked and the refund, before anything is written),
:func:`review_items` and :func:`cached_coupons`.  Reads only; the writes are
:meth:`cashier.till.Till.return_sale` and the sender's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from cashier.i18n import _
from cashier.returns import PurchasedLine, ReturnResult, compute_return
from cashier.store.models import CachedCoupon, OutboxItem, Sale, SaleLine
from cashier.till import Till, TillError, parse_slip

SHORT_NO = re.compile(r"^[0-9a-fA-F]{6,12}$")
"""The short sale number printed on the slip: the first hex digits of the sale id."""


@dataclass(frozen=True)
class ReturnableLine:
    line_id: str
    label: str
    qty: int
    returned: int
    final_amount: int
    redeem_points: Decimal
    earn_points: Decimal

    @property
    def left(self) -> int:
        return self.qty - self.returned


@dataclass(frozen=True)
class FoundSale:
    sale_id: str
    lines: tuple[ReturnableLine, ...]
    local: bool
    customer_label: str | None = None
    created_at: datetime | None = None


def find_sale(till: Till, ref: str) -> FoundSale:
    """A sale to return from: this till's own record, or the service's for another till's."""
    text = ref.strip()
    with till.store.read() as s:
        if SHORT_NO.fullmatch(text):
            matches = s.scalars(
                select(Sale.id).where(Sale.id.like(text.lower() + "%")).limit(2)
            ).all()
            if len(matches) > 1:
                raise TillError(_("Several sales start with this number: scan the slip's QR."))
            sale_id = matches[0] if matches else text
        else:
            sale_id = parse_slip(text)
        sale = s.get(Sale, sale_id)
        if sale is not None:
            if sale.state != "committed":
                raise TillError(_("This sale was not completed: there is nothing to return."))
            rows = s.scalars(
                select(SaleLine).where(SaleLine.sale_id == sale_id).order_by(SaleLine.line_no)
            ).all()
            lines = tuple(
                ReturnableLine(
                    r.line_id,
                    r.name or r.sku,
                    r.qty,
                    r.returned_qty,
                    r.final_amount,
                    r.redeem_points,
                    r.earn_points,
                )
                for r in rows
            )
            return FoundSale(sale_id, lines, True, sale.customer_label, sale.created_at)
    purchased, before, _numbers = till._remote_lines(sale_id)
    return FoundSale(
        sale_id,
        tuple(
            ReturnableLine(
                p.line_id,
                p.line_id,
                p.qty,
                before.get(p.line_id, 0),
                p.final_amount,
                p.redeem_points,
                p.earn_points,
            )
            for p in purchased
        ),
        False,
    )


def preview_return(
    found: FoundSale, quantities: Mapping[str, int], points_scale: int
) -> ReturnResult:
    """What returning ``quantities`` (line id → thousandths) would restore, revoke and refund.

    Raises :class:`cashier.errors.ReturnExceedsPurchase` for more than is left on a line."""
    wanted = {k: v for k, v in quantities.items() if v > 0}
    if not wanted:
        raise TillError(_("Choose what to return: type a quantity on at least one line."))
    purchased = [
        PurchasedLine(ln.line_id, ln.qty, ln.redeem_points, ln.earn_points, ln.final_amount)
        for ln in found.lines
    ]
    before = {ln.line_id: ln.returned for ln in found.lines}
    return compute_return(purchased, before, wanted, points_scale=points_scale)


@dataclass(frozen=True)
class ReviewItem:
    seq: int
    kind: str
    subject: str | None
    created_at: datetime
    reason: str | None


def review_items(till: Till) -> list[ReviewItem]:
    """Operations the service refused: kept for a senior cashier, never retried or deleted."""
    with till.store.read() as s:
        rows = s.scalars(
            select(OutboxItem).where(OutboxItem.state == "rejected").order_by(OutboxItem.seq)
        ).all()
        return [ReviewItem(r.seq, r.kind, r.subject, r.created_at, r.reason) for r in rows]


@dataclass(frozen=True)
class Coupon:
    code: str
    title: str
    valid_till: datetime | None


def cached_coupons(till: Till, customer_id: str) -> list[Coupon]:
    """The customer's coupons as the service last listed them (no network)."""
    now = till.clock()
    with till.store.read() as s:
        rows = s.scalars(select(CachedCoupon).where(CachedCoupon.customer_id == customer_id)).all()
    out = []
    for c in rows:
        valid = c.valid_till
        if valid is not None and valid.tzinfo is None:
            valid = valid.replace(tzinfo=now.tzinfo)
        if valid is None or valid > now:
            out.append(Coupon(c.code, c.title, valid))
    return out
