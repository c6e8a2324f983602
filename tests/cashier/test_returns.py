"""Returns from the original purchase's per-line result: partial, cumulative, exact in the end."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cashier.errors import InvalidCart, ReturnExceedsPurchase
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod, load_preset
from cashier.quote import CartLine, CustomerState, Payment, quote
from cashier.returns import PurchasedLine, compute_return

NB = load_preset("nbclub")
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def purchased_from_quote() -> list[PurchasedLine]:
    lines = [
        CartLine("L1", "phone", parse_quantity("3"), parse_money("349.90")),
        CartLine("L2", "cable", parse_quantity("1"), parse_money("999.00")),
    ]
    c = CustomerState(available=Decimal(400), verified=True)
    q = quote(NB, c, lines, occurred_at=NOW, redeem="max", payments=[Payment(PaymentMethod.SBP)])
    assert q.redeem_points == 400
    return [
        PurchasedLine(ln.line_id, ln.qty, ln.redeem_points, ln.earn_points, ln.final_amount)
        for ln in q.lines
    ]


def test_partial_then_rest_reverses_exactly() -> None:
    bought = purchased_from_quote()
    first = compute_return(bought, {}, {"L1": parse_quantity("1")})
    assert not first.complete
    assert first.lines[0].points_restored == round(bought[0].redeem_points / 3)
    second = compute_return(
        bought, {"L1": parse_quantity("1")}, {"L1": parse_quantity("2"), "L2": 1000}
    )
    assert second.complete
    restored = first.points_restored + second.points_restored
    revoked = first.points_revoked + second.points_revoked
    assert restored == sum(b.redeem_points for b in bought) == 400
    assert revoked == sum(b.earn_points for b in bought)
    assert first.refund_amount + second.refund_amount == sum(b.final_amount for b in bought)


def test_return_above_purchase_is_refused_cumulatively() -> None:
    bought = purchased_from_quote()
    with pytest.raises(ReturnExceedsPurchase) as err:
        compute_return(bought, {"L1": parse_quantity("2")}, {"L1": parse_quantity("2")})
    assert "1.000" in err.value.message


def test_unknown_line_and_non_positive_quantity() -> None:
    bought = purchased_from_quote()
    with pytest.raises(InvalidCart):
        compute_return(bought, {}, {"L9": 1000})
    with pytest.raises(InvalidCart):
        compute_return(bought, {}, {"L1": 0})
