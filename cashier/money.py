"""Exact money, quantities and points.

Owns: parsing and formatting of wire amounts (docs/protocol.md decision 4).  Money is held as integer
kopecks, quantities as integer thousandths, points as integer *point units* (points × 10^scale) inside
the engine and as ``Decimal`` at its edges.  No float ever touches any of them.

Every parser here reads ASCII digits only (``0-9``): Python's ``int()``, ``Decimal()`` and the
digit class of a regular expression also take other scripts' digits (``"١"`` is 1), which a till
must not sell as a quantity or an amount.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from cashier.errors import InvalidCart
from cashier.i18n import _

Kopecks = int
"""Money in kopecks (1/100 rouble)."""

QTY_SCALE = 1000
"""Quantities carry at most 3 decimals (weighed goods): held as thousandths."""

_MONEY_RE = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,2})?")
_QTY_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,3})?")
_POINTS_RE = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,10})?")
"""Patterns for ``fullmatch`` (``$`` would let a trailing newline through)."""


def _foreign_digits(text: str) -> bool:
    """Whether ``text`` has digits other than ASCII 0-9 (``"١"``, ``"１"``): said so by name."""
    return any(ch.isdigit() and not "0" <= ch <= "9" for ch in text)


def parse_money(text: str | int | Decimal) -> Kopecks:
    """Parse a decimal money string such as ``"1299.90"`` into kopecks.

    Raises:
        InvalidCart: not a plain decimal with at most 2 decimals.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text * 100
    raw = str(text).strip()
    if not _MONEY_RE.fullmatch(raw):
        raise InvalidCart(
            _("The amount {value} is not valid: type it with the digits 0-9.").format(
                value=repr(raw[:32])
            )
            if _foreign_digits(raw)
            else _(
                "The amount {value} is not valid: use roubles with up to 2 decimals, e.g. 1299.90."
            ).format(value=repr(raw[:32]))
        )
    return int(Decimal(raw) * 100)


def format_money(kopecks: Kopecks) -> str:
    """Kopecks → wire string with exactly 2 decimals (``129990`` → ``"1299.90"``)."""
    sign = "-" if kopecks < 0 else ""
    whole, frac = divmod(abs(kopecks), 100)
    return f"{sign}{whole}.{frac:02d}"


def display_money(kopecks: Kopecks) -> str:
    """Kopecks → what a cashier reads: ``"1 299,90 ₽"`` (thin spaces as thousands separator)."""
    sign = "−" if kopecks < 0 else ""
    whole, frac = divmod(abs(kopecks), 100)
    grouped = f"{whole:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{frac:02d} ₽"


def parse_quantity(text: str | int | Decimal) -> int:
    """Parse a quantity (``"2"``, ``"0.742"``) into thousandths; must be positive.

    Raises:
        InvalidCart: not a positive decimal with at most 3 decimals.
    """
    raw = str(text).strip()
    if not _QTY_RE.fullmatch(raw) or Decimal(raw) <= 0:
        raise InvalidCart(
            _("The quantity {value} is not valid: type it with the digits 0-9.").format(
                value=repr(raw[:32])
            )
            if _foreign_digits(raw)
            else _(
                "The quantity {value} is not valid: use a positive number with up to 3 decimals."
            ).format(value=repr(raw[:32]))
        )
    return int(Decimal(raw) * QTY_SCALE)


def format_quantity(thousandths: int) -> str:
    """Thousandths → wire string with 3 decimals (``742`` → ``"0.742"``)."""
    whole, frac = divmod(thousandths, QTY_SCALE)
    return f"{whole}.{frac:03d}"


def quantity_decimal(thousandths: int) -> Decimal:
    return Decimal(thousandths) / QTY_SCALE


def points_to_units(points: Decimal | int | str, scale: int) -> int:
    """Points → integer units at the program's scale; more decimals than the scale is an error.

    Text must be a plain decimal in ASCII digits (``"150"``, ``"+27"``, ``"150.5"``): no exponent,
    no ``_``, no other script's digits.
    """
    if isinstance(points, str) and not _POINTS_RE.fullmatch(points.strip()):
        raw = points.strip()
        raise InvalidCart(
            _("{value} is not a number of points: type it with the digits 0-9.").format(
                value=repr(raw[:32])
            )
            if _foreign_digits(raw)
            else _("{value} is not a number of points.").format(value=repr(raw[:32]))
        )
    try:
        value = Decimal(str(points).strip())
    except InvalidOperation:
        raise InvalidCart(
            _("{value} is not a number of points.").format(value=repr(str(points)[:32]))
        ) from None
    if not value.is_finite():
        raise InvalidCart(_("{value} is not a number of points.").format(value=repr(str(points))))
    units = value.scaleb(scale)
    if units != units.to_integral_value():
        raise InvalidCart(
            _("Points have at most {scale} decimals in this program.").format(scale=scale)
        )
    return int(units)


def units_to_points(units: int, scale: int) -> Decimal:
    """Integer units → ``Decimal`` points at the program's scale (``Decimal("150")``)."""
    return Decimal(units).scaleb(-scale) if scale else Decimal(units)


def format_points(points: Decimal, scale: int) -> str:
    """``Decimal`` points → wire string at the program's scale (``"150"``, ``"150.5"``)."""
    return str(points.quantize(Decimal(1).scaleb(-scale)))


def div_round_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounded half away from zero (denominator > 0)."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def line_amount(unit_price: Kopecks, qty_thousandths: int) -> Kopecks:
    """Line value = unit price × quantity, rounded half up to the kopeck."""
    return div_round_half_up(unit_price * qty_thousandths, QTY_SCALE)
