"""Read confirmation for the camera: a QR code counts once it was read steadily, and only once.

Owns: :class:`ReadConfirmer`.  A camera decodes many frames a second; a single read may be a
misread of a code moving past, and a code held in front of the camera is read in every frame.  The
confirmer accepts a code after ``repeats`` reads within ``window_s`` seconds, and then ignores that
code until it has been out of sight for ``cooldown_s`` seconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence


class ReadConfirmer:
    """Turns the codes decoded from successive frames into accepted codes.

    Rules (times from ``clock``, in seconds):

    * a code is accepted when it has been read ``repeats`` times (in different :meth:`feed` calls)
      within the last ``window_s`` seconds;
    * after it was accepted, the same code is not accepted again for ``cooldown_s`` seconds; every
      further read of it during the cooldown restarts the cooldown, so a code held in front of the
      camera is accepted once however long it is held.  Once it has been out of sight for
      ``cooldown_s``, it can be accepted again (after ``repeats`` fresh reads);
    * other codes are not affected by one code's cooldown.

    Not thread-safe: feed it from the one thread that decodes the frames.
    """

    def __init__(
        self,
        repeats: int = 2,
        window_s: float = 1.0,
        cooldown_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, not {repeats}")
        if window_s < 0 or cooldown_s < 0:
            raise ValueError("window_s and cooldown_s must not be negative")
        self.repeats = repeats
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._reads: dict[str, deque[float]] = {}
        self._cooling: dict[str, float] = {}  # accepted code → last time it was seen

    def feed(self, codes: Sequence[str]) -> str | None:
        """Record the codes read from one frame; return the code accepted now, if any.

        At most one code is accepted per call: the first of ``codes`` that qualifies (the others
        keep their reads and may be accepted by a later call).  Empty strings are ignored.
        """
        now = self._clock()
        self._forget(now)
        accepted: str | None = None
        for code in dict.fromkeys(codes):  # one read per code per frame, in order
            if not code:
                continue
            if code in self._cooling:
                self._cooling[code] = now
                continue
            reads = self._reads.setdefault(code, deque())
            reads.append(now)
            while reads and now - reads[0] > self.window_s:
                reads.popleft()
            if accepted is None and len(reads) >= self.repeats:
                accepted = code
                del self._reads[code]
                self._cooling[code] = now
        return accepted

    def reset(self) -> None:
        """Forget every read and every cooldown (e.g. when the camera is switched)."""
        self._reads.clear()
        self._cooling.clear()

    def _forget(self, now: float) -> None:
        for code, seen in list(self._cooling.items()):
            if now - seen >= self.cooldown_s:
                del self._cooling[code]
        for code, reads in list(self._reads.items()):
            if not reads or now - reads[-1] > self.window_s:
                del self._reads[code]
