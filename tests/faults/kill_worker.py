"""A till process to be killed: the zygote of the ``kill -9`` harness (OFFLINE.md scenario 1).

Run as ``python -m tests.faults.kill_worker FOLDER BASE_URL TOKEN``.  It imports everything once,
then for each ``go SEED`` line on stdin forks a child that opens the till's data folder and sells,
printing ``DONE <sale id>`` after each commit returned (what a cashier would have seen as done).
The harness kills the child with SIGKILL at a random moment; the zygote reaps it and says
``REAPED``.  Forking from a single-threaded zygote makes each kill cost milliseconds, not a Python
start-up, so hundreds of kills fit in a test run.
"""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime

import httpx

from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import open_store
from cashier.till import Draft, Item, Till, TillError
from sync.client import HttpGateway
from sync.sender import Sender


def sell_forever(folder: str, base_url: str, token: str, seed: int) -> None:
    rng = random.Random(seed)
    store = open_store(folder)
    gateway = HttpGateway(base_url, token, transport=httpx.HTTPTransport(retries=0), deadline=2.0)
    sender = Sender(store, gateway, base_delay=0.01, max_delay=0.05, rng=rng)
    till = Till(store, gateway, budget=0.5, deliver=sender.deliver)
    customer = till.identify("+79001234567").customer
    print("READY", flush=True)
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
        print(f"DONE {done.sale_id}", flush=True)
        if rng.random() < 0.3:
            sender.drain_once(budget=1.0)


# -- the harness's side ----------------------------------------------------------------------------
def read_lines(stream: Iterable[str], out: queue.Queue[str]) -> None:
    """Forward the zygote's output lines to ``out`` (a reader thread), then ``EOF``."""
    for line in stream:
        out.put(line.strip())
    out.put("EOF")


def expect(lines: queue.Queue[str], prefix: str, done: set[str], timeout: float = 30.0) -> str:
    """The next line starting with ``prefix``; ``DONE`` lines met on the way are collected."""
    while True:
        line = lines.get(timeout=timeout)
        if line.startswith("DONE "):
            done.add(line.split()[1])
        elif line.startswith(prefix):
            return line
        elif line == "EOF":
            raise RuntimeError(f"the zygote ended while waiting for {prefix}")


def main() -> None:
    folder, base_url, token = sys.argv[1:4]
    print("ZYGOTE", datetime.now(UTC).isoformat(), flush=True)
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
        print(f"PID {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"REAPED {pid} {status}", flush=True)


if __name__ == "__main__":
    main()
