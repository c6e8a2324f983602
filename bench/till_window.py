"""Benchmark of the till window: cold start to a usable window, and a keystroke to the new quote.

What it measures, against a real processing service on loopback (uvicorn in a thread of this
process, on a migrated SQLite file, built as ``tests.processing.conftest.serve`` builds it), with
two cashiers (PIN 1111 senior, 2222), the test catalogue of ``tests.ui.conftest`` and customer
``c_1`` (+79001234567, 1 000 points); one till data folder is enrolled with it
(``sync.runtime.enroll``, ``LOYALTY_KEYRING=file``) and used throughout.

1. **Cold start to a usable window.**  ``--runs`` times (default 5) a fresh Python process runs a
   tiny driver that builds the window the way ``cashier`` (``ui.app.main``) does:
   ``ui.app.make_app()``, ``ui.window.MainWindow(folder)``, ``show()``; a ``QTimer`` every 5 ms
   sees when the login page is up, ready for a PIN (the till's runtime opened off the GUI thread:
   migrations, the folder lock, ``quick_check``, the keyring, the sync loop started).  The time is
   from just before ``subprocess.Popen`` here (``time.time()``) to the child's ``time.time()`` at
   that moment, so it includes the interpreter's own start; the child's peak RSS is reported with
   it (``VmHWM`` from ``/proc/self/status``: on Linux ``ru_maxrss`` survives fork + exec and shows
   the *parent's* peak when that is larger; ``ru_maxrss`` where there is no ``/proc``).  The
   children keep their bytecode in a cache in the run's temporary folder
   (``PYTHONPYCACHEPREFIX``, ``PYTHONDONTWRITEBYTECODE`` dropped), as an installed till has its
   ``.pyc`` files; the warm-up fills it (``--no-bytecode-cache``: as the environment says).
   The *baseline* is the same child showing a bare ``QLabel`` in a ``QApplication`` (the price of
   Python + Qt alone); runs alternate baseline, window, … after one untimed warm-up of each (its
   figure is printed apart: the first start after the folder was enrolled, bytecode compiled).
   The disk cache is warm: "cold" is a new process, not a rebooted machine.  Goals: start p95
   ≤ 1.5 s and peak RSS ≤ 200 MB in every run.
2. **Keystroke to the updated quote**, in this process: the window on the same folder, logged in
   with a PIN, the customer identified by phone (online), two goods in the cart.  ``--keys``
   times (default 200, after 10 untimed): points typed into the totals panel's field, then Enter;
   the time from the Enter key event to the moment the sale page has drawn the worker's new
   ``SaleView`` (``page.view`` replaced; labels and cart set) — and, for reference, to the end of
   the repaint that follows.  Values alternate (100, 200) so each changes the quote.  Likewise a
   SKU typed into the goods field + Enter until the new line is drawn; each scan is undone by
   ``counter.remove(0)`` (timed too), and the next scan is the good just removed, so every scan
   adds a new line.  Waiting is ``QApplication.processEvents(WaitForMoreEvents)`` in a loop (the
   GUI thread sleeps until an event comes, as in ``app.exec()``).  Baselines, interleaved: a
   ``QTimer.singleShot(0)`` round trip through the event loop (Qt's own floor), and a no-op job
   through the window's ``Tasks`` (the worker thread and the queued signal back, without work).
   Goal: none set here; above ~50 ms at p95 (or with ``--profile``) the script profiles the main
   thread and the till's worker thread with cProfile and prints where the time goes.

Nothing is asserted; the figures are for reading.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/till_window.py [--runs 5] [--keys 200]
[--profile] [--no-bytecode-cache]`` (about 30 s with the defaults).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's helpers: tests.processing.*, tests.ui.*
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LOYALTY_KEYRING"] = "file"  # the till's key in a file in its folder, as in the tests

from figures import summary  # noqa: E402 - bench/figures.py, beside this script
from PySide6.QtCore import (  # noqa: E402
    QEventLoop,
    QMessageLogContext,
    Qt,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cashier.i18n import set_language  # noqa: E402
from processing.admin import add_cashier, create_enrolment_code  # noqa: E402
from processing.db import migrate, transaction  # noqa: E402
from processing.models import CatalogueItem  # noqa: E402
from sync.runtime import enroll  # noqa: E402
from tests.processing.conftest import NOW, Service, add_customer, serve  # noqa: E402
from tests.ui.conftest import GOODS  # noqa: E402
from ui.app import make_app  # noqa: E402
from ui.sale import SalePage  # noqa: E402
from ui.window import MainWindow  # noqa: E402

GOAL_START_S = 1.5
GOAL_RSS_MB = 200.0
PROFILE_ABOVE_MS = 50.0
STORE = "iport-msk-1"
PHONE = "+79001234567"
PIN = "1111"
CART = ("4600000000035", "4600000000011")  # a smartphone (39 990 ₽) and a case (1 500 ₽)
SCAN = "4600000000028"  # a charger: the third good, scanned in turn with the two above
REDEEM = ("100", "200")
WARMUP_KEYS = 10

# The child: the window as ``ui.app.run_window`` builds it, or a bare QLabel; it prints, as JSON,
# the wall clock at its milestones and its peak RSS once the page is ready, then quits.
CHILD = """\
import time
marks = {"python": time.time()}
import json, resource, sys
from PySide6.QtCore import QTimer
if sys.argv[1] == "window":
    from pathlib import Path
    from ui.window import MainWindow
    from ui.app import make_app
    marks["imports"] = time.time()
    app = make_app()
    shown = MainWindow(Path(sys.argv[2]))
    page = lambda: shown.pages.currentWidget() is shown.login_page
    # usable: the PIN page is up AND the till's store is open, its sync loop started
    ready = lambda: page() and shown.runtime is not None and shown.background is not None
