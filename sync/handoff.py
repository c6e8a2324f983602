"""Customers handed over by a store tablet: the till watches for them and shows them at once.

Owns: :class:`HandoffWatcher`, a thread that long-polls ``GET /handoffs`` (the service answers as
soon as a tablet of the same store posts one, or after ``wait`` seconds) and passes new ones to a
callback.  It keeps its own HTTP client (a long poll must not hold the sale's connection), backs
off while the service is unreachable, and stops within about ``wait`` seconds.  No Qt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx

from cashier.gateway import GatewayError
from sync.client import HttpGateway

log = logging.getLogger(__name__)

Handoffs = list[dict[str, Any]]


class HandoffWatcher:
    """Calls ``on_handoffs(items)`` from its thread for each batch of new hand-offs."""

    def __init__(
        self,
        base_url: str,
        token: str,
        on_handoffs: Callable[[Handoffs], None],
        *,
        wait: float = 1.5,
        retry_s: float = 3.0,
    ) -> None:
        self.gateway = HttpGateway(base_url, token, transport=httpx.HTTPTransport(retries=0))
        self.on_handoffs = on_handoffs
        self.wait = wait
        self.retry_s = retry_s
        self.after: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="till-handoffs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        self._stop.set()
        ended = True
        if self._thread is not None:
            self._thread.join(timeout)
            ended = not self._thread.is_alive()
        self.gateway.close()
        return ended

    def poll(self) -> Handoffs:
        """One long poll: the new hand-offs (the first call only learns where to start)."""
        reply = self.gateway.handoffs(self.after or 0, self.wait, timeout=5.0)
        body = reply.body
        items: Handoffs = list(body.get("items") or [])
        self.after = int(body.get("last_id") or self.after or 0)
        if items:
            self.after = max(self.after, max(int(i["id"]) for i in items))
        return items

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                items = self.poll()
            except GatewayError as exc:
                log.info("hand-offs: the service did not answer (%s)", exc)
                self._stop.wait(self.retry_s)
                continue
            except Exception:  # the watcher must not die: a sale never depends on it
                log.exception("hand-offs: unexpected answer")
                self._stop.wait(self.retry_s)
                continue
            if items and not self._stop.is_set():
                self.on_handoffs(items)
