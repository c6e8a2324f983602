"""Benchmark of ``Sender.drain``: how fast a till's offline queue goes to a real processing service.

What it measures: the wall time of ``Sender.drain()`` emptying a queue of ``--sales`` sales
(default 10 000) into a real service over loopback HTTP, in batches of at most 100 items / 256 KB
(``POST /api/v1/sync/transactions``), and the same done one sale per request (``Sender`` with
``max_items=1``) as the baseline.

* The service is set up with its own command line, as an operator would: ``processing migrate``,
  ``program set nbclub``, ``store add``, ``import-customers`` (``--customers`` verified customers,
  default 1 000, with opening balances), two ``enroll`` codes; then ``processing serve`` runs as a
  subprocess on a free loopback port (one worker).  ``--db sqlite`` (default: a file in a temporary
  folder, the service's own WAL + ``synchronous=FULL``) or ``--db postgresql`` (a throwaway cluster
  like the test suite's, ``tests/pg.py``: note it runs with ``fsync=off`` and
  ``synchronous_commit=off``; or ``--pg-url URL`` of a scratch database).
* Two tills, each a real data folder (``open_store``), enrol with ``HttpGateway.enroll`` and pull
  rules and customers with ``Puller.all``.  Then each queues its sales offline
  (``Till(store, None)``: no gateway, nothing is sent): 1–3 lines, half with a customer identified
  by phone from the till's cache, one in ten of those spending 10–50 points offline.  The batched
  till queues ``--sales``, the baseline till ``--baseline-sales`` (default 1 000: one request each
  is slow, the rate is what counts) plus ``--warmup`` (default 50) sent untimed first.
* Timed: the baseline till's ``Sender(max_items=1).drain()``, then the batched till's
  ``Sender().drain()`` (repeated if a batch fails; failures are counted and shown).  Afterwards both
  queues must be empty; accepted and refused items are counted.
* CPU per sale of the server process, of this process (the till's sender) and of the database
  server (the throwaway cluster only) are shown, so it is clear which side is the limit.
  ``--profile`` samples the server with ``py-spy`` during the batched drain and prints the
  functions with the most time (py-spy is not a project dependency:
  ``.venv/bin/pip install py-spy``).

The goal: the batched drain at least 1 000 sales/s and at least 10× the one-per-request baseline.
Nothing is asserted; the figures are for reading.

Run: ``.venv/bin/python bench/till_drain.py [--sales 10000] [--db sqlite|postgresql] [--profile]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from cashier.gateway import Json, Reply
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import Store, open_store
from cashier.store.models import OutboxItem
from cashier.till import CustomerView, Draft, Item, Till
from sync.client import HttpGateway
from sync.puller import Puller
from sync.sender import Sender

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processing_load import (  # the sibling bench's server process and throwaway cluster
    ROOT,
    Server,
    machine_cpu_seconds,
    own_cpu_seconds,
    throwaway_postgres,
    tree_cpu_seconds,
)

SEED = 20261123
STORE = "bench-drain-1"
GOAL_RATE = 1000.0
GOAL_RATIO = 10.0
GOODS = [
    ("4601234567890", "smartphones", 9_990, 149_990),
    ("4601234567892", "accessories", 190, 4_990),
    ("4601234567893", "audio", 990, 39_990),
    ("4601234567894", "services-warranty", 490, 9_990),
    ("4601234567895", "gift-cards", 1_000, 5_000),
]


def phone_of(i: int) -> str:
    return f"+7902{i:07d}"


# -- the service ----------------------------------------------------------------------------------
def cli(url: str, *args: str) -> str:
    """``processing --db URL ARGS…``; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "processing.cli", "--db", url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"processing {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def set_up_service(url: str, customers: int, workdir: Path, seed: int) -> list[str]:
    """Migrate, NBclub, a store, the customers; two enrolment codes."""
    rng = random.Random(seed)
    cli(url, "migrate")
    cli(url, "program", "set", "nbclub")
    cli(url, "store", "add", "--id", STORE, "--chain", "bench", "--name", "Bench store, Москва")
    export = workdir / "customers.csv"
    with export.open("w", encoding="utf-8") as out:
        out.write("phone,first_name,last_name,opening_points,window_spend,phone_verified\n")
        for i in range(customers):
            spend = rng.choice([0, 0, 40_000, 120_000])
            out.write(f"{phone_of(i)},Покупатель,Номер{i},{rng.randint(2_000, 30_000)},{spend},1\n")
    print("  " + cli(url, "import-customers", str(export), "--store", STORE).strip())
    return [cli(url, "enroll", "--store", STORE).strip() for _ in range(2)]


