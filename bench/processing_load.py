"""Load benchmark of the processing service: many tills selling at once against a real server.

What it measures, per database (SQLite in a temporary folder, PostgreSQL):

* the service is started as a subprocess, ``processing --db URL serve --workers N`` (uvicorn; with
  N > 1 uvicorn's own worker processes run ``processing.asgi:app``), on a free loopback port;
* data is prepared in this process through the service's own functions (the same ones the
  ``processing migrate`` / ``program set nbclub`` / ``store add`` / ``enroll`` commands call): the
  NBclub program, one store, ``--customers`` customers (verified phones, an opening balance of
  1 000–30 000 points, a carried-over window spend so Start, Silver and Gold all occur), and one
  enrolment code per till, exchanged for a device token with ``POST /api/v1/devices/enroll``;
* ``--tills`` simulated tills (threads, one ``httpx.Client`` with one keep-alive connection each,
  no think time: a closed loop) sell for ``--seconds`` after ``--warmup`` seconds of the same
  untimed.  A sale: identify by phone → calculate (2–5 lines, ``redeem`` "max" or "0" at random)
  → ``POST /purchases`` (``pending`` when points pay, with the customer's wallet QR when the
  amount needs the customer's confirmation; ``confirmed`` single phase when no points) → confirm.
  Each till serves customers of its own (customer i goes to till i mod tills), as a customer
  stands at one till at a time; every random choice comes from ``--seed``;
* the *baseline*, in the same run against the same server: the same tills sending only
  ``GET /api/v1/health`` (one small read in a transaction) for ``--baseline-seconds``.  Absolute
  figures depend on the machine; the ratio confirmed purchases/s ÷ health requests/s is the one to
  compare across machines.

It prints confirmed purchases/s; p50/p95/p99 of each step and of the whole sale (ms); errors by
step and status code (there should be none: every status other than the expected one counts); the
server's worker processes; the CPU time per confirmed sale of the server, of the database server
(only for a cluster this script started; backends that exited count too) and of this process (the
simulated tills share the machine with the service: on a small machine their CPU is part of the
picture); and how busy the whole machine was, so a run disturbed by other processes shows as such.

With ``--workers`` above 1 the listening socket is bound by uvicorn's supervisor and, as of uvicorn
0.54, loses ``TCP_NODELAY`` (uvicorn issue 3149): each small answer on a keep-alive connection then
waits for the client's delayed ACK, about 40 ms on Linux.  That shows in the latencies at low load.

PostgreSQL is ``--pg-url URL`` (a scratch database: it is migrated and filled, and the bench's
rows stay there), or by default a throwaway cluster started like the test suite's
(``tests/pg.py``: ``initdb`` in a temporary folder, Unix socket only, run as the ``postgres`` user
when root, stopped and removed at the end).  Note that cluster runs with the test suite's settings,
``fsync=off`` and ``synchronous_commit=off``: commits cost no disk flush there, unlike a
production server.  SQLite runs with the service's own settings (WAL, ``synchronous=FULL``).

The goal (the issue): at least 300 confirmed purchases/s with every step's p95 ≤ 100 ms for 20
tills on PostgreSQL.  Nothing is asserted; the figures are for reading.

Run: ``.venv/bin/python bench/processing_load.py [--db sqlite|postgresql|both] [--tills 20]
[--seconds 20] [--workers N] [--pg-url URL]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from figures import percentile  # bench/figures.py, beside this script
from sqlalchemy import insert

from cashier.identifiers import sign_wallet_token
from processing import wallet_keys
from processing.admin import add_store, create_enrolment_code
from processing.db import make_engine, migrate, session_factory, transaction
from processing.models import Customer, LedgerEntry
from processing.state import keys, set_program

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261123
STORE = "bench-msk-1"
API = "/api/v1"
GOAL_RATE = 300.0
GOAL_P95_MS = 100.0
GOAL_TILLS = 20
STEPS = ("identify", "calculate", "purchase pending", "purchase single phase", "confirm")
SALE = "whole sale"
# (sku, category, low price, high price) in roubles; gift cards are never paid with points.
GOODS = [
    ("4601234567890", "smartphones", 9_990, 149_990),
    ("4601234567891", "laptops", 29_990, 199_990),
    ("4601234567892", "accessories", 190, 4_990),
    ("4601234567893", "audio", 990, 39_990),
    ("4601234567894", "services-warranty", 490, 9_990),
    ("4601234567895", "gift-cards", 1_000, 5_000),
]
PAYMENTS = ("card", "card", "card", "sbp", "cash")


# -- data -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchCustomer:
    id: str
    phone: str
    wallet_token: str


def phone_of(i: int) -> str:
    return f"+7900{i:07d}"


def prepare(url: str, customers: int, seed: int) -> list[BenchCustomer]:
    """Migrate, activate NBclub, add the store and ``customers`` customers with opening points."""
    migrate(url)
    engine = make_engine(url)
    try:
        factory = session_factory(engine)
        now = datetime.now(UTC)
        text = (
            resources.files("resources")
            .joinpath("programs", "nbclub.toml")
            .read_text(encoding="utf-8")
        )
        rng = random.Random(seed)
        rows: list[dict[str, Any]] = []
        lots: list[dict[str, Any]] = []
        for i in range(customers):
            cid = f"b_{i:06d}"
            spend = rng.choice([0, 0, 0, 40_000_00, 120_000_00])  # Start, Silver, Gold
            rows.append(
                {
                    "id": cid,
                    "phone": phone_of(i),
                    "phone_verified": True,
                    "first_name": "Покупатель",
                    "last_name": f"Номер{i}",
                    "consents": {},
                    "created_at": now - timedelta(days=60),
                    "updated_at": now - timedelta(days=60),
                    "deleted": False,
                    "opening_spend": spend,
                    "opening_spend_at": now - timedelta(days=60) if spend else None,
                }
            )
            lots.append(
                {
                    "customer_id": cid,
                    "kind": "opening",
                    "amount": Decimal(rng.randint(1_000, 30_000)),
                    "is_lot": True,
                    "available_from": now - timedelta(days=30),
                    "occurred_at": now - timedelta(days=30),
                    "created_at": now - timedelta(days=30),
                    "flagged": False,
                }
            )
        with transaction(factory) as session:
            set_program(session, text, "resources/programs/nbclub.toml", now=now)
            add_store(session, STORE, "bench", "Bench store, Москва")
            keys(session)  # created now, before the server reads them
            key_file = Path(tempfile.mkdtemp(prefix="bench-wallet-")) / "wallet.key"
            _kid, private = wallet_keys.signing_key(session, key_file, now)
            for start in range(0, len(rows), 1000):
                session.execute(insert(Customer), rows[start : start + 1000])
            for start in range(0, len(lots), 1000):
                session.execute(insert(LedgerEntry), lots[start : start + 1000])
        expires = now + timedelta(days=1)
        return [
            BenchCustomer(r["id"], r["phone"], sign_wallet_token(private, r["id"], expires))
            for r in rows
        ]
    finally:
        engine.dispose()


def enrolment_codes(url: str, count: int) -> list[str]:
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            return [
                create_enrolment_code(session, STORE, datetime.now(UTC))[0] for _ in range(count)
            ]
    finally:
        engine.dispose()


# -- processes ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ppid_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (Linux ``/proc``; just ``root`` elsewhere)."""
    if not Path("/proc").is_dir():
        return [root]
    parents = _ppid_map()
    tree, frontier = [root], [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == current]
        tree += children
        frontier += children
    return tree


