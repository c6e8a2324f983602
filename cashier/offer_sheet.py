"""The personal-offer sheet: goods a consultant picked for one customer, priced with their points.

Owns: :class:`SheetGood` (a good the consultant put on the sheet), :func:`build_sheet` (the
sheet's content, translated and formatted, with the same facts as values), :class:`OfferSheet`
and its plain :meth:`~OfferSheet.text`, the sheet's QR code (:func:`sheet_code`, read back at a
till by :func:`parse_sheet_code`) and :func:`sheet_event` (the body that records the sheet
centrally).  Drawing it with Qt is ``ui.offer_sheet``'s job; this module has no Qt, no clock and
no I/O.

Figures shown and where they come from (all from :func:`cashier.quote.quote`, as a till would):

* each good is priced **on its own**, as a one-line cart for this customer (their tier and their
  whole balance), spending the most points the rules allow and paying the rest by card: the points
  usable, the personal price (the line's amount less those points' value) and the points earned;
* the totals are one cart of all the goods, priced the same way (the points are spent once, so
  the per-good points may add up to more than the balance);
* "how to earn more" comes from the program (payment-method bonus, tiers, the profile and birthday
  bonuses) and from what the caller knows of the customer (next tier, missing profile fields,
  active coupons).

The QR code is ``"OS1." + base64url(compact JSON)`` without padding, the JSON being
``{"s": sheet_id, "c": customer_id, "i": [[sku, qty_thousandths], ...], "v": "YYYY-MM-DD"}``;
scanned at a till it puts the goods into the cart.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import textwrap
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from cashier.errors import InvalidCart, InvalidQrPayload
from cashier.i18n import N_, _, ngettext
from cashier.money import QTY_SCALE, Kopecks, display_money, format_quantity
from cashier.printed import centred as _centred
from cashier.printed import day as _day
from cashier.printed import pair as _pair
from cashier.printed import pct as _pct
from cashier.printed import plural_n as _plural_n
from cashier.printed import points as _points
from cashier.program import PaymentMethod, Program
from cashier.quote import MAX_QTY, CapReason, CartLine, CustomerState, Payment, Quote, quote
from cashier.till_types import CustomerView

SHEET_PREFIX = "OS1."
"""What an offer sheet's QR code starts with (version 1 of its format)."""
MAX_SHEET_GOODS = 50
"""The most goods one sheet (and its QR code) carries."""
MAX_SKU_LENGTH = 64
MAX_CODE_LENGTH = 8000
"""Longer scanned text is not an offer sheet's code (50 goods with long SKUs stay well below)."""
MIN_TEXT_WIDTH = 40
"""Narrowest :meth:`OfferSheet.text` width."""
EARN_PAYMENT = PaymentMethod.CARD
"""The points earned on the sheet are for paying the rest by card (the most common way)."""

_METHODS_BY = {
    PaymentMethod.SBP: N_("by SBP"),
    PaymentMethod.CASH: N_("in cash"),
    PaymentMethod.CARD: N_("by card"),
    PaymentMethod.OTHER: N_("by other means"),
}
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SheetGood:
    """A good the consultant put on the sheet: ``price`` in kopecks, ``qty`` in thousandths."""

    sku: str
    name: str
    category: str | None
    price: Kopecks
    qty: int = QTY_SCALE


@dataclass(frozen=True)
class SheetRow:
    """A label and its value (``strong``: printed bold and larger)."""

    label: str
    value: str
    strong: bool = False


@dataclass(frozen=True)
class SheetLine:
    """One good of the sheet, priced as if bought alone: the texts shown, then the figures."""

    name: str
    quantity: str | None
    """``"2 pcs × 499,00 ₽"`` (or kilograms) when the quantity is not one piece; else None."""
    price: str
    points: str
    """Points usable on this good, ``"12 500"``."""
    limit: str
    """What limits those points: ``"Gold: up to 99%"``, ``"all your points"``…"""
    personal_price: str
    earn: str
    """Points earned paying the personal price by card, ``"+262"``."""

    sku: str
    qty: int
    amount: Kopecks
    """The line's price: unit price × quantity."""
    redeem_points: Decimal
    redeem_amount: Kopecks
    personal_amount: Kopecks
    earn_points: Decimal
    cap_reasons: tuple[CapReason, ...]


