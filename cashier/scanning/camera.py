"""The camera loop: frames from a camera, decoded, confirmed, handed over as codes.

Owns: :class:`CameraScanner`.  No Qt: the window runs :meth:`CameraScanner.run` on a worker thread
and passes callbacks that post the results to the UI thread; it stops the loop with a
:class:`threading.Event`.  Every failure ends the loop with one translated message to
``on_error`` saying what happened and what to do; nothing is raised out of :meth:`run`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy

from cashier.i18n import N_, _
from cashier.scanning.confirm import ReadConfirmer
from cashier.scanning.decoders import Decoder, Frame

log = logging.getLogger(__name__)

NO_OPENCV = N_(
    "The camera cannot be used because OpenCV is missing ({error}). "
    "Install it (pip install opencv-python-headless), or scan with the barcode scanner."
)
NO_CAMERA = N_(
    "No camera could be opened (source {source}): connect a camera or choose another in the "
    "settings."
)
CAMERA_STOPPED = N_(
    "The camera (source {source}) stopped delivering pictures: check its cable and start scanning "
    "again, or choose another camera in the settings."
)
CAMERA_FAILED = N_(
    "Scanning with the camera stopped because of an unexpected error ({error}). Start scanning "
    "again; if it happens again, scan with the barcode scanner."
)

STALL_S = 2.0
"""Seconds without a picture from an opened camera after which it counts as stopped."""
_RETRY_S = 0.02


class CameraScanner:
    """Reads QR codes from a camera until told to stop.

    ``frames`` replaces the camera: a callable returning an iterator of frames (used by the tests
    and the benchmark).  When that iterator ends before ``stop`` is set, it is treated like a camera
    that stopped delivering pictures.
    """

    def __init__(
        self,
        decoder: Decoder,
        confirmer: ReadConfirmer | None = None,
        *,
        source: int | str = 0,
        frames: Callable[[], Iterator[Frame]] | None = None,
        stall_s: float = STALL_S,
    ) -> None:
        self.decoder = decoder
        self.confirmer = confirmer if confirmer is not None else ReadConfirmer()
        self.source = source
        self.stall_s = stall_s
        self._frames = frames

    def run(
        self,
        stop: threading.Event,
        on_code: Callable[[str], None],
        on_error: Callable[[str], None],
    ) -> None:
        """Decode frames until ``stop`` is set; ``on_code`` gets each accepted code.

        Opens ``cv2.VideoCapture(source)`` unless a ``frames`` factory was given; each frame is
        converted to grayscale, decoded, and fed to the confirmer.  A camera that cannot be opened,
        that stops delivering pictures, or any other failure (a callback raising included) ends the
        loop with one call of ``on_error`` with a translated message.  The capture is released in
        every case.  Never raises.
        """
        capture: Any = None
        try:
            cv2 = _opencv()
            if self._frames is not None:
                frames = iter(self._frames())
            elif isinstance(cv2, ImportError):
                _report(on_error, _(NO_OPENCV).format(error=cv2))
                return
            else:
                capture = cv2.VideoCapture(self.source)
                if not capture.isOpened():
                    _report(on_error, _(NO_CAMERA).format(source=self.source))
                    return
                frames = self._capture_frames(capture, stop)
            to_gray = _numpy_gray if isinstance(cv2, ImportError) else _opencv_gray(cv2)
            while not stop.is_set():
                frame = next(frames, None)
                if frame is None:
                    if not stop.is_set():
                        _report(on_error, _(CAMERA_STOPPED).format(source=self.source))
                    return
                code = self.confirmer.feed(self.decoder.decode(to_gray(frame)))
                if code is not None and not stop.is_set():
                    on_code(code)
        except Exception as exc:
            log.exception("the camera loop failed")
            _report(on_error, _(CAMERA_FAILED).format(error=f"{type(exc).__name__}: {exc}"))
        finally:
            if capture is not None:
                try:
                    capture.release()
                except Exception:
                    log.exception("the camera could not be released")

    def _capture_frames(self, capture: Any, stop: threading.Event) -> Iterator[Frame]:
        """The camera's frames; ends when it delivered none for ``stall_s`` seconds."""
        last = time.monotonic()
        while not stop.is_set():
            ok, frame = capture.read()
            if ok and frame is not None and frame.size:
                last = time.monotonic()
                yield frame
            elif time.monotonic() - last > self.stall_s:
                log.warning("camera %s delivered no picture for %.1f s", self.source, self.stall_s)
                return
            else:
                stop.wait(_RETRY_S)


def _report(on_error: Callable[[str], None], message: str) -> None:
    try:
        on_error(message)
    except Exception:
        log.exception("on_error failed for: %s", message)


def _opencv() -> Any:
    """The cv2 module, or the ImportError that says why it is missing."""
    try:
        import cv2
    except ImportError as exc:
        return exc
    return cv2


def _opencv_gray(cv2: Any) -> Callable[[Frame], Frame]:
    def to_gray(frame: Frame) -> Frame:
        if frame.ndim == 3 and frame.shape[2] == 3:
            return numpy.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=numpy.uint8)
        if frame.ndim == 3 and frame.shape[2] == 4:
            return numpy.asarray(cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY), dtype=numpy.uint8)
        return frame

    return to_gray


def _numpy_gray(frame: Frame) -> Frame:
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        weights = numpy.array([0.114, 0.587, 0.299])
        return numpy.asarray(frame[:, :, :3] @ weights, dtype=numpy.uint8)
    return frame