def tree_cpu_seconds(root: int | None) -> float | None:
    """User + system CPU seconds of ``root``'s tree (live processes and those they reaped)."""
    if root is None or not Path("/proc").is_dir():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # utime, stime, and cutime, cstime: the children it reaped (short-lived PG backends)
        total += sum(int(v) for v in fields[11:15])
    return total / ticks


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine, all processes (Linux ``/proc/stat``), or None."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """``processing serve`` as a subprocess, stopped with SIGINT (then SIGKILL) at the end."""

    url: str
    workers: int
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "processing.cli",
            "--db",
            self.url,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--sms",
            "log",  # codes to the server's log: the bench sends none
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                # 20 simulated tills identify ~15 customers a second each: far above a real
                # till's pace, so the per-device identify limit (120 a minute) is lifted here
                env={**os.environ, "PROCESSING_IDENTIFY_PER_MINUTE": "10000000"},
                start_new_session=True,  # Ctrl-C reaches the bench, which stops the server
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}{API}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the server did not answer within 60 s:\n{self.log_tail()}")
        if self.workers > 1:  # every worker has to be up, not just the first
            deadline = time.monotonic() + 30
            while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the workers, or the server itself with one."""
        if self.proc is None:
            return []
        tree = process_tree(self.proc.pid)
        if self.workers == 1:
            return tree[:1]
        # uvicorn's supervisor spawns the workers (and multiprocessing's resource tracker).
        parents = _ppid_map()
        return [
            pid
            for pid in tree
            if parents.get(pid) == self.proc.pid and "spawn_main" in _cmdline(pid)
        ]

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(the server log is empty)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session only
            self.proc.wait(10)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[tuple[str, int | None]]:
    """A private cluster like the test suite's: (URL of a fresh database, postmaster pid)."""
    sys.path.insert(0, str(ROOT))
    from tests.pg import INSTALL_HINT, PostgresCluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        cluster.create_database("bench")
        pid_text = (cluster.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        yield cluster.url("bench"), int(pid_text)
    finally:
        cluster.stop()


# -- the tills ------------------------------------------------------------------------------------
@dataclass
class Recorder:
    """Latencies (ns) by step and unexpected statuses by (step, status), for one till."""

    samples: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in (*STEPS, SALE)})
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    confirmed: int = 0
    with_points: int = 0
    requests: int = 0


