"""What a 2D barcode scanner in keyboard-emulation mode types, told apart from a person typing.

Owns: :class:`KeyBurst` (scanned or typed, from the key timing).  What the scanner typed is then
read by :func:`cashier.identifiers.classify`, which removes scanner noise (control characters, an
AIM symbology prefix) and repairs a payload typed while the Russian keyboard layout was active.

A scanner "types" a whole QR payload in a burst, a few milliseconds per character, and ends it with
Enter; a person needs about 60 ms or more per key.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Entry:
    """One entry ended by Enter: its text, and whether a scanner typed it."""

    text: str
    scanned: bool


class KeyBurst:
    """Collects typed characters and tells, at Enter, whether a scanner or a person typed them.

    An entry counts as scanned when it has at least ``min_length`` characters and at least
    ``fast_share`` of the intervals between its keys, the interval before Enter included, are at
    most ``max_interval_s`` seconds.  (A few slow intervals are tolerated: the operating system or
    the UI may hold a key event back now and then.)  Times are any monotonic seconds, e.g. the key
    events' timestamps.  The text is returned as typed (``classify`` repairs it).
    """

    def __init__(
        self, max_interval_s: float = 0.035, min_length: int = 6, fast_share: float = 0.8
    ) -> None:
        self.max_interval_s = max_interval_s
        self.min_length = min_length
        self.fast_share = fast_share
        self._chars: list[str] = []
        self._times: list[float] = []

    @property
    def text(self) -> str:
        """What has been typed since the last Enter."""
        return "".join(self._chars)

    def key(self, char: str, t: float) -> None:
        """Record ``char`` (the text of one key press) typed at time ``t``."""
        if char:
            self._chars.append(char)
            self._times.append(t)

    def finish(self, t: float) -> Entry:
        """End the entry (Enter pressed at time ``t``): its text and how it was typed; then reset."""
        entry = Entry(self.text, self._scanned(t))
        self.reset()
        return entry

    def reset(self) -> None:
        """Forget what was typed (e.g. when the field lost focus or was cleared)."""
        self._chars.clear()
        self._times.clear()

    def _scanned(self, enter_t: float) -> bool:
        if len(self.text) < self.min_length or len(self._times) < 2:
            return False
        times = [*self._times, enter_t]
        intervals = [later - earlier for earlier, later in pairwise(times)]
        fast = sum(1 for interval in intervals if interval <= self.max_interval_s)
        return fast >= self.fast_share * len(intervals)
