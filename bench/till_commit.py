"""Benchmark of ``Till.commit`` offline: how long writing a sale durably takes at the till.

What it measures: the wall time of one ``Till.commit(draft, priced)`` on a till with no gateway
(the offline path: nothing is sent, the sale waits in the outbox).  One commit is **one** SQLite
transaction (``BEGIN IMMEDIATE`` … ``COMMIT`` with WAL and ``synchronous=FULL``, so the commit
waits for the disk): the sale, its lines, its payments, the outbox item (a UUID key, the next
gapless ``seq``, the JSON body and its hash) and, when points were spent offline, the day's offline
spend of the customer.

* The till is a real data folder (``open_store``: migrations, the folder lock, the store's own
  PRAGMAs) in a temporary directory on the same disk as ``$TMPDIR``; its rules row holds the NBclub
  preset as the service would send it.
* ``--sales`` sales (default 2 000) of 1–5 lines (phones, accessories, services, gift cards,
  weighed cable), paid by card, cash or SBP; half of them with a customer (one of 100 verified
  customers of all three tiers, as identified from a balance snapshot an hour old), and of those
  half spend 50, 100 or 300 points offline (within the offline budget).  Every random choice
  comes from ``--seed``.  Each draft is priced (``hold``: offline, no gateway) just before its
  commit, outside the commit's timing.
* The *baseline*, in the same process and interleaved with the commits (one each in turn, so a
  disk that slows down slows both): a bare ``sqlite3`` connection to another file in the same
  folder with the same PRAGMAs (WAL, ``synchronous=FULL``) doing ``BEGIN IMMEDIATE``, one
  ``INSERT`` of a row the size of an outbox item, ``COMMIT``.  That is the price of the disk
  flush; the ratio commit ÷ baseline is the framework's overhead (SQLAlchemy, the ORM, the body
  and its hash, several rows instead of one) and is the figure to compare across machines.

It prints p50/p95/p99/mean (ms) for all commits, those without and with a customer, the baseline
and, for reference, the offline pricing (``hold``) of the same drafts.  The goal: commit p95 ≤ 5 ms.
Nothing is asserted; the figures are for reading.

Run: ``.venv/bin/python bench/till_commit.py [--sales 2000] [--warmup 50] [--seed N]``
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from figures import summary  # bench/figures.py, beside this script

from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import Store, open_store
from cashier.store.models import Rules
from cashier.till import CustomerView, Draft, Item, Till
from cashier.wallet_token import public_key_to_text

SEED = 20261123
GOAL_P95_MS = 5.0
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CUSTOMERS = 100
# (sku, category, low price, high price in roubles, weighed)
GOODS = [
    ("4601234567890", "smartphones", 9_990, 149_990, False),
    ("4601234567892", "accessories", 190, 4_990, False),
    ("4601234567893", "audio", 990, 39_990, False),
    ("4601234567894", "services-warranty", 490, 9_990, False),
    ("4601234567895", "gift-cards", 1_000, 5_000, False),
    ("4601234567896", "cable-by-metre", 50, 900, True),
]
TIERS = ("start", "silver", "gold")


def nbclub_rules(rng: random.Random) -> Rules:
    """The rules row as ``Puller.rules`` would store it from a service running NBclub."""
    toml = (
        resources.files("resources").joinpath("programs", "nbclub.toml").read_text(encoding="utf-8")
    )
    public = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)).public_key()
    return Rules(
        id=1,
        version="bench-nbclub-1",
        program_toml=toml,
        wallet_public_key=public_key_to_text(public.public_bytes_raw()),
        phone_hash_key=base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
        offline_redeem={
            "enabled": True,
            "max_points_per_customer_per_day": "1000",
            "max_snapshot_age_hours": 24,
            "verified_customers_only": True,
        },
        fetched_at=NOW,
    )


def customers(rng: random.Random) -> list[CustomerView]:
    return [
        CustomerView(
            id=f"c_{i:06d}",
            display_name=f"Покупатель {i}",
            tier=TIERS[i % 3],
            verified=True,
            phone_masked=f"+7 900 ***-**-{i % 100:02d}",
            available=Decimal(rng.randint(5_000, 50_000)),
            balance_as_of=NOW - timedelta(hours=1),
        )
        for i in range(CUSTOMERS)
    ]


def make_draft(rng: random.Random, people: Sequence[CustomerView]) -> Draft:
    lines = []
    for n in range(1, rng.randint(1, 5) + 1):
        sku, category, low, high, weighed = rng.choice(GOODS)
        qty = rng.randint(300, 5_000) if weighed else parse_quantity(rng.choice([1, 1, 1, 2]))
        price = rng.randint(low * 100, high * 100)
        lines.append(Item(sku, qty, price, category, f"Товар {sku[-3:]}", f"L{n}"))
    customer = rng.choice(people) if rng.random() < 0.5 else None
    redeem = str(rng.choice([50, 100, 300])) if customer and rng.random() < 0.5 else "0"
    method = rng.choice([PaymentMethod.CARD, PaymentMethod.CARD, PaymentMethod.SBP])
    payments = [Payment(method)]
    base = sum(item.unit_price * item.qty // 1000 for item in lines)
    if rng.random() < 0.2 and base >= parse_money("1000.00"):  # the points pay at most 300 ₽
        payments = [Payment(PaymentMethod.CASH, parse_money("500.00")), Payment(method)]
    return Draft(
        lines=lines,
        customer=customer,
        redeem=redeem,
        payments=payments,
        purchase_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )


# -- figures --------------------------------------------------------------------------------------
def show(label: str, f: dict[str, float]) -> None:
    print(
        f"{label:<34}{f['n']:>7.0f}{f['p50']:>9.3f}{f['p95']:>9.3f}{f['p99']:>9.3f}"
        f"{f['mean']:>9.3f}{f['max']:>9.3f}"
    )


# -- the baseline ---------------------------------------------------------------------------------
class BareInsert:
    """One INSERT + COMMIT per call on a plain sqlite3 connection with the store's PRAGMAs."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        if sys.platform == "darwin":
            self.conn.execute("PRAGMA fullfsync=ON")
        self.conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, op_id TEXT, body TEXT)")
        self.seq = 0

    def __call__(self, body: str) -> None:
        self.seq += 1
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "INSERT INTO t (seq, op_id, body) VALUES (?, ?, ?)", (self.seq, str(uuid.uuid4()), body)
        )
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Timed:
    """What the timed sales produced (nanoseconds per sale, warm-up left out)."""

    commit: list[int] = field(default_factory=list)
    bare: list[int] = field(default_factory=list)
    price: list[int] = field(default_factory=list)
    with_customer: list[bool] = field(default_factory=list)
    redeemed: int = 0
    lines: int = 0
    depth: int = 0


