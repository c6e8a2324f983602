"""Tests of cashier/scanning/: QR decoders, read confirmation, scanner bursts, the camera loop."""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import ClassVar

import cv2
import numpy
import pytest
import qrcode
from numpy.typing import NDArray

from cashier import i18n
from cashier.errors import UserFacingError
from cashier.scanning import (
    CameraScanner,
    Decoder,
    Entry,
    KeyBurst,
    OpenCvDecoder,
    ReadConfirmer,
    ZbarDecoder,
    ZxingDecoder,
    available_backends,
    choose_decoder,
)
from cashier.scanning import decoders as decoders_module

WALLET = "LW1." + "eyJjIjoiY18xMjMiLCJlIjoxNzk1NDI0NDAwfQ" + "x" * 16 + "-_Abc" + "Q" * 31
SLIP = "LS1.6f1c2a7e-3b9d-4c55-8e21-0a9b7c3d5e4f"
ZXING_MISSING = "No module named 'zxingcpp' — install it with: pip install zxing-cpp"

Image = NDArray[numpy.uint8]


def qr_frame(
    payload: str = WALLET, *, invert: bool = False, at: tuple[int, int] = (120, 300)
) -> Image:
    """A 1280×720 grayscale frame with the code of ``payload`` (6 px per module) at ``at``."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(payload)
    qr.make(fit=True)
    modules = numpy.array(qr.get_matrix(), dtype=bool)
    code = numpy.where(modules, 20, 235).astype(numpy.uint8)
    if invert:
        code = (255 - code).astype(numpy.uint8)
    code = numpy.kron(code, numpy.ones((6, 6), dtype=numpy.uint8))
    frame = numpy.full((720, 1280), 140, dtype=numpy.uint8)
    y, x = at
    frame[y : y + code.shape[0], x : x + code.shape[1]] = code
    return frame


BACKENDS: list[Callable[[], Decoder]] = [ZxingDecoder, ZbarDecoder, OpenCvDecoder]


@pytest.fixture
def english() -> Iterator[None]:
    before = i18n.get_language()
    i18n.set_language("en")
    yield
    i18n.set_language(before)


@pytest.fixture
def russian() -> Iterator[None]:
    before = i18n.get_language()
    i18n.set_language("ru")
    yield
    i18n.set_language(before)


def zxing_missing() -> dict[str, str | None]:
    return {"zxing": ZXING_MISSING, "zbar": None, "opencv": None}


# --- decoders --------------------------------------------------------------------------------
def test_every_backend_is_usable_here() -> None:
    # all three are project dependencies: a missing one is a broken install, not a skip
    assert available_backends() == {"zxing": None, "zbar": None, "opencv": None}


@pytest.mark.parametrize("make", BACKENDS)
@pytest.mark.parametrize("payload", [WALLET, SLIP])
def test_each_backend_decodes_a_clean_frame(make: Callable[[], Decoder], payload: str) -> None:
    decoder = make()
    assert isinstance(decoder, Decoder)
    assert decoder.decode(qr_frame(payload)) == [payload]


@pytest.mark.parametrize("make", BACKENDS)
def test_each_backend_decodes_a_bgr_frame(make: Callable[[], Decoder]) -> None:
    frame = cv2.cvtColor(qr_frame(SLIP), cv2.COLOR_GRAY2BGR)
    assert make().decode(frame) == [SLIP]


@pytest.mark.parametrize("make", BACKENDS)
def test_each_backend_finds_nothing_in_an_empty_frame(make: Callable[[], Decoder]) -> None:
    assert make().decode(numpy.full((720, 1280), 140, dtype=numpy.uint8)) == []


@pytest.mark.parametrize("make", BACKENDS)
@pytest.mark.parametrize(
    "frame",
    [
        numpy.zeros((0, 0), dtype=numpy.uint8),
        numpy.zeros((3, 3), dtype=numpy.uint8),
        numpy.zeros((720, 1280), dtype=numpy.float32),
        numpy.zeros(1000, dtype=numpy.uint8),
        numpy.zeros((10, 10, 10, 3), dtype=numpy.uint8),
        numpy.zeros((100, 100, 2), dtype=numpy.uint8),
        None,
        "not a picture",
    ],
    ids=["empty", "tiny", "float", "1d", "4d", "2-channel", "none", "str"],
)
def test_a_bad_frame_gives_no_codes_and_no_exception(
    make: Callable[[], Decoder], frame: object
) -> None:
    assert make().decode(frame) == []  # type: ignore[arg-type]


def test_zbar_reads_a_dark_mode_code_only_with_inversion() -> None:
    inverted = qr_frame(WALLET, invert=True)
    assert ZbarDecoder(invert=False).decode(inverted) == []
    assert ZbarDecoder().decode(inverted) == [WALLET]
    assert ZbarDecoder().invert is True


@pytest.mark.parametrize("make", [ZxingDecoder, OpenCvDecoder])
def test_zxing_and_opencv_read_a_dark_mode_code(make: Callable[[], Decoder]) -> None:
    assert make().decode(qr_frame(SLIP, invert=True)) == [SLIP]


def test_two_codes_in_one_frame() -> None:
    frame = qr_frame(WALLET, at=(100, 100))
    frame[100:400, 800:1100] = qr_frame(SLIP, at=(0, 0))[:300, :300]
    assert sorted(ZxingDecoder().decode(frame)) == sorted([WALLET, SLIP])


# --- choose_decoder --------------------------------------------------------------------------
def test_auto_picks_zxing() -> None:
    chosen = choose_decoder()
    assert isinstance(chosen.decoder, ZxingDecoder)
    assert chosen.decoder.name == "zxing"
    assert chosen.note is None


@pytest.mark.parametrize(
    ("setting", "kind"),
    [
        ("zxing", ZxingDecoder),
        ("zbar", ZbarDecoder),
        ("opencv", OpenCvDecoder),
        (" ZBAR ", ZbarDecoder),
    ],
)
def test_explicit_setting_gets_that_backend(setting: str, kind: type) -> None:
    chosen = choose_decoder(setting)
    assert isinstance(chosen.decoder, kind)
    assert chosen.note is None


@pytest.mark.usefixtures("english")
def test_auto_falls_back_to_pyzbar_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoders_module, "available_backends", zxing_missing)
    chosen = choose_decoder("auto")
    assert isinstance(chosen.decoder, ZbarDecoder)
    assert chosen.note == f"zxing-cpp is not available ({ZXING_MISSING}); using pyzbar."


@pytest.mark.usefixtures("english")
def test_auto_falls_back_twice_to_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    def only_opencv() -> dict[str, str | None]:
        return {"zxing": ZXING_MISSING, "zbar": "no zbar", "opencv": None}

    monkeypatch.setattr(decoders_module, "available_backends", only_opencv)
    chosen = choose_decoder()
    assert isinstance(chosen.decoder, OpenCvDecoder)
    assert chosen.note is not None
    assert "pyzbar (no zbar)" in chosen.note
    assert chosen.note.endswith("using OpenCV.")


@pytest.mark.usefixtures("russian")
def test_fallback_note_is_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoders_module, "available_backends", zxing_missing)
    note = choose_decoder().note
    assert note is not None
    assert note.startswith("zxing-cpp недоступен (")
    assert note.endswith("); используется pyzbar.")


@pytest.mark.usefixtures("english")
def test_a_missing_library_is_reported_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "zxingcpp", None)  # makes ``import zxingcpp`` fail
    reason = available_backends()["zxing"]
    assert reason is not None
    assert "zxingcpp" in reason
    assert reason.endswith("install it with: pip install zxing-cpp")
    chosen = choose_decoder("auto")
    assert isinstance(chosen.decoder, ZbarDecoder)
    assert chosen.note is not None
    assert chosen.note.startswith("zxing-cpp is not available (")


@pytest.mark.usefixtures("english")
def test_an_explicit_unusable_backend_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoders_module, "available_backends", zxing_missing)
    with pytest.raises(UserFacingError) as caught:
        choose_decoder("zxing")
    assert caught.value.code == "decoder_unavailable"
    assert caught.value.message == (
        f"The QR decoder zxing-cpp chosen in the settings cannot be used ({ZXING_MISSING}). "
        "Fix that, or choose “auto” in the settings."
    )


@pytest.mark.usefixtures("english")
def test_no_backend_at_all_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def none_usable() -> dict[str, str | None]:
        return {"zxing": "a", "zbar": "b", "opencv": "c"}

    monkeypatch.setattr(decoders_module, "available_backends", none_usable)
    with pytest.raises(UserFacingError) as caught:
        choose_decoder()
    assert "(zxing-cpp: a; pyzbar: b; OpenCV: c)" in caught.value.message
    assert caught.value.message.endswith("scan with the barcode scanner.")


@pytest.mark.usefixtures("english")
def test_an_unknown_setting_raises() -> None:
    with pytest.raises(UserFacingError) as caught:
        choose_decoder("quagga")
    assert caught.value.code == "decoder_setting_invalid"
    assert "“quagga”" in caught.value.message
    assert "auto, zxing, zbar, opencv" in caught.value.message


# --- ReadConfirmer ---------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_code_is_accepted_on_the_second_read() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(clock=clock)
    assert confirm.feed(["A"]) is None
    clock.now += 0.1
    assert confirm.feed(["A"]) == "A"


def test_repeats_are_counted_per_frame() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(repeats=3, clock=clock)
    assert confirm.feed(["A", "A"]) is None  # the same code twice in one frame is one read
    clock.now += 0.1
    assert confirm.feed(["A"]) is None
    clock.now += 0.1
    assert confirm.feed(["A"]) == "A"


def test_reads_further_apart_than_the_window_do_not_count() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(repeats=2, window_s=1.0, clock=clock)
    assert confirm.feed(["A"]) is None
    clock.now += 1.5
    assert confirm.feed(["A"]) is None  # the first read expired; this is read 1 again
    clock.now += 0.9
    assert confirm.feed(["A"]) == "A"


def test_frames_without_the_code_do_not_break_the_count() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(clock=clock)
    assert confirm.feed(["A"]) is None
    clock.now += 0.2
    assert confirm.feed([]) is None
    clock.now += 0.2
    assert confirm.feed(["A"]) == "A"


def test_a_held_code_is_accepted_once() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(repeats=2, window_s=1.0, cooldown_s=3.0, clock=clock)
    accepted = []
    for _ in range(250):  # 10 s in front of the camera at 25 frames a second
        accepted.append(confirm.feed(["A"]))
        clock.now += 0.04
    assert [code for code in accepted if code] == ["A"]


def test_after_the_cooldown_the_code_is_accepted_again() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(repeats=2, window_s=1.0, cooldown_s=3.0, clock=clock)
    confirm.feed(["A"])
    clock.now += 0.1
    assert confirm.feed(["A"]) == "A"
    clock.now += 1.0
    assert confirm.feed(["A"]) is None  # still cooling down (and the cooldown restarts)
    clock.now += 2.9
    assert confirm.feed(["A"]) is None
    clock.now += 3.0  # out of sight for the whole cooldown
    assert confirm.feed(["A"]) is None  # a fresh first read
    clock.now += 0.1
    assert confirm.feed(["A"]) == "A"


def test_the_cooldown_is_per_code() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(clock=clock)
    confirm.feed(["A"])
    clock.now += 0.1
    assert confirm.feed(["A", "B"]) == "A"
    clock.now += 0.1
    assert confirm.feed(["A", "B"]) == "B"
    clock.now += 0.1
    assert confirm.feed(["A", "B"]) is None


def test_one_code_per_frame_the_other_later() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(clock=clock)
    confirm.feed(["A", "B"])
    clock.now += 0.1
    assert confirm.feed(["A", "B"]) == "A"
    clock.now += 0.1
    assert confirm.feed(["B"]) == "B"


def test_repeats_one_accepts_at_once_and_reset_forgets() -> None:
    clock = FakeClock()
    confirm = ReadConfirmer(repeats=1, clock=clock)
    assert confirm.feed(["", "A"]) == "A"
    assert confirm.feed(["A"]) is None
    confirm.reset()
    assert confirm.feed(["A"]) == "A"


def test_bad_confirmer_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats"):
        ReadConfirmer(repeats=0)
    with pytest.raises(ValueError, match="negative"):
        ReadConfirmer(window_s=-1)


# --- KeyBurst --------------------------------------------------------------------------------
def typed(burst: KeyBurst, text: str, *, every: float, start: float = 10.0) -> float:
    t = start
    for char in text:
        burst.key(char, t)
        t += every
    return t


def test_a_scanner_burst_is_scanned() -> None:
    burst = KeyBurst()
    end = typed(burst, WALLET, every=0.004)
    assert burst.finish(end) == Entry(WALLET, scanned=True)
    assert burst.text == ""  # finished entries reset


def test_human_typing_is_not_scanned() -> None:
    burst = KeyBurst()
    end = typed(burst, "89001234567", every=0.09)
    assert burst.finish(end + 0.3) == Entry("89001234567", scanned=False)


def test_a_short_fast_entry_is_not_scanned() -> None:
    burst = KeyBurst(min_length=6)
    end = typed(burst, "12345", every=0.003)
    assert burst.finish(end) == Entry("12345", scanned=False)


def test_a_burst_with_a_few_hiccups_is_still_scanned() -> None:
    burst = KeyBurst()
    t = 0.0
    for i, char in enumerate(SLIP):
        burst.key(char, t)
        t += 0.12 if i % 10 == 9 else 0.005  # every tenth key held back by the OS
    assert burst.finish(t).scanned


def test_fast_typist_with_slow_keys_is_not_scanned() -> None:
    burst = KeyBurst()
    t = 0.0
    for i, char in enumerate("LW1.abcdefgh"):
        burst.key(char, t)
        t += 0.02 if i % 2 else 0.08  # half the keys fast: a human rolling two fingers
    assert not burst.finish(t).scanned


def test_reset_forgets_what_was_typed() -> None:
    burst = KeyBurst()
    typed(burst, "garbage", every=0.003)
    burst.reset()
    end = typed(burst, "123", every=0.003)
    assert burst.finish(end) == Entry("123", scanned=False)


def test_enter_alone_is_an_empty_entry() -> None:
    assert KeyBurst().finish(1.0) == Entry("", scanned=False)


# --- CameraScanner ---------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.codes: list[str] = []
        self.errors: list[str] = []

    def code(self, text: str) -> None:
        self.codes.append(text)

    def error(self, text: str) -> None:
        self.errors.append(text)


def test_camera_loop_delivers_a_held_code_once() -> None:
    stop = threading.Event()
    frames = [qr_frame(WALLET)] * 6 + [qr_frame(SLIP, invert=True)] * 2
    bgr = [cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) for frame in frames]

    def source() -> Iterator[Image]:
        yield from bgr
        stop.set()

    seen = Recorder()
    CameraScanner(ZxingDecoder(), frames=source).run(stop, seen.code, seen.error)
    assert seen.codes == [WALLET, SLIP]
    assert seen.errors == []


def test_camera_loop_runs_until_stopped() -> None:
    stop = threading.Event()
    seen = Recorder()

    def on_code(text: str) -> None:
        seen.code(text)
        stop.set()

    frame = qr_frame(SLIP)
    scanner = CameraScanner(
        ZbarDecoder(), ReadConfirmer(repeats=3), frames=lambda: itertools.repeat(frame)
    )
    scanner.run(stop, on_code, seen.error)
    assert seen.codes == [SLIP]
    assert seen.errors == []


@pytest.mark.usefixtures("english")
def test_frames_that_run_out_are_a_stopped_camera() -> None:
    frame = qr_frame(WALLET)
    seen = Recorder()
    scanner = CameraScanner(ZxingDecoder(), frames=lambda: iter([frame] * 3), source=2)
    scanner.run(threading.Event(), seen.code, seen.error)
    assert seen.codes == [WALLET]
    assert seen.errors == [
        "The camera (source 2) stopped delivering pictures: check its cable and start scanning "
        "again, or choose another camera in the settings."
    ]


@pytest.mark.usefixtures("english")
def test_a_camera_that_cannot_be_opened_reports_and_returns() -> None:
    seen = Recorder()
    source = "/nonexistent/camera-0.mjpeg"
    CameraScanner(ZxingDecoder(), source=source).run(threading.Event(), seen.code, seen.error)
    assert seen.codes == []
    assert seen.errors == [
        f"No camera could be opened (source {source}): connect a camera or choose another in the "
        "settings."
    ]


class FakeCapture:
    """A cv2.VideoCapture that opens, gives ``good`` frames, then none."""

    instances: ClassVar[list[FakeCapture]] = []

    def __init__(self, source: int | str, good: int = 3) -> None:
        self.source = source
        self.left = good
        self.released = False
        FakeCapture.instances.append(self)

    def isOpened(self) -> bool:  # OpenCV's name
        return True

    def read(self) -> tuple[bool, Image | None]:
        if self.left > 0:
            self.left -= 1
            return True, cv2.cvtColor(qr_frame(SLIP), cv2.COLOR_GRAY2BGR)
        return False, None

    def release(self) -> None:
        self.released = True


@pytest.mark.usefixtures("english")
def test_a_camera_that_stops_delivering_frames_reports_and_releases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    FakeCapture.instances.clear()
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    seen = Recorder()
    CameraScanner(ZxingDecoder(), source=0, stall_s=0.1).run(
        threading.Event(), seen.code, seen.error
    )
    assert seen.codes == [SLIP]
    assert len(seen.errors) == 1
    assert seen.errors[0].startswith("The camera (source 0) stopped delivering pictures")
    assert [capture.released for capture in FakeCapture.instances] == [True]


@pytest.mark.usefixtures("english")
def test_a_failing_frame_source_reports_and_returns() -> None:
    def broken() -> Iterator[Image]:
        yield qr_frame(WALLET)
        raise OSError("device unplugged")

    seen = Recorder()
    CameraScanner(ZxingDecoder(), frames=broken).run(threading.Event(), seen.code, seen.error)
    assert seen.codes == []
    assert len(seen.errors) == 1
    assert "(OSError: device unplugged)" in seen.errors[0]
    assert seen.errors[0].startswith("Scanning with the camera stopped because of an unexpected")


def test_a_raising_callback_does_not_escape_run() -> None:
    def on_code(text: str) -> None:
        raise RuntimeError("the window is gone")

    def on_error(text: str) -> None:
        raise RuntimeError("and so is this")

    frame = qr_frame(WALLET)
    scanner = CameraScanner(ZxingDecoder(), frames=lambda: itertools.repeat(frame))
    scanner.run(threading.Event(), on_code, on_error)  # returns, raises nothing


def test_a_stop_set_before_run_reads_nothing() -> None:
    stop = threading.Event()
    stop.set()
    read: list[int] = []

    def source() -> Iterator[Image]:
        read.append(1)
        yield qr_frame(WALLET)

    seen = Recorder()
    CameraScanner(ZxingDecoder(), frames=source).run(stop, seen.code, seen.error)
    assert (read, seen.codes, seen.errors) == ([], [], [])