@dataclass(frozen=True)
class SheetCode:
    """What a sheet's QR code carries."""

    sheet_id: str
    customer_id: str
    items: tuple[tuple[str, int], ...]
    """``(sku, qty in thousandths)``, in the sheet's order."""
    valid_till: date


@dataclass(frozen=True)
class OfferSheet:
    """Everything a personal-offer sheet shows, translated and formatted when it was built.

    The display fields (``store_name`` … ``footer``) are what is printed, in order; the figures
    after them are the same facts as values, for callers and tests.
    """

    store_name: str
    title: str
    info: tuple[SheetRow, ...]
    """Date, consultant (when known), the sheet's short number."""
    customer: tuple[SheetRow, ...]
    """Customer, tier, points available."""
    columns: tuple[str, str, str, str, str]
    """The goods table's headings: good, price, points usable, personal price, points earned."""
    lines: tuple[SheetLine, ...]
    totals_heading: str
    totals: tuple[SheetRow, ...]
    """Total, points usable (their value), to pay (strong), points earned."""
    totals_note: str | None
    """What limits the points usable on the whole cart ("Points limited by: all your points")."""
    earn_more_heading: str
    earn_more: tuple[str, ...]
    """Empty when there is nothing to suggest (the box is then left out)."""
    validity: str
    qr_payload: str
    qr_caption: str
    footer: tuple[str, ...]

    sheet_id: str
    short_id: str
    customer_id: str
    customer_name: str
    program_code: str
    tier: str
    """The tier code the sheet was priced at."""
    available: Decimal | None
    issued_at: datetime
    """When the sheet was issued, in the sheet's time zone."""
    valid_till: date
    """The last day the sheet is valid (inclusive)."""
    items: tuple[tuple[str, int], ...]
    """``(sku, qty in thousandths)``: what the QR code puts into the cart."""
    total: Kopecks
    redeem_points: Decimal
    redeem_amount: Kopecks
    to_pay: Kopecks
    earn_points: Decimal

    def text(self, width: int = 72) -> str:
        """The sheet as plain monospaced text, ``width`` characters a line at most."""
        if width < MIN_TEXT_WIDTH:
            raise ValueError(f"an offer sheet needs at least {MIN_TEXT_WIDTH} characters a line")
        rule = "-" * width
        out: list[str] = []
        out += _centred(self.store_name, width)
        out += _centred(self.title, width)
        out.append(rule)
        for row in (*self.info, *self.customer):
            out += _pair(row.label, row.value, width)
        out.append(rule)
        for n, line in enumerate(self.lines, start=1):
            out += textwrap.wrap(f"{n}. {line.name}", width, subsequent_indent="   ") or [""]
            if line.quantity:
                out += _pair("   " + line.quantity, "", width)
            out += _pair("   " + self.columns[1], line.price, width)
            out += _pair(f"   {self.columns[2]} ({line.limit})", line.points, width)
            out += _pair("   " + self.columns[3], line.personal_price, width)
            out += _pair("   " + self.columns[4], line.earn, width)
        out.append(rule)
        out += _centred(self.totals_heading, width)
        for row in self.totals:
            if row.strong:
                out.append("=" * width)
            out += _pair(row.label.upper() if row.strong else row.label, row.value, width)
        if self.totals_note:
            out += textwrap.wrap(self.totals_note, width)
        if self.earn_more:
            out.append(rule)
            out += _centred(self.earn_more_heading, width)
            for tip in self.earn_more:
                out += textwrap.wrap("* " + tip, width, subsequent_indent="  ")
        out.append(rule)
        out += _centred(self.validity, width)
        out += _centred(self.qr_caption, width)
        out += [self.qr_payload[i : i + width] for i in range(0, len(self.qr_payload), width)]
        out.append(rule)
        for note in self.footer:
            out += textwrap.wrap(note, width)
        return "\n".join(line.rstrip() for line in out) + "\n"


