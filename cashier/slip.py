"""The loyalty slip: what the customer takes home after a sale, as translated text and figures.

Owns: :class:`Slip` (everything a printed loyalty slip shows, already translated and formatted),
:func:`build_slip` (from a committed sale and its priced cart) and :meth:`Slip.text` (the plain
monospaced rendering for logs, tests and printers without graphics).  Drawing it with Qt is
``ui.slip``'s job; this module has no Qt, no clock and no I/O.

Figures shown and where they come from:

* the sale's time is the quote's ``occurred_at``, recovered exactly as ``earn_available_from −
  activation_delay_days`` (the quote keeps no other copy of it);
* the balance after is the customer's available points before the sale (``Priced.customer``)
  minus the points spent, plus the points earned only when they are available at once; it is an
  estimate whenever the service has not confirmed the sale (priced offline, or still queued);
* an anonymous sale shows no loyalty block, only how many points it would have earned in the
  program's first tier (the same quote, run for a new member).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from cashier.errors import InvalidCart, InvalidPayments
from cashier.i18n import N_, _, ngettext
from cashier.money import QTY_SCALE, Kopecks, display_money, format_quantity
from cashier.printed import centred as _centred
from cashier.printed import day as _day
from cashier.printed import pair as _pair
from cashier.printed import plural_n as _plural_n
from cashier.printed import points as _points
from cashier.program import PaymentMethod
from cashier.quote import CartLine, CustomerState, LineQuote, Quote, quote
from cashier.till_types import Committed, CustomerView, Item, Priced, Served, slip_code

MIN_TEXT_WIDTH = 24
"""Narrowest :meth:`Slip.text` width (58 mm rolls print 32 characters)."""
REPRINT_AFTER = timedelta(minutes=10)
"""A slip printed this long after its sale says it is a copy, with when it was printed."""

_METHODS = {
    PaymentMethod.CASH: N_("Cash"),
    PaymentMethod.CARD: N_("Card"),
    PaymentMethod.SBP: N_("SBP"),
    PaymentMethod.OTHER: N_("Other"),
}


@dataclass(frozen=True)
class SlipRow:
    """A label on the left and its value on the right (``strong``: printed bold)."""

    label: str
    value: str
    strong: bool = False


@dataclass(frozen=True)
class SlipLine:
    """One bought item: its name, ``quantity × price``, amount and what came off it."""

    name: str
    quantity: str
    """``"2 pcs × 499,00 ₽"`` or, for weighed goods, ``"0,742 kg × 899,00 ₽/kg"``."""
    amount: str
    details: tuple[SlipRow, ...] = ()
    """A coupon's discount and the points spent on this line, when there are any."""


@dataclass(frozen=True)
class Slip:
    """Everything a loyalty slip shows, translated and formatted when it was built.

    The display fields (``store_name`` … ``qr_caption``) are what is printed, in order; the
    figures after them are the same facts as values, for callers and tests.
    """

    store_name: str
    heading: str
    info: tuple[SlipRow, ...]
    """Date and time, sale number, cashier (and, for a copy, when it was printed)."""
    lines: tuple[SlipLine, ...]
    totals: tuple[SlipRow, ...]
    """Total, discount, points spent (their rouble value), to pay (strong)."""
    payments: tuple[SlipRow, ...]
    loyalty_heading: str | None
    """None for an anonymous sale: no loyalty block is printed."""
    loyalty: tuple[SlipRow, ...]
    """Customer, phone, tier, points earned, pending until, balance after."""
    notes: tuple[str, ...]
    """The offline explanation, or the invitation to join the program."""
    qr_payload: str
    qr_caption: str

    sale_id: str
    sold_at: datetime
    """When the sale happened, in the slip's time zone."""
    printed_at: datetime
    """When the slip was printed, in the slip's time zone."""
    anonymous: bool
    offline: bool
    """The service has not confirmed the sale yet (priced offline, or still queued)."""
    total: Kopecks
    discount: Kopecks
    points_spent: Decimal
    points_spent_value: Kopecks
    to_pay: Kopecks
    points_earned: Decimal
    pending_until: date | None
    """The day the earned points become available, when that is after the sale."""
    balance_after: Decimal | None
    """None when the customer's balance before the sale is unknown (or the sale is anonymous)."""
    balance_estimated: bool
    join_points: Decimal | None
    """For an anonymous sale: what it would have earned in the program (None if not known)."""

    def text(self, width: int = 42) -> str:
        """The slip as plain monospaced text, ``width`` characters a line at most."""
        if width < MIN_TEXT_WIDTH:
            raise ValueError(f"a slip needs at least {MIN_TEXT_WIDTH} characters a line")
        rule = "-" * width
        out: list[str] = []
        out += _centred(self.store_name, width)
        out += _centred(self.heading, width)
        out.append(rule)
        for row in self.info:
            out += _pair(row.label, row.value, width)
        out.append(rule)
        for line in self.lines:
            out += textwrap.wrap(line.name, width) or [""]
            out += _pair("  " + line.quantity, line.amount, width)
            for detail in line.details:
                out += _pair("  " + detail.label, detail.value, width)
        out.append(rule)
        for row in self.totals:
            if row.strong:
                out.append("=" * width)
            out += _pair(row.label.upper() if row.strong else row.label, row.value, width)
        for row in self.payments:
            out += _pair(row.label, row.value, width)
        if self.loyalty_heading is not None:
            out.append(rule)
            out += _centred(self.loyalty_heading, width)
            for row in self.loyalty:
                out += _pair(row.label, row.value, width)
        if self.notes:
            out.append(rule)
            for note in self.notes:
                out += textwrap.wrap(note, width)
        out.append(rule)
        out += _centred(self.qr_caption, width)
        out += _centred(self.qr_payload, width)
        return "\n".join(line.rstrip() for line in out) + "\n"


