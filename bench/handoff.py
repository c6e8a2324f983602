"""Benchmark of the tablet → till hand-off: from the tablet's POST to the till's callback.

A real processing service on loopback (uvicorn in a thread of this process, a migrated SQLite
file, built as ``tests.processing.conftest.serve``) with customer ``c_1``; two devices of the same
store enrolled in temporary folders: the **till** runs ``sync.handoff.HandoffWatcher`` (the long
poll the window uses), the **tablet** calls ``cashier.accounts.hand_off`` (what the kiosk does
after a registration).  ``--n`` times (default 30) the time from just before the tablet's call to
the moment the till's watcher hands the item to its callback, at random moments relative to the
poll cycle.  Baseline in the same run: a ``GET /health`` round trip through the same client
library.  Goal (issue #6): the customer appears on the till within 2 s.  Nothing is asserted.

Run: ``.venv/bin/python bench/handoff.py [--n 30] [--wait 1.5]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.figures import summary  # noqa: E402
from cashier.accounts import hand_off  # noqa: E402
from processing.admin import create_enrolment_code  # noqa: E402
from processing.db import migrate, transaction  # noqa: E402
from sync.handoff import HandoffWatcher  # noqa: E402
from sync.runtime import TillRuntime, enroll  # noqa: E402
from tests.processing.conftest import NOW, add_customer, serve  # noqa: E402

GOAL_S = 2.0


def device(service_url: str, factory: object, folder: Path, name: str) -> TillRuntime:
    with transaction(factory) as session:  # type: ignore[arg-type]
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    enroll(folder, service_url, code, name)
    runtime = TillRuntime.open(folder, clock=lambda: NOW)
    assert runtime.puller is not None
    runtime.puller.all()
    return runtime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--wait", type=float, default=1.5, help="the long poll's wait, seconds")
    args = parser.parse_args()
    import os

    os.environ.setdefault("LOYALTY_KEYRING", "file")
    work = Path(tempfile.mkdtemp(prefix="bench-handoff-"))
    url = f"sqlite:///{work / 'processing.db'}"
    migrate(url)
    rng = random.Random(11)
    with serve(url) as service:
        add_customer(service.factory, "c_1", "+79001234567", points=100)
        till = device(service.base_url, service.factory, work / "till", "till")
        tablet = device(service.base_url, service.factory, work / "tablet", "tablet")
        arrived = threading.Event()
        watcher = HandoffWatcher(
            till.server or "", till.token or "", lambda _i: arrived.set(), wait=args.wait
        )
        watcher.start()
        try:
            while watcher.after is None:
                time.sleep(0.01)
            latencies: list[int] = []
            for _ in range(args.n):
                time.sleep(rng.uniform(0.0, args.wait))  # anywhere in the poll cycle
                arrived.clear()
                started = time.perf_counter_ns()
                assert hand_off(tablet.till, "c_1")
                if not arrived.wait(10):
                    print("a hand-off did not arrive within 10 s")
                    return 1
                latencies.append(time.perf_counter_ns() - started)
            health: list[int] = []
            assert till.gateway is not None
            for _ in range(args.n):
                started = time.perf_counter_ns()
                till.gateway.health(timeout=5)
                health.append(time.perf_counter_ns() - started)
        finally:
            watcher.stop()
            till.close()
            tablet.close()
    h, b = summary(latencies), summary(health)
    print(f"{'ms':<40}{'n':>5}{'p50':>9}{'p95':>9}{'max':>9}")
    print(
        f"{'hand-off: tablet POST -> till callback':<40}{h['n']:>5.0f}{h['p50']:>9.1f}"
        f"{h['p95']:>9.1f}{h['max']:>9.1f}"
    )
    print(
        f"{'baseline: GET /health round trip':<40}{b['n']:>5.0f}{b['p50']:>9.1f}"
        f"{b['p95']:>9.1f}{b['max']:>9.1f}"
    )
    print(
        f"ratio hand-off ÷ health at p50: {h['p50'] / b['p50']:.1f}x (the hand-off is a POST,"
        " the service's commit, and the waiting poll's next look, every 0.1 s)"
    )
    ok = h["max"] / 1000 <= GOAL_S
    print(
        f"goal: on the till within {GOAL_S:g} s: {'met' if ok else 'NOT met'}"
        f" (max {h['max'] / 1000:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