def build_sheet(
    program: Program,
    customer: CustomerView,
    goods: Sequence[SheetGood],
    *,
    issued_at: datetime,
    valid_days: int = 14,
    store_name: str,
    consultant: str | None,
    missing: Sequence[str] = (),
    coupons: Sequence[tuple[str, str]] = (),
    tz: tzinfo | None = None,
) -> OfferSheet:
    """The personal-offer sheet of ``goods`` for ``customer``, in the current language.

    Args:
        program: the rules the goods are priced by.
        customer: who the sheet is for (tier, available points, verified phone, next tier).
        goods: what the consultant picked, in the order printed (1 to :data:`MAX_SHEET_GOODS`).
        issued_at: now (aware); prices and points are as of this moment.
        valid_days: the sheet is valid until ``issued_at``'s day plus this many days (inclusive).
        store_name: printed at the top.
        consultant: who issued it; None leaves the line out.
        missing: the customer's profile fields still empty (``"email"``, ``"birth_date"``).
        coupons: the customer's active coupons as ``(title, valid till)``; an ISO date as the
            second element is printed as a date, any other text as it is.
        tz: the time zone dates are printed in; None is the till's local zone.

    Raises:
        InvalidCart: no goods, too many, a good without a SKU, or a price or quantity the rules
            refuse.
    """
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    _check_goods(goods)
    scale = program.points_scale
    issued = issued_at.astimezone(tz)
    valid_till = issued.date() + timedelta(days=valid_days)
    sheet_id = str(uuid.uuid4())
    short_id = sheet_id.replace("-", "")[:8].upper()
    state = CustomerState(
        available=customer.available if customer.available is not None else Decimal(0),
        verified=customer.verified,
        tier=customer.tier,
    )
    lines = tuple(_line(program, state, good, issued_at) for good in goods)
    together = _quote(program, state, goods, issued_at)
    items = tuple((good.sku, good.qty) for good in goods)

    info = [SheetRow(_("Date"), _day(issued.date()))]
    if consultant:
        info.append(SheetRow(_("Consultant"), consultant))
    info.append(SheetRow(_("Offer no."), short_id))
    available = _points(customer.available, scale) if customer.available is not None else "—"
    customer_rows = (
        SheetRow(_("Customer"), customer.display_name),
        SheetRow(_("Tier"), together.tier.name),
        SheetRow(_("Points available"), available),
    )

    return OfferSheet(
        store_name=store_name,
        title=_("Personal offer"),
        info=tuple(info),
        customer=customer_rows,
        columns=(
            _("Item"),
            _("Price"),
            _("Points you can use"),
            _("Your price"),
            _("Points you earn"),
        ),
        lines=lines,
        totals_heading=_("If you buy everything together"),
        totals=_totals(together),
        totals_note=(
            _("Points limited by: {limit}").format(limit=_limit(together))
            if _limit(together)
            else None
        ),
        earn_more_heading=_("How to earn more"),
        earn_more=_earn_more(program, customer, together, goods, issued_at, missing, coupons),
        validity=_("Offer valid till {date} inclusive").format(date=_day(valid_till)),
        qr_payload=sheet_code(sheet_id, customer.id, items, valid_till),
        qr_caption=_("Show at the till: the goods go into the cart"),
        footer=_footer(program, issued.date()),
        sheet_id=sheet_id,
        short_id=short_id,
        customer_id=customer.id,
        customer_name=customer.display_name,
        program_code=program.code,
        tier=together.tier.code,
        available=customer.available,
        issued_at=issued,
        valid_till=valid_till,
        items=items,
        total=together.base_total,
        redeem_points=together.redeem_points,
        redeem_amount=together.redeem_amount,
        to_pay=together.to_pay,
        earn_points=together.earn_points,
    )


def sheet_code(
    sheet_id: str, customer_id: str, items: Sequence[tuple[str, int]], valid_till: date
) -> str:
    """The QR payload that loads ``items`` into a till's cart: ``OS1.`` + base64url(JSON)."""
    body = {"s": sheet_id, "c": customer_id, "i": [[s, q] for s, q in items], "v": str(valid_till)}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return SHEET_PREFIX + base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")


def parse_sheet_code(text: str, *, today: date) -> SheetCode:
    """Read an offer sheet's QR code (scanner noise around it trimmed).

    Args:
        text: what the scanner read.
        today: the till's date; a sheet is valid through its ``valid_till`` day.

    Raises:
        InvalidQrPayload: not an offer sheet's code (``code`` ``invalid_qr``), or the sheet has
            expired (``code`` ``sheet_expired``); the message says what to do.
    """
    try:
        code = _fields(_decode(text.strip()))
    except ValueError:
        raise _unreadable() from None
    if today > code.valid_till:
        raise InvalidQrPayload(
            _(
                "This offer sheet was valid till {date}: ring the goods up by hand, or ask a "
                "consultant for a new sheet."
            ).format(date=_day(code.valid_till)),
            code="sheet_expired",
        )
    return code


