"""OFFLINE.md scenario 1: a real till process killed with SIGKILL at random points of selling,
200 times with a fixed seed (``LOYALTY_KILLS`` to change), then restarted and drained: every sale
it showed as done is on the service exactly once, and I1–I6 hold."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.faults.kill_worker import expect, read_lines
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
    zygote = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.kill_worker", str(folder), till.base_url, token],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert zygote.stdin is not None and zygote.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(zygote.stdout, lines), daemon=True).start()
    rng = random.Random(SEED)
    done: set[str] = set()
    try:
        expect(lines, "ZYGOTE", done)
        for i in range(KILLS):
            zygote.stdin.write(f"go {i}\n")
            zygote.stdin.flush()
            pid = int(expect(lines, "PID", done).split()[1])
            threading.Event().wait(
                rng.uniform(0.0, 0.4)
            )  # a random point: start-up, a sale, a send
            os.kill(pid, signal.SIGKILL)
            expect(lines, f"REAPED {pid}", done)
    finally:
        zygote.stdin.close()
        zygote.wait(30)
    while not lines.empty():
        line = lines.get()
        if line.startswith("DONE "):
            done.add(line.split()[1])
    assert len(done) >= KILLS // 4, f"too few sales happened between kills: {len(done)}"
    world.reopen()
    try:
        world.drain()
        check_invariants(world, seen_done=done)
    finally:
        world.close()
