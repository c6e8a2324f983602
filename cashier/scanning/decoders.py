"""QR decoders for the till's camera: three backends and the choice between them.

Owns: the :class:`Decoder` protocol (``decode(frame) -> list[str]``), the zxing-cpp, pyzbar and
OpenCV backends, :func:`available_backends` (which of them can be used here, and if not, why and
what to install) and :func:`choose_decoder` (the ``scanner.decoder`` setting → a decoder and a note
for the cashier or admin).

The optional libraries are imported lazily, inside the backends, so the till starts (and the
keyboard-wedge scanner keeps working) when one of them is missing.  ``auto`` prefers zxing-cpp: on
the generated frames of ``bench/qr_decode.py`` it decoded the most frames by far, at a few ms per
1280×720 frame, against tens of ms for pyzbar and OpenCV (run the benchmark for this machine's
figures).  pyzbar misses light-on-dark codes (phones in dark mode), so :class:`ZbarDecoder` also
tries the inverted frame; OpenCV does the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy
from numpy.typing import NDArray

from cashier.errors import UserFacingError
from cashier.i18n import N_, _

log = logging.getLogger(__name__)

Frame = NDArray[numpy.uint8]
"""A camera picture: ``uint8``, grayscale ``(h, w)`` or colour ``(h, w, 3)`` in BGR order."""

AUTO = "auto"
ZXING = "zxing"
ZBAR = "zbar"
OPENCV = "opencv"
SETTINGS = (AUTO, ZXING, ZBAR, OPENCV)
"""The values of the decoder setting; ``auto`` takes the first usable of :data:`PREFERENCE`."""
PREFERENCE = (ZXING, ZBAR, OPENCV)

LABELS = {ZXING: "zxing-cpp", ZBAR: "pyzbar", OPENCV: "OpenCV"}
"""Library names as shown in messages (not translated)."""

_INSTALL_HINTS = {
    ZXING: N_("{error} — install it with: pip install zxing-cpp"),
    ZBAR: N_(
        "{error} — install the zbar library (apt-get install libzbar0) "
        "and the Python package (pip install pyzbar)"
    ),
    OPENCV: N_("{error} — install it with: pip install opencv-python-headless"),
}
_NO_QR_DETECTOR = N_("this OpenCV build has no QR code detector")
_FELL_BACK = N_("{wanted} is not available ({reason}); using {used}.")
_FELL_BACK_TWICE = N_(
    "{wanted} is not available ({reason}) and neither is {second} ({second_reason}); using {used}."
)
_UNKNOWN_SETTING = N_(
    "Unknown QR decoder setting “{setting}”. Choose one of {choices} in the settings."
)
_BACKEND_UNUSABLE = N_(
    "The QR decoder {name} chosen in the settings cannot be used ({reason}). "
    "Fix that, or choose “auto” in the settings."
)
_NO_BACKEND = N_(
    "No QR decoder can be used, so the camera cannot read QR codes ({reasons}). "
    "Install one of them, or scan with the barcode scanner."
)


class DecoderUnavailable(UserFacingError):
    """The decoder setting names a backend that cannot be used here, or none can."""

    code = "decoder_unavailable"


@runtime_checkable
class Decoder(Protocol):
    """Reads the QR codes in one frame."""

    name: str

    def decode(self, frame: Frame) -> list[str]:
        """The texts of the codes found in ``frame`` (maybe none); never raises for a bad frame."""
        ...


def _gray(frame: Any) -> Frame | None:
    """``frame`` as a contiguous 2-D ``uint8`` array, or None if it is not a usable picture.

    Colour frames (BGR, or BGRA) are converted with the usual luma weights, in numpy, so that this
    does not need OpenCV.
    """
    if not isinstance(frame, numpy.ndarray) or frame.dtype != numpy.uint8 or frame.size == 0:
        return None
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    elif frame.ndim == 3 and frame.shape[2] in (3, 4):
        b = frame[:, :, 0].astype(numpy.uint16)
        g = frame[:, :, 1].astype(numpy.uint16)
        r = frame[:, :, 2].astype(numpy.uint16)
        frame = ((29 * b + 150 * g + 77 * r + 128) >> 8).astype(numpy.uint8)
    if frame.ndim != 2 or min(frame.shape) < 8:
        return None
    return numpy.ascontiguousarray(frame)


def _invert(frame: Frame) -> Frame:
    return numpy.subtract(numpy.uint8(255), frame, dtype=numpy.uint8)


def _unique(texts: list[str]) -> list[str]:
    return [t for i, t in enumerate(texts) if t and t not in texts[:i]]


class ZxingDecoder:
    """zxing-cpp: QR codes (all variants) and DataMatrix, light-on-dark included, any rotation."""

    name = ZXING

    def __init__(self) -> None:
        import zxingcpp  # optional library, imported only when this backend is used

        self._read = zxingcpp.read_barcodes
        # from a string: works with zxing-cpp 2 and 3 (3 deprecates ``QRCode | DataMatrix``)
        self._formats = zxingcpp.barcode_formats_from_str("QRCode,DataMatrix")

    def decode(self, frame: Frame) -> list[str]:
        gray = _gray(frame)
        if gray is None:
            return []
        try:
            found = self._read(gray, formats=self._formats)
        except (ValueError, TypeError, RuntimeError) as exc:
            log.debug("zxing-cpp could not read a frame: %s", exc)
            return []
        return _unique([str(barcode.text) for barcode in found])


class ZbarDecoder:
    """pyzbar (the zbar C library): QR codes; with ``invert`` also light-on-dark ones.

    zbar does not find white-on-black codes, which is what phones in dark mode show, so by default
    a frame in which nothing was found is tried again inverted (this doubles the time of an empty
    frame).  ``invert=False`` is for the benchmark.
    """

    name = ZBAR

    def __init__(self, *, invert: bool = True) -> None:
        from pyzbar import pyzbar  # optional library (and the libzbar0 C library)

        self.invert = invert
        self._decode: Callable[..., Any] = pyzbar.decode
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]
        self._errors: tuple[type[Exception], ...] = (
            pyzbar.PyZbarError,
            ValueError,
            TypeError,
        )

    def decode(self, frame: Frame) -> list[str]:
        gray = _gray(frame)
        if gray is None:
            return []
        texts = self._read(gray)
        if not texts and self.invert:
            texts = self._read(_invert(gray))
        return _unique(texts)

    def _read(self, gray: Frame) -> list[str]:
        try:
            found = self._decode(gray, symbols=self._symbols)
        except self._errors as exc:
            log.debug("pyzbar could not read a frame: %s", exc)
            return []
        return [bytes(symbol.data).decode("utf-8", errors="replace") for symbol in found]


class OpenCvDecoder:
    """OpenCV's ``QRCodeDetector``: one QR code per frame; the inverted frame is tried too."""

    name = OPENCV

    def __init__(self, *, invert: bool = True) -> None:
        import cv2  # optional library, imported only when this backend is used

        self.invert = invert
        self._detector: Any = cv2.QRCodeDetector()
        self._errors: tuple[type[Exception], ...] = (cv2.error, ValueError, TypeError)

    def decode(self, frame: Frame) -> list[str]:
        gray = _gray(frame)
        if gray is None:
            return []
        texts = self._read(gray)
        if not texts and self.invert:
            texts = self._read(_invert(gray))
        return texts

    def _read(self, gray: Frame) -> list[str]:
        try:
            text, _points, _straight = self._detector.detectAndDecode(gray)
        except self._errors as exc:
            log.debug("OpenCV could not read a frame: %s", exc)
            return []
        return [str(text)] if text else []