def sheet_event(sheet: OfferSheet) -> dict[str, Any]:
    """The body that records an issued sheet centrally (queued in the till's outbox)."""
    return {
        "sheet_id": sheet.sheet_id,
        "customer_id": sheet.customer_id,
        "items": [{"sku": sku, "qty": format_quantity(qty)} for sku, qty in sheet.items],
        "valid_till": sheet.valid_till.isoformat(),
        "occurred_at": sheet.issued_at.isoformat(),
    }


# --- building ---------------------------------------------------------------------------------
def _check_goods(goods: Sequence[SheetGood]) -> None:
    if not goods:
        raise InvalidCart(_("Add at least one item to the offer sheet."))
    if len(goods) > MAX_SHEET_GOODS:
        raise InvalidCart(
            _("An offer sheet holds at most {n} items: split them over two sheets.").format(
                n=MAX_SHEET_GOODS
            )
        )
    for good in goods:
        if not good.sku or len(good.sku) > MAX_SKU_LENGTH:
            raise InvalidCart(
                _("The item {name} has no valid article number (SKU).").format(name=good.name)
            )


def _cart(goods: Sequence[SheetGood]) -> list[CartLine]:
    return [
        CartLine(str(n), good.sku, good.qty, good.price, good.category)
        for n, good in enumerate(goods, start=1)
    ]


def _quote(
    program: Program,
    state: CustomerState,
    goods: Sequence[SheetGood],
    at: datetime,
    method: PaymentMethod = EARN_PAYMENT,
) -> Quote:
    """Most points the rules allow, the rest paid by ``method``."""
    return quote(
        program, state, _cart(goods), occurred_at=at, redeem="max", payments=[Payment(method)]
    )


def _line(program: Program, state: CustomerState, good: SheetGood, at: datetime) -> SheetLine:
    q = _quote(program, state, [good], at)
    (lq,) = q.lines
    scale = program.points_scale
    return SheetLine(
        name=good.name,
        quantity=_quantity(good) if good.qty != QTY_SCALE else None,
        price=display_money(lq.base_amount),
        points=_points(lq.redeem_points, scale),
        limit=_limit(q),
        personal_price=display_money(lq.final_amount),
        earn="+" + _points(lq.earn_points, scale),
        sku=good.sku,
        qty=good.qty,
        amount=lq.base_amount,
        redeem_points=lq.redeem_points,
        redeem_amount=lq.redeem_amount,
        personal_amount=lq.final_amount,
        earn_points=lq.earn_points,
        cap_reasons=q.cap_reasons,
    )


def _limit(q: Quote) -> str:
    """What holds the points usable at their maximum, in a few words."""
    reasons = set(q.cap_reasons)
    if CapReason.NO_ELIGIBLE_LINES in reasons:
        return _("cannot be paid with points")
    phrases = []
    if CapReason.NOT_VERIFIED in reasons:
        phrases.append(_("once your phone is confirmed"))
    if CapReason.BALANCE in reasons and CapReason.NOT_VERIFIED not in reasons:
        phrases.append(_("all your points"))
    if CapReason.TIER_SHARE in reasons:
        phrases.append(
            _("{tier}: up to {pct}%").format(tier=q.tier.name, pct=_pct(q.tier.redeem_cap_pct))
        )
    elif CapReason.MIN_TO_PAY in reasons:
        phrases.append(
            _("at least {amount} in money").format(amount=display_money(q.program.min_line_to_pay))
        )
    return ", ".join(phrases)