def build_slip(
    committed: Committed,
    priced: Priced,
    *,
    store_name: str,
    cashier_name: str | None,
    printed_at: datetime,
    tz: tzinfo | None = None,
) -> Slip:
    """The loyalty slip of a committed sale, in the current language.

    Args:
        committed: the sale as written (its quote is what the slip shows).
        priced: the priced cart it was committed from (item names, the customer before the sale).
        store_name: printed at the top.
        cashier_name: who sold; None leaves the line out.
        printed_at: now (aware); a slip printed well after its sale says it is a copy.
        tz: the time zone dates and times are printed in; None is the till's local zone.
    """
    if printed_at.tzinfo is None:
        raise ValueError("printed_at must be timezone-aware")
    q = committed.quote
    scale = q.program.points_scale
    sold_at = _sale_time(q).astimezone(tz)
    printed = printed_at.astimezone(tz)
    customer = priced.customer
    offline = committed.offline or committed.served is not Served.ONLINE

    pending_until = None
    if q.earn_points > 0 and q.earn_available_from > _sale_time(q):
        pending_until = q.earn_available_from.astimezone(tz).date()

    balance_after = None
    if customer is not None and customer.available is not None:
        balance_after = customer.available - q.redeem_points
        if pending_until is None:
            balance_after += q.earn_points

    join_points = _join_points(q, sold_at) if customer is None else None

    info = [
        SlipRow(_("Date"), _when(sold_at)),
        SlipRow(_("Sale"), _short_id(committed.sale_id)),
    ]
    if cashier_name:
        info.append(SlipRow(_("Cashier"), cashier_name))
    if printed - sold_at >= REPRINT_AFTER:
        info.append(SlipRow(_("Copy printed"), _when(printed)))

    if customer is not None:
        loyalty_heading: str | None = _("Loyalty program {name}").format(name=q.program.name)
        loyalty = _loyalty(q, customer, pending_until, balance_after, offline=offline)
        notes = (
            [_("Offline sale: points will be confirmed when the till is online.")]
            if offline
            else []
        )
    else:
        loyalty_heading, loyalty, notes = None, (), []
        if join_points is not None and join_points > 0:
            notes.append(
                ngettext(
                    "Join the loyalty program to earn {n} point for this purchase.",
                    "Join the loyalty program to earn {n} points for this purchase.",
                    _plural_n(join_points),
                ).format(n=_points(join_points, scale))
            )

    return Slip(
        store_name=store_name,
        heading=_("Loyalty slip"),
        info=tuple(info),
        lines=_lines(q, priced.lines),
        totals=_totals(q),
        payments=tuple(
            SlipRow(_(_METHODS[p.method]), display_money(p.amount or 0)) for p in q.payments
        ),
        loyalty_heading=loyalty_heading,
        loyalty=loyalty,
        notes=tuple(notes),
        qr_payload=slip_code(committed.sale_id),
        qr_caption=_("Scan for a return"),
        sale_id=committed.sale_id,
        sold_at=sold_at,
        printed_at=printed,
        anonymous=customer is None,
        offline=offline,
        total=q.base_total,
        discount=q.discount_total,
        points_spent=q.redeem_points,
        points_spent_value=q.redeem_amount,
        to_pay=q.to_pay,
        points_earned=q.earn_points,
        pending_until=pending_until,
        balance_after=balance_after,
        balance_estimated=offline and balance_after is not None,
        join_points=join_points,
    )


