"""Exact apportioning of an integer total over weighted parts (largest remainder)."""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """Split ``total`` units over parts in proportion to ``weights`` without exceeding ``caps``.

    Parts whose proportional share would exceed their cap get the cap, and the rest is shared again
    among the others; the final shares are floored and the leftover units go to the largest
    fractional remainders (ties: the earlier part).  The result always sums exactly to ``total``.

    Raises:
        ValueError: ``total`` is negative or larger than the sum of the caps.
    """
    n = len(weights)
    if total < 0 or total > sum(caps[i] for i in range(n) if weights[i] > 0):
        raise ValueError(f"cannot allocate {total} within caps {list(caps)}")
    result = [0] * n
    active = [i for i in range(n) if weights[i] > 0 and caps[i] > 0]
    remaining = total
    while remaining and active:
        weight_sum = sum(weights[i] for i in active)
        capped = [i for i in active if remaining * weights[i] >= caps[i] * weight_sum]
        if capped:
            for i in capped:
                result[i] = caps[i]
                remaining -= caps[i]
            active = [i for i in active if i not in capped]
            continue
        remainders: list[tuple[int, int]] = []
        given = 0
        for i in active:
            share, rem = divmod(remaining * weights[i], weight_sum)
            result[i] = share
            given += share
            remainders.append((-rem, i))
        remainders.sort()
        for _, i in remainders[: remaining - given]:
            result[i] += 1
        remaining = 0
    return result


def apportion(total: int, exact_numerators: Sequence[int], denominator: int) -> list[int]:
    """Round exact values ``numerator/denominator`` to integers summing to ``total``.

    Each part gets the floor of its exact value, and ``total - Σ floors`` parts with the largest
    remainders get one more.  ``total`` must lie between Σ floors and Σ floors + number of parts.
    """
    floors: list[int] = []
    remainders: list[tuple[int, int]] = []
    for i, num in enumerate(exact_numerators):
        whole, rem = divmod(num, denominator)
        floors.append(whole)
        remainders.append((-rem, i))
    extra = total - sum(floors)
    if extra < 0 or extra > len(floors):
        raise ValueError("total outside the range the parts can round to")
    remainders.sort()
    for _, i in remainders[:extra]:
        floors[i] += 1
    return floors
