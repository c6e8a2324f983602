"""Figures the benchmarks print: nearest-rank percentiles and a summary of timed samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_ns: Sequence[int | float], pct: float) -> float:
    """Nearest-rank percentile of sorted samples in nanoseconds, in milliseconds."""
    rank = max(1, min(len(sorted_ns), math.ceil(pct / 100 * len(sorted_ns))))
    return sorted_ns[rank - 1] / 1e6


def summary(samples: Sequence[int]) -> dict[str, float]:
    """n, p50, p95, p99, mean and max of samples in nanoseconds, in milliseconds."""
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "mean": sum(ordered) / len(ordered) / 1e6,
        "max": ordered[-1] / 1e6,
    }
