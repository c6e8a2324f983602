"""Returns: what points a (partial, repeated) return gives back and takes back.

Owns: the pure function :func:`compute_return`.  Points are computed from the *original* purchase's
per-line result, never re-quoted under today's rules (Odoo's refund exploit, PR #257854).  Each step
is the difference of a cumulative proportion, so returning everything in any number of steps
reverses the original exactly: Σ restored == redeemed, Σ revoked == earned, Σ refunded == paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from cashier.errors import InvalidCart, ReturnExceedsPurchase
from cashier.i18n import _
from cashier.money import (
    Kopecks,
    div_round_half_up,
    format_quantity,
    points_to_units,
    units_to_points,
)


@dataclass(frozen=True)
class PurchasedLine:
    """One line of the original purchase as it was committed."""

    line_id: str
    qty: int
    redeem_points: Decimal
    earn_points: Decimal
    final_amount: Kopecks


@dataclass(frozen=True)
class ReturnedLine:
    line_id: str
    qty: int
    points_restored: Decimal
    """Redeemed points given back to the customer."""
    points_revoked: Decimal
    """Earned points taken back."""
    refund_amount: Kopecks
    """Money paid for the returned quantity (what the customer paid after points)."""


@dataclass(frozen=True)
class ReturnResult:
    lines: tuple[ReturnedLine, ...]
    points_restored: Decimal
    points_revoked: Decimal
    refund_amount: Kopecks
    complete: bool
    """True when, with this return, everything bought has been returned."""


def compute_return(
    purchased: Sequence[PurchasedLine],
    returned_before: Mapping[str, int],
    returning: Mapping[str, int],
    *,
    points_scale: int = 0,
) -> ReturnResult:
    """Points and money for returning ``returning`` (line id → qty in thousandths).

    Args:
        purchased: the original purchase's lines.
        returned_before: quantities already returned per line by earlier returns.
        returning: quantities returned now per line.
        points_scale: the program's points scale.

    Raises:
        InvalidCart: an unknown line or a non-positive quantity.
        ReturnExceedsPurchase: cumulative returns would exceed what was bought.
    """
    by_id = {line.line_id: line for line in purchased}
    results: list[ReturnedLine] = []
    for line_id, qty in returning.items():
        line = by_id.get(line_id)
        if line is None:
            raise InvalidCart(_("The purchase has no line {id}.").format(id=line_id))
        if qty <= 0:
            raise InvalidCart(_("Return a positive quantity of {id}.").format(id=line_id))
        before = returned_before.get(line_id, 0)
        after = before + qty
        if after > line.qty:
            raise ReturnExceedsPurchase(
                _("Only {left} of line {id} can still be returned.").format(
                    left=format_quantity(line.qty - before), id=line_id
                )
            )
        redeem = points_to_units(line.redeem_points, points_scale)
        earn = points_to_units(line.earn_points, points_scale)
        results.append(
            ReturnedLine(
                line_id=line_id,
                qty=qty,
                points_restored=units_to_points(
                    _share(redeem, after, line.qty) - _share(redeem, before, line.qty), points_scale
                ),
                points_revoked=units_to_points(
                    _share(earn, after, line.qty) - _share(earn, before, line.qty), points_scale
                ),
                refund_amount=_share(line.final_amount, after, line.qty)
                - _share(line.final_amount, before, line.qty),
            )
        )
    complete = all(
        returned_before.get(line.line_id, 0) + returning.get(line.line_id, 0) == line.qty
        for line in purchased
    )
    return ReturnResult(
        lines=tuple(results),
        points_restored=sum((r.points_restored for r in results), Decimal(0)),
        points_revoked=sum((r.points_revoked for r in results), Decimal(0)),
        refund_amount=sum(r.refund_amount for r in results),
        complete=complete,
    )


def _share(total: int, qty: int, of: int) -> int:
    """The part of ``total`` that belongs to ``qty`` out of ``of``, rounded half up; exact at the ends."""
    if qty == of:
        return total
    return div_round_half_up(total * qty, of)