# -- a till ---------------------------------------------------------------------------------------
class CountingGateway(HttpGateway):
    """The real gateway, counting the batches pushed."""

    pushes = 0

    def push_batch(self, body: Json, *, timeout: float | None = None) -> Reply:
        self.pushes += 1
        return super().push_batch(body, timeout=timeout)


@dataclass
class BenchTill:
    name: str
    store: Store
    gateway: CountingGateway
    till: Till

    def close(self) -> None:
        self.gateway.close()
        self.store.close()

    def depth(self) -> int:
        return int(self.till.queue_status()["depth"])

    def states(self) -> Counter[str]:
        with self.store.read() as s:
            rows = s.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state))
            return Counter({state: int(n) for state, n in rows})


def enrol(base_url: str, code: str, folder: Path, name: str) -> BenchTill:
    with HttpGateway(base_url) as anonymous:
        reply = anonymous.enroll(code, name)
    token = str(reply.body["token"])
    store = open_store(folder)
    gateway = CountingGateway(base_url, token, deadline=120.0)
    pulled = Puller(store, gateway).all()
    print(f"  {name}: enrolled as {reply.body['device_id']}, pulled {pulled}")
    return BenchTill(name, store, gateway, Till(store, None))


def queue_sales(bench: BenchTill, count: int, customers: int, rng: random.Random) -> float:
    """Commit ``count`` sales offline (nothing sent); the seconds it took."""
    views: dict[int, CustomerView] = {}
    started = time.perf_counter()
    for _ in range(count):
        customer = None
        if rng.random() < 0.5:
            i = rng.randrange(customers)
            if i not in views:
                found = bench.till.identify(phone_of(i)).customer
                assert found is not None, f"customer {i} is not in the till's cache"
                views[i] = found
            customer = views[i]
        lines = []
        for n in range(1, rng.randint(1, 3) + 1):
            sku, category, low, high = rng.choice(GOODS)
            lines.append(
                Item(
                    sku,
                    parse_quantity(rng.choice([1, 1, 1, 2])),
                    parse_money(rng.randint(low, high)),
                    category,
                    line_id=f"L{n}",
                )
            )
        redeem = str(rng.randint(10, 50)) if customer and rng.random() < 0.1 else "0"
        method = rng.choice([PaymentMethod.CARD, PaymentMethod.CARD, PaymentMethod.SBP])
        draft = Draft(lines=lines, customer=customer, redeem=redeem, payments=[Payment(method)])
        bench.till.commit(draft, bench.till.hold(draft))
    return time.perf_counter() - started


@dataclass
class Drain:
    seconds: float
    sales: int
    requests: int
    failures: int
    errors: Counter[str]
    cpu: dict[str, float | None]
    """CPU seconds used during the drain: server, db, till (this process), machine."""

    @property
    def rate(self) -> float:
        return self.sales / self.seconds


def cpu_now(server_pid: int, db_pid: int | None) -> dict[str, float | None]:
    return {
        "server": tree_cpu_seconds(server_pid),
        "db": tree_cpu_seconds(db_pid),
        "till": own_cpu_seconds(),
        "machine": machine_cpu_seconds(),
    }


