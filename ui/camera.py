"""The camera as a scanner: the capture and decoding loop on its own thread, codes and problems
back to the window by the tasks' one route.

Owns: :class:`Camera` (start, stop, running).  The loop itself (OpenCV capture, the chosen
decoder, repeated-read confirmation) is :class:`cashier.scanning.camera.CameraScanner`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from cashier.i18n import _
from ui.tasks import Tasks

if TYPE_CHECKING:  # numpy and OpenCV load when the camera starts, not with the window
    from cashier.scanning.decoders import Frame


class Camera:
    def __init__(
        self,
        tasks: Tasks,
        on_code: Callable[[str], None],
        on_problem: Callable[[str], None],
        *,
        frames: Callable[[], Iterator[Frame]] | None = None,
    ) -> None:
        self.tasks = tasks
        self.on_code = on_code
        self.on_problem = on_problem
        self.frames = frames
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, setting: str = "auto", source: int | str = 0) -> str:
        """Start scanning; what the status bar says (the decoder used, and why)."""
        from cashier.scanning import CameraScanner, choose_decoder

        chosen = choose_decoder(setting)  # raises a UserFacingError the caller shows
        scanner = CameraScanner(chosen.decoder, source=source, frames=self.frames)
        self._stop = threading.Event()
        stop = self._stop

        def code(text: str) -> None:
            self.tasks.post(self.on_code, text)

        def problem(text: str) -> None:  # ``thread`` is bound below, before it can run
            self.tasks.post(lambda message: self._stopped(thread, message), text)

        thread = threading.Thread(
            target=scanner.run, args=(stop, code, problem), name="camera", daemon=True
        )
        self._thread = thread
        self._thread.start()
        text = _("Camera on ({decoder}): show the QR code.").format(decoder=chosen.decoder.name)
        return text + (" " + chosen.note if chosen.note else "")

    def _stopped(self, thread: threading.Thread, message: str) -> None:
        if self._thread is thread:  # not a camera started again since
            self._thread = None
        self.on_problem(message)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
