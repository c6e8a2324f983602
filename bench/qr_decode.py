"""Benchmark of the till's QR decoders: which reads the most camera frames, and how fast.

What it measures: for each decoder of ``cashier.scanning`` — zxing-cpp; pyzbar without and with
the inverted retry; OpenCV's ``QRCodeDetector`` (with its inverted retry) — the share of frames
whose code it decoded *correctly* (a read of other text counts as a misread, not a success) and
the wall time of one ``decode(frame)`` call, median and p95 in milliseconds.

The frames are generated from ``--seed`` (the same seed gives the same frames), ``--frames`` per
variant, all 1280×720 grayscale ``uint8``:

* a background: a random gradient, a few random grey rectangles (clutter) and mild sensor noise;
* one QR code (error correction M, quiet zone of 4 modules, dark on light) placed at a random
  position, its side 160–420 px (a phone held 15–40 cm from a 720p webcam), holding either a
  wallet token (``LW1.`` + 90 base64url characters) or a slip code (``LS1.`` + a UUID);
* seven variants of that: ``clean``; ``blurred`` (Gaussian, sigma 0.35–0.6 of a module: out of
  focus); ``noisy`` (Gaussian noise, sigma 25–40 grey levels: a dim room); ``rotated`` (any angle);
  ``skewed`` (a random perspective: the phone tilted, corners moved by up to 18 % of the side);
  ``low-contrast`` (dark and light modules 35–60 grey levels apart: a dimmed screen, glare);
  ``inverted`` (light modules on a dark screen: a phone in dark mode).

Every decoder is warmed up on one frame first.  Then a short end-to-end check: the clean and
inverted frames, converted to BGR and each shown three times in a row, go through
``CameraScanner`` with the ``auto`` decoder and a ``ReadConfirmer``; it prints how many codes were
accepted (one per frame is expected) and the time per frame.  Nothing is asserted.

Run: ``.venv/bin/python bench/qr_decode.py [--frames N] [--seed S]``
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy
import qrcode
from figures import percentile  # bench/figures.py, beside this script
from numpy.typing import NDArray

from cashier.scanning import (
    CameraScanner,
    Decoder,
    OpenCvDecoder,
    ReadConfirmer,
    ZbarDecoder,
    ZxingDecoder,
    available_backends,
    choose_decoder,
)

SEED = 20261124
WIDTH, HEIGHT = 1280, 720
VARIANTS = ("clean", "blurred", "noisy", "rotated", "skewed", "low-contrast", "inverted")
Image = NDArray[numpy.uint8]


@dataclass(frozen=True)
class Sample:
    variant: str
    payload: str
    frame: Image


def payloads(rng: random.Random) -> Iterator[str]:
    """Wallet tokens and slip codes, alternately."""
    while True:
        token = base64.urlsafe_b64encode(rng.randbytes(68)).decode().rstrip("=")[:90]
        yield "LW1." + token
        yield "LS1." + str(uuid.UUID(int=rng.getrandbits(128), version=4))


def code_image(payload: str) -> Image:
    """The QR code as pixels, one per module, quiet zone included: 0 dark, 255 light."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(payload)
    qr.make(fit=True)
    modules = numpy.array(qr.get_matrix(), dtype=bool)
    return numpy.where(modules, 0, 255).astype(numpy.uint8)


def background(rng: numpy.random.Generator) -> NDArray[numpy.float64]:
    ys, xs = numpy.mgrid[0:HEIGHT, 0:WIDTH].astype(numpy.float64)
    base = rng.uniform(70, 190)
    gx, gy = rng.uniform(-0.06, 0.06, size=2)
    frame = base + gx * (xs - WIDTH / 2) + gy * (ys - HEIGHT / 2)
    for _ in range(int(rng.integers(3, 8))):  # clutter: the counter, a hand, a terminal
        x0, y0 = int(rng.integers(0, WIDTH - 60)), int(rng.integers(0, HEIGHT - 60))
        w, h = int(rng.integers(40, 400)), int(rng.integers(40, 300))
        frame[y0 : y0 + h, x0 : x0 + w] = rng.uniform(20, 235)
    return frame


def corners(rng: numpy.random.Generator, variant: str, side: float) -> NDArray[numpy.float32]:
    """Where the code's four corners land in the frame (clockwise from top left)."""
    square = numpy.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=numpy.float64)
    square -= side / 2
    if variant == "rotated":
        angle = rng.uniform(0, 2 * numpy.pi)
        turn = numpy.array(
            [[numpy.cos(angle), -numpy.sin(angle)], [numpy.sin(angle), numpy.cos(angle)]]
        )
        square = square @ turn.T
    elif variant == "skewed":
        square += rng.uniform(-0.18, 0.18, size=(4, 2)) * side
    half = numpy.abs(square).max() + 2
    cx = rng.uniform(half, WIDTH - half)
    cy = rng.uniform(half, HEIGHT - half)
    return (square + numpy.array([cx, cy])).astype(numpy.float32)