def drain(
    sender: Sender, gateway: CountingGateway, expected: int, server_pid: int, db_pid: int | None
) -> Drain:
    """``Sender.drain`` until the queue is empty (failed batches go again at once)."""
    errors: Counter[str] = Counter()
    sent = failures = 0
    pushes = gateway.pushes
    cpu0 = cpu_now(server_pid, db_pid)
    started = time.perf_counter()
    while True:
        got = sender.drain()
        sent += got.acked + got.rejected
        if got.error:
            failures += 1
            errors[got.error[:120]] += 1
            sender.reset_backoff()
            if failures > 50:
                raise RuntimeError(f"the drain keeps failing: {dict(errors)}")
            continue
        if got.left == 0:
            break
    elapsed = time.perf_counter() - started
    cpu1 = cpu_now(server_pid, db_pid)
    if sent != expected:
        raise RuntimeError(f"{sent} items answered, {expected} expected")
    used = {
        k: None if cpu0[k] is None or cpu1[k] is None else cpu1[k] - cpu0[k]  # type: ignore[operator]
        for k in cpu0
    }
    return Drain(elapsed, sent, gateway.pushes - pushes, failures, errors, used)


# -- py-spy ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def py_spy(pid: int, out: Path, enabled: bool) -> Iterator[None]:
    """Sample ``pid`` with ``py-spy record --format raw`` while the block runs."""
    if not enabled:
        yield
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("  (py-spy not found: `.venv/bin/pip install py-spy`; not profiling)")
        yield
        return
    proc = subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # attached before the timed part starts
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if not out.exists():
            print(f"  py-spy wrote nothing: {err.strip()[-400:]}")


