"""Per-device limits on look-ups that could be used to enumerate customers (docs/protocol.md A).

Owns: :class:`SlidingWindow`.  ``POST /customers/identify`` by phone or card answers a name, a tier
and a balance: a stolen till key must not turn it into a phone-book scan.  A till identifies a
customer or two a minute; the default, 120 a minute per device (``$PROCESSING_IDENTIFY_PER_MINUTE``,
``create_app(identify_per_minute=…)``), is far above that and far below a scan.  The count lives in
the serving process: with ``--workers N`` a device may reach N times the limit (still a crawl for a
scan of millions of numbers).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable

ENV_IDENTIFY = "PROCESSING_IDENTIFY_PER_MINUTE"
DEFAULT_IDENTIFY_PER_MINUTE = 120


def identify_limit_from_env() -> int:
    """The per-device identify limit a minute: ``$PROCESSING_IDENTIFY_PER_MINUTE`` or 120."""
    raw = os.environ.get(ENV_IDENTIFY, "").strip()
    if not raw:
        return DEFAULT_IDENTIFY_PER_MINUTE
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValueError(f"{ENV_IDENTIFY} must be a whole number of look-ups a minute, not {raw!r}")
    return int(raw)


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window_s`` seconds; thread-safe."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> int | None:
        """Count one hit for ``key``; ``None`` when allowed, else the seconds until one is."""
        now = self.clock()
        with self._lock:
            times = self._hits.setdefault(key, deque())
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.limit:
                return max(1, math.ceil(times[0] + self.window_s - now))
            times.append(now)
            if len(self._hits) > 100_000:  # devices are far fewer: drop the idle ones
                for idle in [k for k, v in self._hits.items() if not v]:
                    del self._hits[idle]
            return None
