"""Work off the GUI thread, and the one route its results take back.

Owns: :class:`Tasks`.  Everything that waits on the network, the database, a printer or a camera
runs in a worker: the till's own lane (one thread, so the sale's steps keep their order and the
``Till`` is never used from two threads at once) or the ``io`` lane (printing and other slow jobs
that do not touch the till).  A finished job comes back through one queued signal and its callback
runs on the GUI thread.  A busy indicator is asked for only when work has been running for 600 ms.
Errors never pop up dialogs: a :class:`~cashier.errors.UserFacingError` goes to the job's
``on_error`` (by default the status bar) with its message; anything else is logged and reported as
"something went wrong" with what to do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from cashier.errors import UserFacingError
from cashier.i18n import _

log = logging.getLogger(__name__)

BUSY_AFTER_MS = 600
Callback = Callable[[Any], None]
ErrorCallback = Callable[[str], None]


class Tasks(QObject):
    """Runs jobs on worker threads; their results return by one queued signal."""

    _finished = Signal(object)
    busy_changed = Signal(bool)
    """True when work has been running for ``busy_after_ms``; False when all work is done."""
    failed = Signal(str)
    """A job without its own ``on_error`` failed: the message for the status bar."""

    def __init__(self, parent: QObject | None = None, *, busy_after_ms: int = BUSY_AFTER_MS):
        super().__init__(parent)
        self._lanes = {
            "till": ThreadPoolExecutor(1, thread_name_prefix="till"),
            "io": ThreadPoolExecutor(2, thread_name_prefix="io"),
        }
        self._running = 0
        self._lock = threading.Lock()
        self._busy = False
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(busy_after_ms)
        self._timer.timeout.connect(self._show_busy)
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> int:
        return self._running

    @property
    def busy(self) -> bool:
        return self._busy

    def run(
        self,
        job: Callable[[], Any],
        on_done: Callback | None = None,
        on_error: ErrorCallback | None = None,
        *,
        lane: str = "till",
        quiet: bool = False,
        owner: QObject | None = None,
    ) -> Future[Any] | None:
        """Run ``job`` on ``lane``; call ``on_done(result)`` or ``on_error(message)`` on the GUI
        thread.  ``quiet`` jobs (background refreshes) do not raise the busy indicator.  When
        ``owner`` (a dialog, say) is gone by then, the callbacks are dropped."""
        if self._closed:
            return None
        if not quiet:
            self._running += 1
            if self._running == 1:
                self._timer.start()
        if owner is not None:
            on_done, on_error = _while_alive(owner, on_done), _while_alive(owner, on_error)
        future = self._lanes[lane].submit(job)
        future.add_done_callback(lambda f: self._finished.emit((f, on_done, on_error, quiet)))
        return future

    def post(self, callback: Callback, value: Any) -> None:
        """From any thread: call ``callback(value)`` on the GUI thread (the same route as jobs'
        results; used by the camera and the sync loop)."""
        if self._closed:
            return
        future: Future[Any] = Future()
        future.set_result(value)
        self._finished.emit((future, callback, None, True))

    def _deliver(
        self, payload: tuple[Future[Any], Callback | None, ErrorCallback | None, bool]
    ) -> None:
        future, on_done, on_error, quiet = payload
        if not quiet:
            self._running -= 1
            if self._running == 0:
                self._timer.stop()
                if self._busy:
                    self._busy = False
                    self.busy_changed.emit(False)
        if self._closed:
            return
        exc = future.exception()
        if exc is None:
            if on_done is not None:
                on_done(future.result())
            return
        if isinstance(exc, UserFacingError):
            message = exc.message
        else:
            log.error("a background job failed", exc_info=exc)
            message = _(
                "Something went wrong ({error}). Try again; if it repeats, call the administrator."
            ).format(error=type(exc).__name__)
        if on_error is not None:
            on_error(message)
        else:
            self.failed.emit(message)

    def _show_busy(self) -> None:
        if self._running and not self._busy:
            self._busy = True
            self.busy_changed.emit(True)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop taking jobs and wait up to ``timeout`` for the running ones (their callbacks are
        dropped); whether every worker ended (a stuck print job must not hang the close)."""
        self._closed = True
        self._timer.stop()
        deadline = time.monotonic() + timeout
        for lane in self._lanes.values():
            lane.shutdown(wait=False, cancel_futures=True)
        workers = [t for lane in self._lanes.values() for t in list(getattr(lane, "_threads", ()))]
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.is_alive() for worker in workers)


def _while_alive(owner: QObject, callback: Callable[[Any], None] | None) -> Any:
    if callback is None:
        return None

    def call(value: Any) -> None:
        if shiboken6.isValid(owner):
            callback(value)

    return call
