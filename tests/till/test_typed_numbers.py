"""Issue 12: points a cashier types take ASCII digits only (``Decimal`` alone reads "١٠٠" as 100)."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

import pytest

from cashier.counter import Counter
from cashier.till import Till, TillError


@pytest.mark.parametrize("typed", ["١٠٠", "１００", "1e3", "NaN", "Infinity", "10.", "--5"])
def test_points_in_other_scripts_or_forms_are_refused(typed: str) -> None:
    counter = Counter(cast(Till, None))
    before = counter.draft.redeem
    with pytest.raises(TillError, match=r"must be a number|Введите число баллов"):
        counter.set_redeem(typed)
    assert counter.draft.redeem == before  # nothing changed


@pytest.mark.parametrize(
    ("typed", "points"), [("150", Decimal(150)), ("1 000,5", Decimal("1000.5"))]
)
def test_plain_points_still_parse(typed: str, points: Decimal) -> None:
    counter = Counter(cast(Till, None))
    counter.set_redeem(typed)
    assert counter.draft.redeem == points