else:
    from PySide6.QtWidgets import QApplication, QLabel
    marks["imports"] = time.time()
    app = QApplication(sys.argv[:1])
    shown = QLabel("ready")
    ready = page = shown.isVisible
marks["built"] = time.time()
shown.show()
marks["shown"] = time.time()
def poll():
    if "page" not in marks and page():
        marks["page"] = time.time()
    if ready():
        marks["ready"] = time.time()
        timer.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; bytes on macOS
        rss = rss // 1024 if sys.platform == "darwin" else rss
        try:  # Linux keeps ru_maxrss across fork + exec (the parent's!); VmHWM is this process's
            with open("/proc/self/status") as status:
                rss = next(int(x.split()[1]) for x in status if x.startswith("VmHWM:"))
        except (OSError, StopIteration):
            pass
        print(json.dumps({"marks": marks, "rss_kb": rss}), flush=True)
        shown.close()
        app.quit()
timer = QTimer()
timer.timeout.connect(poll)
timer.start(5)
app.exec()
"""
PHASES = ("python", "imports", "built", "shown", "page", "ready")


# -- the service and the till folder --------------------------------------------------------------
def stock(service: Service) -> None:
    """What ``tests.ui.conftest.shop`` adds: the customer, two cashiers, the catalogue."""
    add_customer(service.factory, "c_1", PHONE, points=1000)
    with transaction(service.factory) as session:
        add_cashier(session, STORE, "Анна Смирнова", "1111", "senior")
        add_cashier(session, STORE, "Борис Котов", "2222", "cashier")
        for sku, name, category, price, weighed in GOODS:
            session.add(
                CatalogueItem(
                    sku=sku,
                    name=name,
                    category=category,
                    price=price,
                    weighed=weighed,
                    updated_at=NOW - timedelta(days=1),
                )
            )


def enrolled_folder(service: Service, folder: Path) -> Path:
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, STORE, NOW)
    enroll(folder, service.base_url, code, "till bench")
    return folder


# -- 1. cold start --------------------------------------------------------------------------------
@dataclass
class Start:
    """One child's start: seconds from just before ``Popen`` to each milestone; peak RSS."""

    at: dict[str, float]
    rss_mb: float


def start_child(kind: str, folder: Path, pycache: Path | None) -> Start:
    env = {**os.environ, "LOYALTY_KEYRING": "file", "QT_QPA_PLATFORM": "offscreen"}
    if pycache is not None:  # bytecode kept between starts, as in an installed till
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemExit(f"the {kind} child did not finish in 60 s") from None
    line = next((x for x in out.splitlines() if x.startswith("{")), None)
    if line is None:
        raise SystemExit(f"the {kind} child said nothing (exit {proc.returncode}):\n{err[-2000:]}")
    got = json.loads(line)
    return Start(
        {k: v - started for k, v in got["marks"].items()}, got["rss_kb"] / 1024
    )  # ru_maxrss is in KiB on Linux