class SaleFailed(Exception):
    pass


class Till:
    def __init__(
        self,
        base_url: str,
        token: str,
        customers: Sequence[BenchCustomer],
        rng: random.Random,
    ) -> None:
        self.client = httpx.Client(
            base_url=base_url + API,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.customers = customers
        self.rng = rng
        self.receipt = 0

    def close(self) -> None:
        self.client.close()

    def _call(
        self,
        rec: Recorder,
        step: str,
        path: str,
        body: dict[str, Any],
        expected: int,
        *,
        key: bool = False,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": str(uuid.UUID(int=self.rng.getrandbits(128)))} if key else {}
        started = time.perf_counter_ns()
        try:
            reply = self.client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            rec.errors[(step, type(exc).__name__)] += 1
            raise SaleFailed from None
        rec.samples[step].append(time.perf_counter_ns() - started)
        rec.requests += 1
        if reply.status_code != expected:
            code = ""
            with contextlib.suppress(ValueError, KeyError, TypeError):
                code = " " + str(reply.json()["error"]["code"])
            rec.errors[(step, f"{reply.status_code}{code}")] += 1
            raise SaleFailed
        data: dict[str, Any] = reply.json()
        return data

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for n in range(1, self.rng.randint(2, 5) + 1):
            sku, category, low, high = self.rng.choice(GOODS)
            price = self.rng.randint(low * 100, high * 100)
            out.append(
                {
                    "line_id": f"L{n}",
                    "line_no": n,
                    "sku": sku,
                    "category": category,
                    "qty": self.rng.choice(["1.000", "1.000", "1.000", "2.000"]),
                    "unit_price": f"{price // 100}.{price % 100:02d}",
                }
            )
        return out

    def sale(self, rec: Recorder) -> None:
        """One sale, start to end; raises SaleFailed after recording an unexpected answer."""
        rng = self.rng
        customer = rng.choice(self.customers)
        lines = self.lines()
        redeem = rng.choice(["max", "0"])
        payment = rng.choice(PAYMENTS)
        self.receipt += 1
        started = time.perf_counter_ns()
        found = self._call(
            rec,
            "identify",
            "/customers/identify",
            {"identifier": {"type": "phone", "value": customer.phone}, "purpose": "sale"},
            200,
        )
        if found["status"] != "found":
            rec.errors[("identify", f"200 {found['status']}")] += 1
            raise SaleFailed
        cid = found["customer"]["id"]
        calc = self._call(
            rec,
            "calculate",
            "/carts/calculate",
            {
                "customer": {"id": cid},
                "lines": lines,
                "redeem": {"points": redeem},
                "payments_hint": [{"type": payment}],
            },
            200,
        )
        points = calc["redeem"]["applied"]
        to_pay = calc["totals"]["to_pay"]
        purchase_id = f"p_{uuid.UUID(int=rng.getrandbits(128)).hex}"
        ref: dict[str, Any] = {"id": cid}
        body: dict[str, Any] = {
            "purchase_id": purchase_id,
            "calculation_id": calc["calculation_id"],
            "customer": ref,
            "lines": lines,
            "redeem_points": points,
            "expected_to_pay": to_pay,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        pays = [{"type": payment, "amount": to_pay}]
        if Decimal(points) == 0:
            body.update(state="confirmed", payments=pays, receipt_no=f"ФД {self.receipt}")
            self._call(rec, "purchase single phase", "/purchases", body, 201, key=True)
        else:
            if calc["redeem"]["requires_confirmation"]:
                ref["wallet_token"] = customer.wallet_token  # the customer shows the wallet QR
            created = self._call(rec, "purchase pending", "/purchases", body, 201, key=True)
            if created["state"] != "pending":
                rec.errors[("purchase pending", f"201 {created['state']}")] += 1
                raise SaleFailed
            self._call(
                rec,
                "confirm",
                f"/purchases/{purchase_id}/confirm",
                {"receipt_no": f"ФД {self.receipt}", "payments": pays},
                200,
                key=True,
            )
            rec.with_points += 1
        rec.samples[SALE].append(time.perf_counter_ns() - started)
        rec.confirmed += 1

    def health(self, rec: Recorder) -> None:
        started = time.perf_counter_ns()
        try:
            reply = self.client.get("/health")
        except httpx.HTTPError as exc:
            rec.errors[("health", type(exc).__name__)] += 1
            return
        rec.samples.setdefault("health", []).append(time.perf_counter_ns() - started)
        if reply.status_code != 200:
            rec.errors[("health", str(reply.status_code))] += 1


@dataclass
class Window:
    """What a timed run produced, all tills together."""

    seconds: float
    rec: Recorder
    cpu_server: float | None
    cpu_db: float | None
    cpu_bench: float
    cpu_machine: float | None


def run_tills(
    tills: Sequence[Till],
    seconds: float,
    action: Callable[[Till, Recorder], None],
    *,
    server_pid: int | None,
    db_pid: int | None,
) -> Window:
    """Every till runs ``action`` in a loop until ``seconds`` have passed; the figures merged."""
    records = [Recorder() for _ in tills]
    start_gate = threading.Barrier(len(tills) + 1)
    stop_at = [0.0]

    def loop(till: Till, rec: Recorder) -> None:
        start_gate.wait()
        while time.monotonic() < stop_at[0]:
            with contextlib.suppress(SaleFailed):
                action(till, rec)

    threads = [
        threading.Thread(target=loop, args=(t, r), daemon=True)
        for t, r in zip(tills, records, strict=True)
    ]
    for t in threads:
        t.start()

    def cpu() -> tuple[float | None, float | None, float, float | None]:
        return (
            tree_cpu_seconds(server_pid),
            tree_cpu_seconds(db_pid),
            own_cpu_seconds(),
            machine_cpu_seconds(),
        )

    cpu0 = cpu()
    started = time.monotonic()
    stop_at[0] = started + seconds
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cpu1 = cpu()
    merged = Recorder()
    for rec in records:
        for step, values in rec.samples.items():
            merged.samples.setdefault(step, []).extend(values)
        merged.errors.update(rec.errors)
        merged.confirmed += rec.confirmed
        merged.with_points += rec.with_points
        merged.requests += rec.requests

    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    return Window(
        elapsed,
        merged,
        delta(cpu0[0], cpu1[0]),
        delta(cpu0[1], cpu1[1]),
        cpu1[2] - cpu0[2],
        delta(cpu0[3], cpu1[3]),
    )


# -- figures --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    label: str
    workers: int
    worker_pids: int
    rate: float
    health_rate: float
    p95_worst_step: float
    p95_sale: float
    errors: int


def report(label: str, server: Server, base: Window, load: Window, tills: int, note: str) -> Result:
    rec = load.rec
    rate = rec.confirmed / load.seconds
    health_n = len(base.rec.samples.get("health", []))
    health_rate = health_n / base.seconds
    workers = len(server.worker_pids())
    print(f"\n== {label}: {tills} tills, {server.workers} server worker(s) requested, {note}")
    print(f"server worker processes serving: {workers}")
    print(
        f"baseline: GET /health {health_rate:8.1f} requests/s "
        f"({health_n} in {base.seconds:.1f} s; "
        f"p50 {_p(base.rec, 'health', 50):.1f} ms, p95 {_p(base.rec, 'health', 95):.1f} ms)"
    )
    print(
        f"sales:    {rec.confirmed} confirmed in {load.seconds:.1f} s = {rate:8.1f} purchases/s "
        f"({rec.with_points} with points, pending → confirm; "
        f"{rec.confirmed - rec.with_points} single phase; {rec.requests / load.seconds:.0f} "
        "requests/s)"
    )
    ratio = rate / health_rate if health_rate else float("nan")
    print(f"ratio confirmed purchases/s ÷ health requests/s: {ratio:.3f}")
    print(f"{'step':<24}{'n':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    worst = 0.0
    for step in (*STEPS, SALE):
        values = sorted(rec.samples.get(step, []))
        if not values:
            print(f"{step:<24}{0:>8}")
            continue
        p95 = percentile(values, 95)
        if step != SALE:
            worst = max(worst, p95)
        print(
            f"{step:<24}{len(values):>8}{percentile(values, 50):>10.1f}{p95:>10.1f}"
            f"{percentile(values, 99):>10.1f}{sum(values) / len(values) / 1e6:>10.1f}"
        )
    errors = rec.errors + base.rec.errors
    if errors:
        print("ERRORS (step, status: count):")
        for (step, status), count in sorted(errors.items()):
            print(f"  {step}, {status}: {count}")
    else:
        print("errors: none")
    if rec.confirmed:
        parts = []
        for name, cpu in (
            ("server", load.cpu_server),
            ("database", load.cpu_db),
            ("bench tills", load.cpu_bench),
        ):
            if cpu is not None:
                parts.append(
                    f"{name} {cpu * 1000 / rec.confirmed:.2f} ms ({cpu / load.seconds:.2f} cores)"
                )
        print(f"CPU per confirmed sale: {', '.join(parts)}")
    if load.cpu_machine is not None:
        ours = sum(c for c in (load.cpu_server, load.cpu_db, load.cpu_bench) if c is not None)
        others = max(0.0, load.cpu_machine - ours)
        print(
            f"machine: {load.cpu_machine / load.seconds:.2f} of {os.cpu_count()} cores busy during "
            f"the timed run, {others / load.seconds:.2f} of them other processes"
            + (" (busy: the figures are low)" if others / load.seconds > 0.1 else "")
        )
    sale_values = sorted(rec.samples[SALE])
    return Result(
        label,
        server.workers,
        workers,
        rate,
        health_rate,
        worst,
        percentile(sale_values, 95) if sale_values else float("nan"),
        sum(errors.values()),
    )


def _p(rec: Recorder, step: str, pct: float) -> float:
    values = sorted(rec.samples.get(step, []))
    return percentile(values, pct) if values else float("nan")


# -- one database ---------------------------------------------------------------------------------
def bench_database(
    label: str,
    url: str,
    args: argparse.Namespace,
    workers: int,
    workdir: Path,
    db_pid: int | None,
    note: str,
) -> Result:
    started = time.monotonic()
    customers = prepare(url, args.customers, args.seed)
    codes = enrolment_codes(url, args.tills)
    print(
        f"\n[{label}] prepared {len(customers)} customers and {len(codes)} enrolment codes "
        f"in {time.monotonic() - started:.1f} s"
    )
    server = Server(url, workers, workdir / f"server-{label.split()[0].lower()}.log")
    tills: list[Till] = []
    try:
        server.start()
        assert server.proc is not None
        for i, code in enumerate(codes):
            reply = httpx.post(
                f"{server.base_url}{API}/devices/enroll",
                json={"code": code, "name": f"bench till {i + 1}"},
                timeout=30,
            )
            if reply.status_code != 201:
                raise RuntimeError(f"enrolment failed: {reply.status_code} {reply.text}")
            tills.append(
                Till(
                    server.base_url,
                    reply.json()["token"],
                    customers[i :: args.tills],
                    random.Random(args.seed * 1000 + i),
                )
            )
        pids = {"server_pid": server.proc.pid, "db_pid": db_pid}
        run_tills(tills, 1.0, Till.health, **pids)  # connections up, workers warm
        base = run_tills(tills, args.baseline_seconds, Till.health, **pids)
        if args.warmup > 0:
            run_tills(tills, args.warmup, Till.sale, **pids)
        load = run_tills(tills, args.seconds, Till.sale, **pids)
        return report(label, server, base, load, args.tills, note)
    finally:
        for till in tills:
            till.close()
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tills", type=int, default=20, help="simulated tills (default 20)")
    parser.add_argument("--seconds", type=float, default=20, help="timed selling (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="untimed selling first (default 3)")
    parser.add_argument(
        "--baseline-seconds", type=float, default=5, help="timed GET /health (default 5)"
    )
    parser.add_argument(
        "--workers", type=int, help="server processes (default: 2 on PostgreSQL, 1 on SQLite)"
    )
    parser.add_argument("--customers", type=int, default=3000, help="customers (default 3000)")
    parser.add_argument(
        "--pg-url", help="a scratch PostgreSQL database (default: a throwaway cluster)"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.tills < 1 or args.seconds <= 0 or args.customers < args.tills:
        parser.error("--tills and --seconds must be positive and --customers at least --tills")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")

    print(
        f"processing load: {args.tills} tills, {args.seconds:g} s timed after {args.warmup:g} s "
        f"warm-up, baseline {args.baseline_seconds:g} s, {args.customers} customers, "
        f"seed {args.seed}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    results: list[Result] = []
    workdir = Path(tempfile.mkdtemp(prefix="processing-load-"))
    try:
        if args.db in ("sqlite", "both"):
            url = f"sqlite:///{workdir / 'bench.db'}"
            results.append(
                bench_database(
                    "SQLite",
                    url,
                    args,
                    args.workers or 1,
                    workdir,
                    None,
                    "WAL, synchronous=FULL, a file in a temporary folder",
                )
            )
        if args.db in ("postgresql", "both"):
            workers = args.workers or 2
            if args.pg_url:
                results.append(
                    bench_database(
                        "PostgreSQL", args.pg_url, args, workers, workdir, None, "--pg-url"
                    )
                )
            else:
                with throwaway_postgres() as (url, pid):
                    results.append(
                        bench_database(
                            "PostgreSQL",
                            url,
                            args,
                            workers,
                            workdir,
                            pid,
                            "throwaway cluster (fsync=off, synchronous_commit=off)",
                        )
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n== summary")
    for r in results:
        print(
            f"{r.label:<11} {r.rate:8.1f} purchases/s, worst step p95 {r.p95_worst_step:6.1f} ms, "
            f"sale p95 {r.p95_sale:6.1f} ms, ratio to health {r.rate / r.health_rate:.3f}, "
            f"{r.worker_pids} worker(s), {r.errors} errors"
        )
    for r in results:
        if r.label == "PostgreSQL":
            met = (
                r.rate >= GOAL_RATE
                and r.p95_worst_step <= GOAL_P95_MS
                and r.errors == 0
                and args.tills == GOAL_TILLS
            )
            print(
                f"goal (PostgreSQL, {GOAL_TILLS} tills: ≥ {GOAL_RATE:.0f} confirmed purchases/s, "
                f"every step's p95 ≤ {GOAL_P95_MS:.0f} ms, no errors): "
                f"{'MET' if met else 'NOT MET'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
