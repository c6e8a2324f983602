"""Opaque paging cursors: a ``(time, key)`` watermark, base64-wrapped, with a prefix per list.

Owns: :class:`Cursor`.  A list's cursors carry its own prefix, so a cursor of another list is
refused, not misread; a cursor the service did not give is a 400 saying how to start again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from processing.errors import ApiError


@dataclass(frozen=True)
class Cursor:
    prefix: str
    again: str
    """What to do when a cursor is not valid (e.g. "read the history again from the first page")."""

    def encode(self, stamp: datetime, key: str | int) -> str:
        raw = f"{self.prefix}{stamp.isoformat()}|{key}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[datetime, str]:
        parsed: tuple[datetime, str] | None = None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            if raw.startswith(self.prefix):
                stamp, key = raw[len(self.prefix) :].split("|", 1)
                parsed = datetime.fromisoformat(stamp), key
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if parsed is None or parsed[0].tzinfo is None:
            raise ApiError(
                400,
                "validation_error",
                f"The cursor is not valid: {self.again}.",
                details=[{"field": "/query/cursor", "message": "not a cursor this service gave"}],
            )
        return parsed