def cold_starts(
    folder: Path, runs: int, pycache: Path | None
) -> tuple[dict[str, list[Start]], dict[str, Start]]:
    first = {kind: start_child(kind, folder, pycache) for kind in ("baseline", "window")}
    timed: dict[str, list[Start]] = {"baseline": [], "window": []}
    for _ in range(runs):
        for kind in ("baseline", "window"):
            timed[kind].append(start_child(kind, folder, pycache))
    return timed, first


def ns(seconds: float) -> int:
    return int(seconds * 1e9)


def report_starts(timed: dict[str, list[Start]], first: dict[str, Start]) -> None:
    print(f"{'ms':<44}{'n':>5}{'p50':>9}{'p95':>9}{'mean':>9}{'max':>9}{'RSS MB':>9}{'max':>7}")
    figs = {}
    for kind, label in (("window", "window: Popen -> PIN page up, till open"), ("baseline", "")):
        starts = timed[kind]
        f = summary([ns(s.at["ready"]) for s in starts])
        figs[kind] = f
        rss = sorted(s.rss_mb for s in starts)
        print(
            f"{label or 'baseline: Popen -> bare QLabel shown':<44}{f['n']:>5.0f}{f['p50']:>9.1f}"
            f"{f['p95']:>9.1f}{f['mean']:>9.1f}{f['max']:>9.1f}{rss[len(rss) // 2]:>9.1f}"
            f"{rss[-1]:>7.1f}"
        )
    w, b = figs["window"], figs["baseline"]
    print(
        f"ratio window ÷ baseline: p50 {w['p50'] / b['p50']:.2f}x, p95 {w['p95'] / b['p95']:.2f}x;"
        f" the till adds {w['p50'] - b['p50']:.0f} ms at p50"
    )
    for kind in ("window", "baseline"):
        parts = []
        for before, after in zip(("popen", *PHASES), PHASES, strict=False):
            spans = sorted(
                ns(s.at[after] - (s.at[before] if before != "popen" else 0.0)) for s in timed[kind]
            )
            parts.append(f"{after} {summary(spans)['p50']:.0f}")
        print(f"  {kind} p50 by step (ms): " + ", ".join(parts))
    print(
        "  (python: interpreter up; imports: PySide6 + the till's modules; built: QApplication and"
        " the window; shown: show(); page: the PIN page is up (typing works); ready: the till's store"
        " is open and its sync loop started, so a PIN is checked at once)"
    )
    for kind in ("window", "baseline"):
        s = first[kind]
        print(
            f"  untimed first {kind} start: {s.at['ready'] * 1000:.0f} ms, {s.rss_mb:.1f} MB"
            + (" (the first sync after enrolment ran in it)" if kind == "window" else "")
        )
    rss_max = max(s.rss_mb for s in timed["window"])
    ok = w["p95"] / 1000 <= GOAL_START_S and rss_max <= GOAL_RSS_MB
    print(
        f"goal cold start p95 <= {GOAL_START_S:g} s and peak RSS <= {GOAL_RSS_MB:g} MB: "
        f"{'met' if ok else 'NOT met'} (p95 {w['p95'] / 1000:.3f} s, max {w['max'] / 1000:.3f} s,"
        f" RSS max {rss_max:.1f} MB)"
    )


# -- 2. keystroke to quote ------------------------------------------------------------------------
def pump(done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Run the event loop until ``done()``: the GUI thread sleeps until an event comes."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        QApplication.processEvents(
            QEventLoop.ProcessEventsFlag.AllEvents | QEventLoop.ProcessEventsFlag.WaitForMoreEvents
        )


