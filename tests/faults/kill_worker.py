"""A till process to be killed: the zygote of the ``kill -9`` harness (docs/offline.md scenario 1).

Run as ``python -m tests.faults.kill_worker FOLDER BASE_URL TOKEN`` (or through :class:`Zygote`,
which pins its environment).  It imports everything once, then for each ``go SEED`` line on stdin
forks a child that opens the till's data folder and sells, printing ``DONE <sale id>`` after each
commit returned (what a cashier would have seen as done).  The harness kills the child with SIGKILL
at a random moment; the zygote reaps it and says ``REAPED``.  Forking from a single-threaded zygote
makes each kill cost milliseconds, not a Python start-up, so hundreds of kills fit in a test run.

Every line the harness parses is written with one ``os.write`` of the whole line (a pipe write of
less than ``PIPE_BUF`` bytes is atomic), so a SIGKILL can never leave half a line for the next one
to be glued to — whatever ``PYTHONUNBUFFERED`` says (``print(..., flush=True)`` under it writes the
text and the newline separately).  The reader still accepts only whole, well-formed lines: a
fragment in front of a known line is dropped, never merged with it.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import open_store
from cashier.till import Draft, Item, Till, TillError
from sync.client import HttpGateway
from sync.sender import Sender

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    rb"(ZYGOTE \S+|READY|PID \d+|REAPED \d+ -?\d+|DONE [0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})"
)
"""The whole lines the zygote and its children write; anything else on a line is a fragment."""


def say(line: str) -> None:
    """Write ``line`` and its newline to stdout in one ``write`` call (never split by a kill)."""
    data = (line + "\n").encode("ascii")
    written = os.write(1, data)
    if written != len(data):  # a pipe write under PIPE_BUF is all or nothing; be loud if not
        raise OSError(f"short write to stdout: {written} of {len(data)} bytes")


def sell_forever(folder: str, base_url: str, token: str, seed: int) -> None:
    rng = random.Random(seed)
    store = open_store(folder)
    gateway = HttpGateway(base_url, token, transport=httpx.HTTPTransport(retries=0), deadline=2.0)
    sender = Sender(store, gateway, base_delay=0.01, max_delay=0.05, rng=rng)
    till = Till(store, gateway, budget=0.5, deliver=sender.deliver)
    customer = till.identify("+79001234567").customer
    say("READY")
    while True:
        draft = Draft(
            lines=[
                Item("sku-1", parse_quantity("1"), parse_money(f"{rng.randint(100, 5000)}.00"), "x")
                for _ in range(rng.randint(1, 3))
            ],
            customer=customer if rng.random() < 0.5 else None,
            redeem=str(rng.choice([0, 0, 10, 50])),
            payments=[Payment(rng.choice(list(PaymentMethod)))],
        )
        try:
            priced = till.hold(draft)
        except TillError:  # e.g. the points ran out: like a cashier, sell without them
            customer = till.identify("+79001234567").customer
            draft.customer, draft.redeem = customer, "0"
            priced = till.hold(draft)
        done = till.commit(draft, priced)
        say(f"DONE {done.sale_id}")
        if rng.random() < 0.3:
            sender.drain_once(budget=1.0)


# -- the harness's side ----------------------------------------------------------------------------
def whole_line(raw: bytes) -> str | None:
    """The well-formed line at the end of ``raw``, or ``None``: a fragment left by a killed
    writer in front of it is dropped, never merged into what follows."""
    raw = raw.rstrip(b"\r\n")
    if LINE.fullmatch(raw):
        return raw.decode("ascii")
    tail = None
    for match in LINE.finditer(raw):  # the last known line that runs to the end
        if match.end() == len(raw):
            tail = match
    return tail.group(0).decode("ascii") if tail is not None else None


def read_lines(stream: Iterable[bytes], out: queue.Queue[str], dropped: list[bytes]) -> None:
    """Forward the zygote's whole lines to ``out`` (a reader thread), then ``EOF``; what was
    not a whole line goes to ``dropped`` for the failure message."""
    for raw in stream:
        line = whole_line(raw)
        if line is None or line.encode("ascii") != raw.rstrip(b"\r\n"):
            dropped.append(raw)
        if line is not None:
            out.put(line)
    out.put("EOF")


def pinned_env() -> dict[str, str]:
    """The zygote's environment, fixed by the harness: none of the caller's ``PYTHON*``
    settings (``PYTHONUNBUFFERED`` among them) leak in, and the repo is importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"  # the harder case, always: the writes must not depend on it
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class Zygote:
    """The harness's handle on a running zygote: ``go`` forks a selling child, ``kill`` SIGKILLs
    and waits for it to be reaped; ``done`` collects every sale a child reported done."""

    folder: Path
    base_url: str
    token: str
    timeout: float = 30.0
    done: set[str] = field(default_factory=set)
    dropped: list[bytes] = field(default_factory=list)

    @property
    def credentials(self) -> tuple[str, str]:
        return self.base_url, self.token

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.kill_worker", str(self.folder), *self.credentials],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=pinned_env(),
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=read_lines, args=(self.process.stdout, self.lines, self.dropped), daemon=True
        ).start()
        self.expect("ZYGOTE")

    def expect(self, prefix: str) -> str:
        """The next line starting with ``prefix``; ``DONE`` lines met on the way are collected."""
        try:
            return expect(self.lines, prefix, self.done, self.timeout)
        except queue.Empty:
            raise AssertionError(
                f"no {prefix!r} line within {self.timeout} s; fragments dropped: {self.dropped!r}"
            ) from None

    def go(self, seed: int) -> int:
        """Fork a child that sells with ``seed``; its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"go {seed}\n".encode("ascii"))
        self.process.stdin.flush()
        return int(self.expect("PID").split()[1])

    def kill(self, pid: int) -> None:
        """SIGKILL the child and wait until the zygote has reaped it."""
        os.kill(pid, signal.SIGKILL)
        self.expect(f"REAPED {pid} ")

    def close(self) -> set[str]:
        """Stop the zygote; every sale seen as done."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                break
            if line == "EOF":
                break
            if line.startswith("DONE "):
                self.done.add(line.split()[1])
        return self.done


def expect(lines: queue.Queue[str], prefix: str, done: set[str], timeout: float = 30.0) -> str:
    """The next line starting with ``prefix``; ``DONE`` lines met on the way are collected."""
    while True:
        line = lines.get(timeout=timeout)
        if line.startswith("DONE "):
            done.add(line.split()[1])
        if line.startswith(prefix):
            return line
        if line == "EOF":
            raise RuntimeError(f"the zygote ended while waiting for {prefix}")


def main() -> None:
    folder, base_url, token = sys.argv[1:4]
    say(f"ZYGOTE {datetime.now(UTC).isoformat()}")
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] != "go":
            break
        pid = os.fork()
        if pid == 0:  # the child: sell until killed
            try:
                sell_forever(folder, base_url, token, int(command[1]))
            except BaseException:  # noqa: BLE001 - report whatever stopped the child
                traceback.print_exc()  # the harness fails on a child that stops by itself
                sys.stderr.flush()
            finally:
                os._exit(3)
        say(f"PID {pid}")
        _, status = os.waitpid(pid, 0)
        say(f"REAPED {pid} {status}")


if __name__ == "__main__":
    main()