def _quantity(good: SheetGood) -> str:
    """``2 pcs × 499,00 ₽``; weighed goods (a fractional quantity) in kg with 3 decimals."""
    price = display_money(good.price)
    if good.qty % QTY_SCALE:
        return _("{qty} kg × {price}/kg").format(
            qty=format_quantity(good.qty).replace(".", ","), price=price
        )
    return _("{qty} pcs × {price}").format(qty=good.qty // QTY_SCALE, price=price)


def _totals(q: Quote) -> tuple[SheetRow, ...]:
    scale = q.program.points_scale
    rows = [SheetRow(_("Total"), display_money(q.base_total))]
    if q.redeem_points > 0:
        rows.append(
            SheetRow(
                _("Points to use: {points}").format(points=_points(q.redeem_points, scale)),
                display_money(-q.redeem_amount),
            )
        )
    rows.append(SheetRow(_("To pay"), display_money(q.to_pay), strong=True))
    rows.append(SheetRow(_("Points you earn"), "+" + _points(q.earn_points, scale)))
    return tuple(rows)


def _earn_more(
    program: Program,
    customer: CustomerView,
    together: Quote,
    goods: Sequence[SheetGood],
    at: datetime,
    missing: Sequence[str],
    coupons: Sequence[tuple[str, str]],
) -> tuple[str, ...]:
    tips: list[str] = []
    if program.redeem_requires_verified_phone and not customer.verified:
        tips.append(_("Confirm your phone number at the till to pay with points."))
    tips += _payment_tips(program, customer, together, goods, at)
    tip = _next_tier_tip(program, customer, together)
    if tip:
        tips.append(tip)
    tips += _profile_tips(program, customer, missing)
    for title, till in coupons:
        if till:
            tips.append(
                _("Coupon «{title}», valid till {date}").format(title=title, date=_maybe_day(till))
            )
        else:
            tips.append(_("Coupon «{title}»").format(title=title))
    return tuple(tips)


def _payment_tips(
    program: Program,
    customer: CustomerView,
    together: Quote,
    goods: Sequence[SheetGood],
    at: datetime,
) -> list[str]:
    """``+1 p.p. on what you pay by SBP or in cash``, with what that adds on this sheet."""
    by_pct: dict[Decimal, list[PaymentMethod]] = {}
    for method in PaymentMethod:  # the enum's order: cash, card, SBP, other
        pct = program.payment_bonus_pct.get(method)
        if pct:
            by_pct.setdefault(pct, []).append(method)
    tips = []
    scale = program.points_scale
    state = CustomerState(
        available=customer.available if customer.available is not None else Decimal(0),
        verified=customer.verified,
        tier=customer.tier,
    )
    for pct in sorted(by_pct, reverse=True):
        methods = [_(_METHODS_BY[m]) for m in by_pct[pct]]
        if len(methods) == 1:
            how = methods[0]
        else:
            how = _("{methods} or {last}").format(methods=", ".join(methods[:-1]), last=methods[-1])
        tip = _("+{pct} p.p. on what you pay {methods}").format(pct=_pct(pct), methods=how)
        other = next((m for m in by_pct[pct] if m is not EARN_PAYMENT), None)
        if other is not None:
            extra = _quote(program, state, goods, at, other).earn_points - together.earn_points
            if extra > 0:
                tip += ": " + ngettext(
                    "{n} more point on this offer",
                    "{n} more points on this offer",
                    _plural_n(extra),
                ).format(n=_points(extra, scale))
        tips.append(tip)
    return tips


def _next_tier_tip(program: Program, customer: CustomerView, together: Quote) -> str | None:
    if not customer.next_tier or not customer.next_tier_missing:
        return None
    amount = display_money(customer.next_tier_missing)
    try:
        tier = program.tier(customer.next_tier)
    except KeyError:
        tip = _("Spend {amount} more to reach {tier}.").format(
            amount=amount, tier=customer.next_tier
        )
    else:
        tip = _(
            "Spend {amount} more to reach {tier}: up to {cap}% of a purchase with points and "
            "{earn}% back."
        ).format(
            amount=amount, tier=tier.name, cap=_pct(tier.redeem_cap_pct), earn=_pct(tier.earn_pct)
        )
    if together.to_pay >= customer.next_tier_missing:
        tip += " " + _("Buying everything on this sheet gets you there.")
    return tip


def _profile_tips(program: Program, customer: CustomerView, missing: Sequence[str]) -> list[str]:
    tips = []
    scale = program.points_scale
    profile = getattr(program, "profile_bonus", None)  # the program may not know it yet
    email, birth = "email" in missing, "birth_date" in missing
    if profile is not None and (email or birth):
        points: Decimal = profile.points
        n = _plural_n(points)
        if email and birth:
            tip = ngettext(  # the bonus is given once, for whichever comes first
                "Add your e-mail or birth date: +{n} point",
                "Add your e-mail or birth date: +{n} points",
                n,
            )
        elif email:
            tip = ngettext("Add your e-mail: +{n} point", "Add your e-mail: +{n} points", n)
        else:
            tip = ngettext("Add your birth date: +{n} point", "Add your birth date: +{n} points", n)
        tip = tip.format(n=_points(points, scale))
        if getattr(profile, "requires_verified_phone", False) and not customer.verified:
            tip += " " + _("(once your phone is confirmed)")
        tips.append(tip)
    birthday = program.birthday_bonus
    if birthday is not None and birth:
        tip = ngettext(
            "With your birth date on file: +{n} point on every birthday",
            "With your birth date on file: +{n} points on every birthday",
            _plural_n(birthday.points),
        ).format(n=_points(birthday.points, scale))
        if birthday.requires_verified_phone and not customer.verified:
            tip += " " + _("(once your phone is confirmed)")
        tips.append(tip)
    return tips


def _footer(program: Program, issued: date) -> tuple[str, ...]:
    notes = [
        _(
            "The points for each item are counted as if it were bought alone; they are spent "
            "once, so for several items see the totals."
        ),
        _("Points earned are shown for paying by card."),
    ]
    days = program.activation_delay_days
    if days:
        notes.append(
            ngettext(
                "Points earned can be spent {n} day after the purchase.",
                "Points earned can be spent {n} days after the purchase.",
                days,
            ).format(n=days)
        )
    notes.append(
        _(
            "Prices and points as of {date}, loyalty program {program}; the till counts them "
            "again at the purchase."
        ).format(date=_day(issued), program=program.name)
    )
    return tuple(notes)


# --- reading the QR code ----------------------------------------------------------------------
class _Malformed(ValueError):
    """Something in a scanned code is not what an offer sheet's code holds."""


def _unreadable() -> InvalidQrPayload:
    return InvalidQrPayload(
        _(
            "This code is not a readable offer sheet: scan the QR on the personal offer sheet "
            "again, or ring the goods up by hand."
        )
    )


def _decode(text: str) -> dict[str, Any]:
    """The JSON object inside ``OS1.<base64url>``; _Malformed when there is none."""
    if not text.startswith(SHEET_PREFIX) or len(text) > MAX_CODE_LENGTH:
        raise _Malformed("prefix")
    data = text[len(SHEET_PREFIX) :]
    if not _BASE64URL.match(data) or len(data) % 4 == 1:
        raise _Malformed("base64url")
    try:
        body = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _Malformed("encoding") from exc
    if not isinstance(body, dict):
        raise _Malformed("not an object")
    return body


def _fields(body: dict[str, Any]) -> SheetCode:
    """The code's fields, checked; _Malformed for anything out of shape."""
    raw_items = body.get("i")
    if not isinstance(raw_items, list) or not 0 < len(raw_items) <= MAX_SHEET_GOODS:
        raise _Malformed("items")
    day = body.get("v")
    if not isinstance(day, str) or not _ISO_DAY.match(day):
        raise _Malformed("valid till")
    return SheetCode(
        sheet_id=str(uuid.UUID(_text(body.get("s")))),
        customer_id=_text(body.get("c")),
        items=tuple(_item(entry) for entry in raw_items),
        valid_till=date.fromisoformat(day),
    )


def _text(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SKU_LENGTH or value != value.strip():
        raise _Malformed("text")
    return value


def _item(entry: object) -> tuple[str, int]:
    if not isinstance(entry, list) or len(entry) != 2:
        raise _Malformed("item")
    sku, qty = entry
    if isinstance(qty, bool) or not isinstance(qty, int) or not 0 < qty <= MAX_QTY:
        raise _Malformed("quantity")
    return _text(sku), qty


# --- formatting -------------------------------------------------------------------------------


def _maybe_day(text: str) -> str:
    """An ISO date as ``dd.mm.yyyy`` (a timestamp's date part too); other text as it is."""
    try:
        return _day(date.fromisoformat(text[:10]))
    except ValueError:
        return text