def quiet_qt(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Qt's messages to stderr, but for the offscreen platform's notice about size hints."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def type_in(widget: Any, text: str) -> None:
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def ready_sale(folder: Path) -> MainWindow:
    """The window on ``folder``, logged in, the customer identified, two goods in the cart."""
    window = MainWindow(folder, clock=lambda: NOW)
    window.show()
    pump(lambda: window.pages.currentWidget() is window.login_page)
    pump(lambda: window.status is not None and bool(window.status.last_pull_at))
    type_in(window.login_page.pin, PIN)
    pump(lambda: window.sale_page is not None and window.pages.currentWidget() is window.sale_page)
    page = window.sale_page
    assert page is not None
    pump(lambda: window.tasks.running == 0 and page.view is not None)
    page.customer_field.setFocus()
    type_in(page.customer_field, PHONE)
    pump(lambda: window.tasks.running == 0)
    if page.view is None or page.view.customer is None:
        raise SystemExit(f"the customer was not identified: {page.info.text()}")
    for sku in CART:
        page.goods_field.setFocus()
        type_in(page.goods_field, sku)
        pump(lambda: window.tasks.running == 0)
    if page.view is None or len(page.view.lines) != 2 or page.view.priced is None:
        raise SystemExit(f"the cart is not as expected: {page.info.text()}")
    return window


@dataclass
class Keys:
    """Nanoseconds per timed step (warm-up left out)."""

    redeem: list[int] = field(default_factory=list)
    redeem_painted: list[int] = field(default_factory=list)
    scan: list[int] = field(default_factory=list)
    scan_painted: list[int] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)
    timer: list[int] = field(default_factory=list)
    noop: list[int] = field(default_factory=list)
    changed: int = 0
    """Timed points entries whose quote differed from the one on screen before."""


def new_view(page: SalePage, act: Callable[[], None]) -> tuple[int, int]:
    """Nanoseconds from ``act()`` to the new view drawn, and to the repaint after it."""
    old = page.view
    clock = time.perf_counter_ns
    started = clock()
    act()
    pump(lambda: page.view is not old)
    drawn = clock()
    QApplication.processEvents()  # the update requests the drawing posted: the repaint
    return drawn - started, clock() - started


def round_trip(start: Callable[[Callable[..., None]], object]) -> int:
    done: list[bool] = []
    clock = time.perf_counter_ns
    started = clock()
    start(lambda *_: done.append(True))
    pump(lambda: bool(done))
    return clock() - started


def one_round(window: MainWindow, page: SalePage, i: int, out: Keys | None) -> None:
    value = REDEEM[i % 2]
    before = page.view.priced.quote if page.view and page.view.priced else None
    page.focus_points()
    QTest.keyClicks(page.totals.redeem, value)
    redeem = new_view(page, lambda: QTest.keyClick(page.totals.redeem, Qt.Key.Key_Return))
    view = page.view
    if view is None or view.priced is None or str(view.priced.quote.redeem_points) != value:
        raise SystemExit(f"the quote did not take {value} points: {page.info.text()}")
    cart = {line.sku for line in view.lines}
    sku = next(s for s in (*CART, SCAN) if s not in cart)
    page.goods_field.setFocus()
    QTest.keyClicks(page.goods_field, sku)
    scan = new_view(page, lambda: QTest.keyClick(page.goods_field, Qt.Key.Key_Return))
    if page.view is None or page.view.lines[-1].sku != sku:
        raise SystemExit(f"the scanned good is not the last line: {page.info.text()}")
    remove = new_view(page, lambda: page.do(lambda: page.counter.remove(0)))
    timer = round_trip(lambda cb: QTimer.singleShot(0, cb))
    noop = round_trip(lambda cb: window.tasks.run(lambda: None, cb))
    if out is None:
        return
    out.redeem.append(redeem[0])
    out.redeem_painted.append(redeem[1])
    out.scan.append(scan[0])
    out.scan_painted.append(scan[1])
    out.remove.append(remove[0])
    out.timer.append(timer)
    out.noop.append(noop)
    out.changed += before is None or (before.redeem_points, before.to_pay) != (
        view.priced.quote.redeem_points,
        view.priced.quote.to_pay,
    )


@dataclass
class Profiles:
    main: cProfile.Profile = field(default_factory=cProfile.Profile)
    worker: cProfile.Profile = field(default_factory=cProfile.Profile)


def keystrokes(window: MainWindow, keys: int, profiles: Profiles | None) -> Keys:
    page = window.sale_page
    assert page is not None
    for i in range(WARMUP_KEYS):
        one_round(window, page, i, None)
    if profiles is not None:  # cProfile follows one thread: enable it in the till's worker too
        window.tasks.run(profiles.worker.enable).result()  # type: ignore[union-attr]
        profiles.main.enable()
    out = Keys()
    try:
        for i in range(keys):
            one_round(window, page, i, out)
    finally:
        if profiles is not None:
            profiles.main.disable()
            window.tasks.run(profiles.worker.disable).result()  # type: ignore[union-attr]
            pump(lambda: window.tasks.running == 0)
    return out