_FACTORIES: dict[str, Callable[[], Decoder]] = {
    ZXING: ZxingDecoder,
    ZBAR: ZbarDecoder,
    OPENCV: OpenCvDecoder,
}


def _problem(name: str) -> str | None:
    """None if backend ``name`` can be imported here, else the translated reason."""
    try:
        if name == ZXING:
            import zxingcpp  # noqa: F401
        elif name == ZBAR:
            from pyzbar import pyzbar  # noqa: F401
        else:
            import cv2

            if not hasattr(cv2, "QRCodeDetector"):
                return _(_INSTALL_HINTS[OPENCV]).format(error=_(_NO_QR_DETECTOR))
    except (ImportError, OSError) as exc:  # pyzbar: ImportError when libzbar0 is missing
        return _(_INSTALL_HINTS[name]).format(error=str(exc) or type(exc).__name__)
    return None


def available_backends() -> dict[str, str | None]:
    """Each backend name → None when it can be used, else why not and what to install.

    The reasons are translated; they name the library's own error (e.g. ``No module named
    'zxingcpp'`` or ``Unable to find zbar shared library``) and the command that fixes it.
    """
    return {name: _problem(name) for name in PREFERENCE}


@dataclass(frozen=True)
class Chosen:
    """The decoder to use and, when it is not the one that was asked for, a note saying why."""

    decoder: Decoder
    note: str | None


def choose_decoder(setting: str = AUTO) -> Chosen:
    """The decoder for the setting ``auto``, ``zxing``, ``zbar`` or ``opencv``.

    ``auto`` takes zxing-cpp, else pyzbar, else OpenCV; when it falls back, :attr:`Chosen.note`
    says (translated) which one is used and why the better ones are not.  An explicit setting gets
    exactly that backend (note None).

    Raises:
        DecoderUnavailable: (a :class:`~cashier.errors.UserFacingError`) for an unknown setting,
            an explicit backend that cannot be used here, or ``auto`` when none can; the message
            says what happened and what to do.
    """
    key = setting.strip().lower()
    if key not in SETTINGS:
        raise DecoderUnavailable(
            _(_UNKNOWN_SETTING).format(setting=setting, choices=", ".join(SETTINGS)),
            code="decoder_setting_invalid",
        )
    problems = available_backends()
    if key != AUTO:
        reason = problems[key]
        if reason is not None:
            raise DecoderUnavailable(_(_BACKEND_UNUSABLE).format(name=LABELS[key], reason=reason))
        return Chosen(_FACTORIES[key](), None)
    usable = [name for name in PREFERENCE if problems[name] is None]
    if not usable:
        reasons = "; ".join(f"{LABELS[name]}: {problems[name]}" for name in PREFERENCE)
        raise DecoderUnavailable(_(_NO_BACKEND).format(reasons=reasons))
    used = usable[0]
    missing = PREFERENCE[: PREFERENCE.index(used)]
    note: str | None = None
    if len(missing) == 1:
        note = _(_FELL_BACK).format(
            wanted=LABELS[missing[0]], reason=problems[missing[0]], used=LABELS[used]
        )
    elif len(missing) == 2:
        note = _(_FELL_BACK_TWICE).format(
            wanted=LABELS[missing[0]],
            reason=problems[missing[0]],
            second=LABELS[missing[1]],
            second_reason=problems[missing[1]],
            used=LABELS[used],
        )
    if note is not None:
        log.warning("%s", note)
    return Chosen(_FACTORIES[used](), note)
