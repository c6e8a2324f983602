"""docs/offline.md scenario 1: a real till process killed with SIGKILL at random points of selling,
200 times with a fixed seed (``LOYALTY_KILLS`` to change), then restarted and drained: every sale
it showed as done is on the service exactly once, and I1–I6 hold."""

from __future__ import annotations

import os
import random
import sys
import threading
from pathlib import Path

import pytest

from tests.faults.kill_worker import Zygote, whole_line
from tests.faults.world import check_invariants, make_world
from tests.processing.conftest import Service

KILLS = int(os.environ.get("LOYALTY_KILLS", "200"))
SEED = 20261123


@pytest.mark.skipif(sys.platform == "win32", reason="fork and SIGKILL")
def test_1_kill_9_at_random_points_loses_and_doubles_nothing(till: Service, tmp_path: Path) -> None:
    folder = tmp_path / "till"
    world = make_world(till, folder, till.base_url)
    token = world.token
    world.close()
    zygote = Zygote(folder, till.base_url, token)  # its environment pinned, not the caller's
    rng = random.Random(SEED)
    try:
        for i in range(KILLS):
            pid = zygote.go(i)
            threading.Event().wait(
                rng.uniform(0.0, 0.4)
            )  # a random point: start-up, a sale, a send
            zygote.kill(pid)
    finally:
        done = zygote.close()
    assert not zygote.dropped, f"lines cut by a kill: {zygote.dropped!r}"
    assert len(done) >= KILLS // 4, f"too few sales happened between kills: {len(done)}"
    world.reopen()
    try:
        world.drain()
        check_invariants(world, seen_done=done)
    finally:
        world.close()


def test_a_line_cut_by_a_kill_is_dropped_never_merged() -> None:
    # A writer killed between its text and its newline leaves a fragment; the next whole line
    # is kept on its own, the fragment dropped.
    assert whole_line(b"DONE 26d2aa2e-0000-4000-8000-00000000002eREAPED 18895 9\n") == (
        "REAPED 18895 9"
    )
    assert whole_line(b"DONE 26d2aa2e-0000-4000-8000-0000000000\n") is None
    assert whole_line(b"PID 12\n") == "PID 12"
    assert whole_line(b"garbage\n") is None