def show(label: str, f: dict[str, float]) -> None:
    print(
        f"{label:<44}{f['n']:>5.0f}{f['p50']:>9.2f}{f['p95']:>9.2f}{f['p99']:>9.2f}"
        f"{f['mean']:>9.2f}{f['max']:>9.2f}"
    )


def report_keys(k: Keys) -> dict[str, float]:
    print(f"{'ms':<44}{'n':>5}{'p50':>9}{'p95':>9}{'p99':>9}{'mean':>9}{'max':>9}")
    redeem = summary(k.redeem)
    scan = summary(k.scan)
    timer = summary(k.timer)
    show("points + Enter -> new quote drawn", redeem)
    show("  ... and repainted", summary(k.redeem_painted))
    show("SKU + Enter -> new line drawn", scan)
    show("  ... and repainted", summary(k.scan_painted))
    show("remove(0) -> redrawn (the scan undone)", summary(k.remove))
    show("baseline: QTimer.singleShot(0) round trip", timer)
    show("(reference) no-op job via Tasks, round trip", summary(k.noop))
    print(
        f"ratio ÷ baseline at p50: quote {redeem['p50'] / timer['p50']:.0f}x, scan "
        f"{scan['p50'] / timer['p50']:.0f}x; above Qt's own: quote "
        f"{redeem['p50'] - timer['p50']:.2f} ms, scan {scan['p50'] - timer['p50']:.2f} ms (p50)"
    )
    print(f"points entries that changed the quote on screen: {k.changed} of {len(k.redeem)}")
    return redeem


def print_profile(title: str, prof: cProfile.Profile, sort: str, top: int = 22) -> None:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(top)
    lines = buf.getvalue().splitlines()
    start = next((i for i, x in enumerate(lines) if "ncalls" in x), 0)
    print(f"-- {title}, by {sort} --")
    print("\n".join(x for x in lines[start:] if x.strip()))


# -- main -----------------------------------------------------------------------------------------
def run(args: argparse.Namespace, work: Path) -> None:
    t0 = time.monotonic()
    url = f"sqlite:///{work / 'processing.db'}"
    migrate(url)
    with serve(url) as service:
        stock(service)
        folder = enrolled_folder(service, work / "till")
        print(f"service {service.base_url} (SQLite, in this process); till folder {folder}")
        print(f"python {sys.version.split()[0]}, platform {os.environ['QT_QPA_PLATFORM']}")
        print()
        print(f"== 1. cold start to a usable window ({args.runs} runs of each, alternating) ==")
        pycache = None if args.no_bytecode_cache else work / "pycache"
        where = "none (as the environment says)" if pycache is None else f"{pycache}"
        print(f"children's bytecode cache: {where}")
        timed, first = cold_starts(folder, args.runs, pycache)
        report_starts(timed, first)
        print()
        print(f"== 2. keystroke to updated quote ({args.keys} of each, {WARMUP_KEYS} warm-up) ==")
        app = make_app()
        qInstallMessageHandler(quiet_qt)
        window = ready_sale(folder)
        try:
            k = keystrokes(window, args.keys, None)
            redeem = report_keys(k)
            if args.profile or redeem["p95"] > PROFILE_ABOVE_MS:
                profiles = Profiles()
                keystrokes(window, min(args.keys, 100), profiles)
                print()
                print_profile("GUI thread", profiles.main, "cumulative")
                print_profile("till worker thread", profiles.worker, "cumulative")
                print_profile("till worker thread", profiles.worker, "tottime", 12)
        finally:
            window.close()
            app.processEvents()  # type: ignore[attr-defined]
    print()
    print(f"whole run {time.monotonic() - t0:.1f} s; the window closed and the service stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="cold starts of each (default 5)")
    parser.add_argument("--keys", type=int, default=200, help="timed keystrokes (default 200)")
    parser.add_argument("--profile", action="store_true", help="profile the keystrokes anyway")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="children compile what has no .pyc at every start (PYTHONDONTWRITEBYTECODE as set)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.keys < 1:
        parser.error("--runs and --keys must be at least 1")
    set_language("ru")
    work = Path(tempfile.mkdtemp(prefix="till-window-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
