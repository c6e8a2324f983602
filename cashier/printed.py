"""Formatting shared by the till's printed papers (the loyalty slip, the offer sheet): dates,
points with grouped thousands, percentages, plural counts, and the plain-text layout helpers.

Owns nothing but these pure functions; :mod:`cashier.slip` and :mod:`cashier.offer_sheet` use them.
"""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal

from cashier.money import format_points


def day(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def points(points: Decimal, scale: int) -> str:
    """Points as printed: ``1 250`` (narrow no-break space between thousands), ``12,5``."""
    text = format_points(points, scale)
    sign = "−" if text.startswith("-") else ""
    whole, _dot, frac = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}".replace(",", "\u202f")
    return sign + grouped + ("," + frac if frac else "")


def pct(value: Decimal) -> str:
    """``Decimal("1.50")`` → ``"1,5"``."""
    return format(value.normalize(), "f").replace(".", ",")


def plural_n(points: Decimal) -> int:
    """The count that picks the plural form: fractions take the "few" form ("1,5 балла")."""
    return int(points) if points == points.to_integral_value() else 2


def centred(text: str, width: int) -> list[str]:
    return [line.center(width) for line in textwrap.wrap(text, width)]


def pair(label: str, value: str, width: int) -> list[str]:
    """``label ........ value`` on one line when it fits, else the label wrapped above it."""
    if len(label) + 1 + len(value) <= width:
        return [label + " " * (width - len(label) - len(value)) + value]
    indent = " " * (len(label) - len(label.lstrip(" ")))
    wrapped = textwrap.wrap(label, width, subsequent_indent=indent) or [""]
    last = wrapped[-1]
    if len(last) + 1 + len(value) <= width:
        return [*wrapped[:-1], last + " " * (width - len(last) - len(value)) + value]
    return [*wrapped, *(v.rjust(width) for v in textwrap.wrap(value, width))]