def render(rng: numpy.random.Generator, payload: str, variant: str) -> Image:
    """One 1280×720 frame holding the code of ``payload`` in the given variant."""
    code = code_image(payload)
    modules = code.shape[0]
    side = float(rng.uniform(160, 420))
    module_px = side / modules
    if variant == "low-contrast":
        dark = rng.uniform(80, 130)
        light = dark + rng.uniform(35, 60)
        code_f = numpy.where(code == 0, dark, light)
    elif variant == "inverted":
        code_f = numpy.where(code == 0, rng.uniform(215, 250), rng.uniform(5, 35))
    else:
        code_f = numpy.where(code == 0, rng.uniform(10, 50), rng.uniform(200, 245))
    # upscale to whole pixels first (sharp module edges), then warp into place
    scale = max(1, int(numpy.ceil(module_px)))
    big = numpy.kron(code_f, numpy.ones((scale, scale))).astype(numpy.float32)
    n = float(big.shape[0])
    src = numpy.array([[0, 0], [n, 0], [n, n], [0, n]], dtype=numpy.float32)
    dst = corners(rng, variant, side)
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(big, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        numpy.ones_like(big), matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR
    )
    frame = background(rng) * (1 - mask) + warped * mask
    if variant == "blurred":
        sigma = module_px * rng.uniform(0.35, 0.6)
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    else:
        frame = cv2.GaussianBlur(frame, (0, 0), 0.6)  # every lens blurs a little
    noise = rng.uniform(25, 40) if variant == "noisy" else 2.5
    frame = frame + rng.normal(0, noise, size=frame.shape)
    return numpy.clip(numpy.rint(frame), 0, 255).astype(numpy.uint8)


def make_samples(per_variant: int, seed: int) -> list[Sample]:
    rng = numpy.random.default_rng(seed)
    texts = payloads(random.Random(seed))
    return [
        Sample(variant, (payload := next(texts)), render(rng, payload, variant))
        for variant in VARIANTS
        for _ in range(per_variant)
    ]


@dataclass
class Result:
    label: str
    decoded: dict[str, int]
    misreads: int
    times_ns: list[int]


def measure(label: str, decoder: Decoder, samples: Sequence[Sample]) -> Result:
    decoder.decode(samples[0].frame)  # warm-up: first-call allocations, lazy initialisation
    decoded = dict.fromkeys(VARIANTS, 0)
    misreads = 0
    times: list[int] = []
    clock = time.perf_counter_ns
    for sample in samples:
        start = clock()
        texts = decoder.decode(sample.frame)
        times.append(clock() - start)
        if sample.payload in texts:
            decoded[sample.variant] += 1
        misreads += sum(1 for text in texts if text != sample.payload)
    return Result(label, decoded, misreads, times)


def show(results: Sequence[Result], per_variant: int) -> None:
    short = {"low-contrast": "lowcon", "inverted": "invert"}
    heads = [short.get(v, v) for v in VARIANTS]
    print(
        f"{'decoder':<22}"
        + "".join(f"{h:>8}" for h in heads)
        + f"{'overall':>9}{'misread':>9}{'median ms':>11}{'p95 ms':>9}"
    )
    for r in results:
        cells = "".join(f"{100 * r.decoded[v] / per_variant:7.0f}%" for v in VARIANTS)
        overall = 100 * sum(r.decoded.values()) / (per_variant * len(VARIANTS))
        ordered = sorted(r.times_ns)
        print(
            f"{r.label:<22}{cells}{overall:8.1f}%{r.misreads:>9}"
            f"{statistics.median(ordered) / 1e6:11.1f}{percentile(ordered, 95):9.1f}"
        )


def camera_loop(samples: Sequence[Sample]) -> None:
    """The clean and inverted frames (BGR) through ``CameraScanner``, each shown 3 times."""
    chosen = choose_decoder("auto")
    shown = [s for s in samples if s.variant in ("clean", "inverted")]
    frames = [cv2.cvtColor(s.frame, cv2.COLOR_GRAY2BGR) for s in shown for _ in range(3)]
    stop = threading.Event()

    def source() -> Iterator[Image]:
        yield from frames
        stop.set()  # the end of the list is the end of the run, not a camera failure

    codes: list[str] = []
    errors: list[str] = []
    # a fake clock 40 ms per frame (25 fps), so the confirmer sees a camera's pace
    ticks = iter(range(10**9))
    confirmer = ReadConfirmer(clock=lambda: next(ticks) * 0.040)
    scanner = CameraScanner(chosen.decoder, confirmer, frames=source)
    start = time.perf_counter_ns()
    scanner.run(stop, codes.append, errors.append)
    elapsed_ms = (time.perf_counter_ns() - start) / 1e6
    expected = [s.payload for s in shown]
    right = sum(1 for code in codes if code in expected)
    print(
        f"camera loop ({chosen.decoder.name}, BGR frames, each shown 3x): {len(codes)} codes "
        f"accepted for {len(shown)} frames ({right} correct), {elapsed_ms / len(frames):.1f} ms "
        f"per frame; errors: {errors or 'none'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=15, help="frames per variant (default 15)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")

    problems = {name: why for name, why in available_backends().items() if why is not None}
    if problems:
        raise SystemExit(f"decoders not usable here: {problems}")
    start = time.perf_counter()
    samples = make_samples(args.frames, args.seed)
    print(
        f"{len(samples)} frames {WIDTH}x{HEIGHT} ({args.frames} per variant), seed {args.seed}, "
        f"generated in {time.perf_counter() - start:.1f} s; cv2 {cv2.__version__}, "
        f"{cv2.getNumThreads()} OpenCV threads"
    )
    print()
    decoders: list[tuple[str, Callable[[], Decoder]]] = [
        ("zxing-cpp", ZxingDecoder),
        ("pyzbar", lambda: ZbarDecoder(invert=False)),
        ("pyzbar + inverted", lambda: ZbarDecoder(invert=True)),
        ("OpenCV (+ inverted)", OpenCvDecoder),
    ]
    results = [measure(label, make(), samples) for label, make in decoders]
    show(results, args.frames)
    print()
    camera_loop(samples)
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