def _frame(frame: str) -> tuple[str, bool]:
    """``func (path/file.py:123)`` → (``func (package/file.py)``, whether it is the project's)."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else path
    ours = "site-packages" not in path and parts[-2:-1] in (
        ("processing",),
        ("cashier",),
        ("sync",),
    )
    return f"{name} ({short})", ours


def show_profile(raw: Path, top: int = 25) -> None:
    """Where the server's time went, from py-spy's collapsed stacks: the batch handler's share of
    the samples, then within it the project's functions by inclusive time and all functions by
    self time (idle threads of the server are left out that way)."""
    if not raw.exists():
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    ours: set[str] = set()
    total = in_batch = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")[1:]]  # [0] is the thread
        total += count
        names = [name for name, _ in frames]
        if not any(name.startswith("process_batch ") for name in names):
            continue
        in_batch += count
        ours.update(name for name, mine in frames if mine)
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    if not in_batch:
        print(f"  py-spy: no samples in process_batch ({total} in all)")
        return
    print(
        f"\n-- py-spy of the server during the batched drain: {total} samples (200/s), {in_batch} "
        "in process_batch (applying the items, one transaction each); shares below are of those --"
    )
    print(f"the project's functions by inclusive time, top {top}:")
    for name, count in [(n, c) for n, c in inclusive.most_common() if n in ours][:top]:
        print(f"  {100 * count / in_batch:5.1f}%  {name}")
    print(f"all functions by self time, top {top}:")
    for name, count in own.most_common(top):
        print(f"  {100 * count / in_batch:5.1f}%  {name}")


# -- the run --------------------------------------------------------------------------------------
def run(url: str, args: argparse.Namespace, workdir: Path, db_pid: int | None, note: str) -> bool:
    print(f"setting up the service ({note})")
    started = time.perf_counter()
    codes = set_up_service(url, args.customers, workdir, args.seed)
    print(f"  done in {time.perf_counter() - started:.1f} s")
    server = Server(url, 1, workdir / "server.log")
    tills: list[BenchTill] = []
    try:
        server.start()
        assert server.proc is not None
        batched = enrol(server.base_url, codes[0], workdir / "till-batched", "batched till")
        tills.append(batched)
        single = enrol(server.base_url, codes[1], workdir / "till-single", "one-per-request till")
        tills.append(single)
        rng = random.Random(args.seed)
        took = queue_sales(batched, args.sales, args.customers, rng)
        print(
            f"queued {args.sales} sales on the batched till in {took:.1f} s "
            f"({args.sales / took:,.0f} commits/s)"
        )
        more = args.warmup + args.baseline_sales
        took = queue_sales(single, more, args.customers, rng)
        print(f"queued {more} sales on the baseline till in {took:.1f} s")
        if args.warmup:  # untimed: connections, the server's caches
            Sender(single.store, single.gateway, max_items=1).drain(max_batches=args.warmup)
        one = Sender(single.store, single.gateway, max_items=1)
        base = drain(one, single.gateway, args.baseline_sales, server.proc.pid, db_pid)
        with py_spy(server.proc.pid, workdir / "server-py-spy.txt", args.profile):
            many = Sender(batched.store, batched.gateway)
            batch = drain(many, batched.gateway, args.sales, server.proc.pid, db_pid)
        left = batched.depth() + single.depth()
        states = batched.states() + single.states()
    finally:
        for t in tills:
            t.close()
        server.stop()
    print(f"outbox after the drains: {dict(states)}; queued left: {left}")
    met = report(base, batch, left, note)
    if args.profile:
        show_profile(workdir / "server-py-spy.txt")
    return met


def report(base: Drain, batch: Drain, left: int, note: str) -> bool:
    def per_sale(d: Drain, key: str) -> str:
        cpu = d.cpu[key]
        return "   n/a" if cpu is None else f"{cpu * 1000 / d.sales:6.2f}"

    print()
    print(
        f"{'drain':<26}{'sales':>7}{'requests':>9}{'seconds':>9}{'sales/s':>10}{'failed':>7}"
        f"  CPU ms/sale: {'server':>6} {'db':>6} {'till':>6}   machine cores busy"
    )
    for label, d in (("one sale per request", base), ("batches of ≤ 100 (drain)", batch)):
        machine = d.cpu["machine"]
        busy = "n/a" if machine is None else f"{machine / d.seconds:.2f} of {os.cpu_count()}"
        print(
            f"{label:<26}{d.sales:>7}{d.requests:>9}{d.seconds:>9.2f}{d.rate:>10.1f}{d.failures:>7}"
            f"{'':>15}{per_sale(d, 'server')} {per_sale(d, 'db')} {per_sale(d, 'till')}   {busy}"
        )
        for error, n in d.errors.items():
            print(f"  failure x{n}: {error}")
    ratio = batch.rate / base.rate
    print(f"ratio batched ÷ one-per-request: {ratio:.1f}x")
    met = batch.rate >= GOAL_RATE and ratio >= GOAL_RATIO and left == 0
    print(
        f"goal drain >= {GOAL_RATE:,.0f} sales/s and >= {GOAL_RATIO:g}x one-per-request "
        f"({note.split(',')[0]}): {'met' if met else 'NOT MET'} "
        f"({batch.rate:,.0f} sales/s, {ratio:.1f}x)"
    )
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sales", type=int, default=10_000, help="queued sales (default 10000)")
    parser.add_argument(
        "--baseline-sales", type=int, default=1000, help="sales sent one per request (default 1000)"
    )
    parser.add_argument("--warmup", type=int, default=50, help="untimed one-per-request first")
    parser.add_argument("--customers", type=int, default=1000, help="customers (default 1000)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", help="a scratch PostgreSQL database (default: a throwaway one)")
    parser.add_argument("--profile", action="store_true", help="py-spy the server's batched drain")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.sales < 1 or args.baseline_sales < 1 or args.warmup < 0 or args.customers < 1:
        parser.error("--sales, --baseline-sales and --customers must be positive")
    print(
        f"till drain: {args.sales} sales batched vs {args.baseline_sales} one per request, "
        f"{args.customers} customers, --db {args.db}, seed {args.seed}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    workdir = Path(tempfile.mkdtemp(prefix="till-drain-"))
    try:
        if args.db == "sqlite":
            run(
                f"sqlite:///{workdir / 'processing.db'}",
                args,
                workdir,
                None,
                "SQLite, WAL, synchronous=FULL",
            )
        elif args.pg_url:
            run(args.pg_url, args, workdir, None, "PostgreSQL, --pg-url")
        else:
            with throwaway_postgres() as (url, pid):
                run(url, args, workdir, pid, "PostgreSQL, throwaway cluster, fsync=off")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