def measure(args: argparse.Namespace, folder: Path) -> Timed:
    rng = random.Random(args.seed)
    store: Store = open_store(folder / "till")
    bare = BareInsert(folder / "bare.db")
    out = Timed()
    try:
        with store.write() as s:
            s.add(nbclub_rules(rng))
        till = Till(store, None, clock=lambda: NOW)
        people = customers(rng)
        drafts = [make_draft(rng, people) for _ in range(args.warmup + args.sales)]
        sample = till.hold(drafts[0])
        sample_body = json.dumps(
            till._purchase_body(drafts[0], sample.quote, state="confirmed", offline=True),
            ensure_ascii=False,
        )
        print(f"till folder {folder / 'till'}; an outbox body is ~{len(sample_body)} bytes")
        gc.collect()
        clock = time.perf_counter_ns
        for i, draft in enumerate(drafts):
            started = clock()
            priced = till.hold(draft)  # offline, with the day's offline spend so far
            priced_at = clock()
            done = till.commit(draft, priced)
            committed_at = clock()
            bare(sample_body)
            bare_at = clock()
            if done.seq != i + 1:
                raise SystemExit(f"unexpected seq {done.seq} for sale {i + 1}")
            if i < args.warmup:
                continue
            out.price.append(priced_at - started)
            out.commit.append(committed_at - priced_at)
            out.bare.append(bare_at - committed_at)
            out.with_customer.append(draft.customer is not None)
            out.redeemed += priced.quote.redeem_points > 0
            out.lines += len(draft.lines)
        out.depth = till.queue_status()["depth"]
    finally:
        bare.close()
        store.close()
    return out


def report(args: argparse.Namespace, t: Timed) -> None:
    print(
        f"{args.sales} timed sales after {args.warmup} warm-up: {sum(t.with_customer)} with a "
        f"customer ({t.redeemed} spending points offline), {t.lines} lines; seed {args.seed}"
    )
    all_f = summary(t.commit)
    base_f = summary(t.bare)
    pairs = list(zip(t.commit, t.with_customer, strict=True))
    print()
    print(f"{'ms':<34}{'n':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'mean':>9}{'max':>9}")
    show("Till.commit, all", all_f)
    for label, wanted in (("no customer", False), ("with a customer", True)):
        chosen = [ns for ns, has in pairs if has is wanted]
        if chosen:
            show(f"Till.commit, {label}", summary(chosen))
    show("baseline: bare INSERT + COMMIT", base_f)
    show("(for reference) Till.hold offline", summary(t.price))
    print()
    print(f"outbox depth after the run: {t.depth} (every sale queued, none lost)")
    print(
        f"ratio commit ÷ baseline: p50 {all_f['p50'] / base_f['p50']:.2f}x, "
        f"p95 {all_f['p95'] / base_f['p95']:.2f}x, mean {all_f['mean'] / base_f['mean']:.2f}x; "
        f"the framework adds {all_f['p50'] - base_f['p50']:.3f} ms at p50"
    )
    verdict = "met" if all_f["p95"] <= GOAL_P95_MS else "NOT MET"
    print(f"goal Till.commit p95 <= {GOAL_P95_MS:g} ms: {verdict} (p95 {all_f['p95']:.3f} ms)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sales", type=int, default=2000, help="timed commits (default 2000)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed commits first (default 50)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.sales < 1 or args.warmup < 0:
        parser.error("--sales must be at least 1 and --warmup not negative")
    folder = Path(tempfile.mkdtemp(prefix="till-commit-"))
    try:
        report(args, measure(args, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
