"""Soak of the ``kill -9`` harness (docs/offline.md scenario 1): thousands of SIGKILLs of a selling till.

What it does: the test ``tests/faults/test_kill.py`` kills a real till process 200 times; this runs
the same harness for longer and prints how it went.

* The processing service runs in this process on loopback (uvicorn in a thread, SQLite with the
  service's own settings, the service clock fixed at ``tests.processing.conftest.NOW``), built the
  way the test suite's ``service`` fixture builds it: a migrated database, the NBclub program, the
  store ``iport-msk-1``, and one customer ``c_1`` (+79001234567, 1 000 points) as the ``till``
  fixture adds.
* A till's data folder is enrolled and synced with ``tests.faults.world.make_world``; then the
  zygote ``python -m tests.faults.kill_worker FOLDER BASE_URL TOKEN`` forks a child per ``go SEED``
  line.  The child opens the folder (migrations, lock, ``quick_check``) and sells forever —
  1–3 lines, the customer in half the sales, sometimes spending points, every payment method, and
  sending its queue now and then — printing ``DONE <sale id>`` after each commit returned.
* ``--kills`` times (default 2 000), after a random wait of 0–``--max-wait`` seconds (default 0.4,
  as the test: start-up, a sale, a send), the child gets SIGKILL; every random choice comes from
  ``--seed``.  Then the till is opened again in this process, its queue drained, and
  ``tests.faults.world.check_invariants`` checks I1–I6: every sale shown as done is on the service
  exactly once, nothing is on the service the till did not commit, the queue is empty and refusals
  carry reasons, balances equal their ledgers, sequence numbers are contiguous on both sides, and
  the till's database passes ``PRAGMA integrity_check``.

It prints progress, kills/s, sales seen as done, how many of them went online within the sale and
how many waited in the queue, the drain time and the invariant check.  The goal: I1–I6 hold and at
least a quarter as many sales as kills were seen as done (as the test asks).

Run: ``.venv/bin/python bench/till_soak.py [--kills 2000] [--seed N] [--max-wait 0.4]`` (Linux and
macOS: fork and SIGKILL).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's helpers: tests.faults.*, tests.processing.*

from cashier.store.models import OutboxItem, Sale  # noqa: E402 - after the path
from processing.db import migrate  # noqa: E402
from tests.faults.kill_worker import Zygote  # noqa: E402
from tests.faults.world import TillWorld, check_invariants, make_world  # noqa: E402
from tests.processing.conftest import Service, add_customer, serve  # noqa: E402

SEED = 20261123
STORE = "iport-msk-1"


@contextmanager
def in_process_service(folder: Path) -> Iterator[Service]:
    """The processing service on loopback, as the test suite's ``service`` fixture makes it."""
    url = f"sqlite:///{folder / 'processing.db'}"
    migrate(url)
    with serve(url) as started:
        yield started


# -- the zygote -----------------------------------------------------------------------------------
def kill_loop(
    folder: Path, base_url: str, token: str, args: argparse.Namespace
) -> tuple[set[str], float]:
    """Fork, sell, SIGKILL ``--kills`` times; the sales seen as done and the seconds it took."""
    rng = random.Random(args.seed)
    wait = threading.Event().wait
    step = max(1, args.kills // 20)
    zygote = Zygote(folder, base_url, token)  # its environment pinned, not the caller's
    started = time.monotonic()
    try:
        for i in range(args.kills):
            pid = zygote.go(args.seed + i)
            wait(rng.uniform(0.0, args.max_wait))  # a random point: start-up, a sale, a send
            zygote.kill(pid)
            if (i + 1) % step == 0 or i + 1 == args.kills:
                elapsed = time.monotonic() - started
                print(
                    f"  {i + 1:>6} kills  {elapsed:7.1f} s  {(i + 1) / elapsed:5.2f} kills/s  "
                    f"{len(zygote.done):>7} sales seen as done",
                    flush=True,
                )
    finally:
        done = zygote.close()
    elapsed = time.monotonic() - started
    if zygote.dropped:
        print(f"  lines cut by a kill (dropped): {len(zygote.dropped)}", flush=True)
    return done, elapsed


def till_counts(world: TillWorld) -> dict[str, int]:
    with world.store.read() as s:
        outbox = dict(
            s.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state)).all()
        )
        paths = dict(s.execute(select(Sale.path, func.count()).group_by(Sale.path)).all())
    return {
        **{f"outbox {k}": int(v) for k, v in outbox.items()},
        **{f"sales {k}": int(v) for k, v in paths.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=2000, help="SIGKILLs (default 2000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--max-wait", type=float, default=0.4, help="longest wait before a kill, s (default 0.4)"
    )
    args = parser.parse_args(argv)
    if args.kills < 1 or args.max_wait < 0:
        parser.error("--kills must be at least 1 and --max-wait not negative")
    if sys.platform == "win32":
        parser.error("the kill -9 harness needs fork and SIGKILL")
    print(
        f"till soak: {args.kills} SIGKILLs after 0–{args.max_wait:g} s each, seed {args.seed}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    workdir = Path(tempfile.mkdtemp(prefix="till-soak-"))
    ok = False
    try:
        with in_process_service(workdir) as service:
            add_customer(service.factory, "c_1", "+79001234567", points=1000)
            folder = workdir / "till"
            world = make_world(service, folder, service.base_url)
            token = world.token
            world.close()
            done, seconds = kill_loop(folder, service.base_url, token, args)
            world.reopen()
            try:
                before = till_counts(world)
                started = time.monotonic()
                world.drain()
                drained = time.monotonic() - started
                after = till_counts(world)
                problem = None
                try:
                    check_invariants(world, seen_done=done)
                except AssertionError as exc:
                    problem = str(exc) or repr(exc)
            finally:
                world.close()
        print()
        print(
            f"kills:                {args.kills} in {seconds:.1f} s = {args.kills / seconds:.2f}/s"
        )
        print(f"sales seen as done:   {len(done)} ({len(done) / args.kills:.2f} per kill)")
        print(f"till before the drain: {before}")
        print(f"till after the drain:  {after} (drained in {drained:.1f} s)")
        print(f"invariants I1–I6:     {'hold' if problem is None else 'FAILED: ' + problem}")
        enough = len(done) >= args.kills // 4
        ok = problem is None and enough
        print(
            f"goal I1–I6 hold after {args.kills} kills with >= {args.kills // 4} sales seen as "
            f"done: {'met' if ok else 'NOT MET'}"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