def _sale_time(q: Quote) -> datetime:
    """The quote's ``occurred_at``: ``Program.earn_available_from`` adds the delay to it."""
    return q.earn_available_from - timedelta(days=q.program.activation_delay_days)


def _loyalty(
    q: Quote,
    customer: CustomerView,
    pending_until: date | None,
    balance_after: Decimal | None,
    *,
    offline: bool,
) -> tuple[SlipRow, ...]:
    scale = q.program.points_scale
    rows = [SlipRow(_("Customer"), customer.display_name)]
    if customer.phone_masked:
        rows.append(SlipRow(_("Phone"), customer.phone_masked))
    rows.append(SlipRow(_("Tier"), q.tier.name))
    rows.append(SlipRow(_("Points earned"), "+" + _points(q.earn_points, scale)))
    if pending_until is not None:
        rows.append(SlipRow(_("Pending until"), _day(pending_until)))
    if balance_after is not None:
        if offline:
            rows.append(
                SlipRow(_("Balance after (estimated)"), "≈ " + _points(balance_after, scale))
            )
        else:
            rows.append(SlipRow(_("Balance after"), _points(balance_after, scale)))
    return tuple(rows)


def _lines(q: Quote, items: tuple[Item, ...]) -> tuple[SlipLine, ...]:
    scale = q.program.points_scale
    names: list[str | None] = [None] * len(q.lines)
    if len(items) == len(q.lines):  # the till prices its items in order, one line each
        names = [item.name for item in items]
    result = []
    for lq, name in zip(q.lines, names, strict=True):
        details = []
        if lq.discount:
            details.append(SlipRow(_("Discount"), display_money(-lq.discount)))
        if lq.redeem_points > 0:
            details.append(
                SlipRow(
                    _("Points: {points}").format(points=_points(lq.redeem_points, scale)),
                    display_money(-lq.redeem_amount),
                )
            )
        result.append(
            SlipLine(
                name=name or lq.sku,
                quantity=_quantity(lq),
                amount=display_money(lq.base_amount),
                details=tuple(details),
            )
        )
    return tuple(result)


def _quantity(lq: LineQuote) -> str:
    """``2 pcs × 499,00 ₽``; weighed goods (a fractional quantity) in kg with 3 decimals."""
    price = display_money(lq.unit_price)
    if lq.qty % QTY_SCALE:
        return _("{qty} kg × {price}/kg").format(
            qty=format_quantity(lq.qty).replace(".", ","), price=price
        )
    return _("{qty} pcs × {price}").format(qty=lq.qty // QTY_SCALE, price=price)


def _totals(q: Quote) -> tuple[SlipRow, ...]:
    scale = q.program.points_scale
    rows = [SlipRow(_("Total"), display_money(q.base_total))]
    if q.discount_total:
        rows.append(SlipRow(_("Discount"), display_money(-q.discount_total)))
    if q.redeem_points > 0:
        rows.append(
            SlipRow(
                _("Points spent: {points}").format(points=_points(q.redeem_points, scale)),
                display_money(-q.redeem_amount),
            )
        )
    rows.append(SlipRow(_("To pay"), display_money(q.to_pay), strong=True))
    return tuple(rows)


def _join_points(q: Quote, sold_at: datetime) -> Decimal | None:
    """What an anonymous sale would have earned for a new member (first tier, no points spent)."""
    lines = [
        CartLine(
            line_id=lq.line_id,
            sku=lq.sku,
            qty=lq.qty,
            unit_price=lq.unit_price,
            category=lq.category,
            no_earn=not lq.earn_eligible,
            discount=lq.discount,
        )
        for lq in q.lines
    ]
    try:
        member = quote(
            q.program,
            CustomerState(),
            lines,
            occurred_at=sold_at,
            redeem=0,
            payments=q.payments,
        )
    except (InvalidCart, InvalidPayments):
        return None
    return member.earn_points


def _short_id(sale_id: str) -> str:
    """A sale's id as a person reads it aloud: the first 8 characters of a UUID, upper case."""
    compact = sale_id.replace("-", "")
    return compact[:8].upper() if len(compact) > 12 else sale_id


def _when(moment: datetime) -> str:
    return moment.strftime("%d.%m.%Y %H:%M")
