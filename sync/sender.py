"""The till's sender: the outbox to the processing service, in ``seq`` order, each item once.

Owns: :class:`Sender`.  One sender per till (a lock; the store's folder lock keeps other processes
out).  It sends batches of at most 100 items and 256 KB to ``/sync/transactions`` and records what
the service said per item:

- ``accepted`` / ``duplicate`` → ``acked``, with the service's result (earned points, the real id of
  a customer registered offline);
- ``rejected`` → moved to the review list with its reason — never deleted, never retried;
- ``rejected: seq_reused`` (the service already had this number: the till's database came back
  from an old copy) → the items still queued are renumbered from the service's
  ``next_expected_seq`` and sent again, each with its own key;
- a transport failure (unreachable, ambiguous, 5xx, 429) → nothing changes but the attempt count:
  the same items with the same keys go again after a capped exponential backoff with full jitter
  (``Retry-After`` honoured).  A transport failure never drops or reorders an item.
- the till's own disk refusing a write (full, I/O error, read-only) backs off the same way: an
  item the service already accepted stays queued and goes again with the same key (``duplicate``).

While backing off the till counts as offline: a sale does not wait for the network at all then.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from cashier.errors import StoreWriteFailed
from cashier.gateway import Ambiguous, Gateway, RateLimited, Rejected, Unreachable
from cashier.store.db import Store
from cashier.store.models import CachedCustomer, Meta, OutboxItem, Sale
from cashier.store.models import Counter as SeqCounter

MAX_ITEMS = 100
MAX_BYTES = 256 * 1024
BASE_DELAY = 2.0
MAX_DELAY = 300.0
DEFAULT_TIMEOUT = 15.0


@dataclass(frozen=True)
class Drained:
    sent: int = 0
    acked: int = 0
    rejected: int = 0
    left: int = 0
    error: str | None = None


class Sender:
    """Sends one till's outbox; safe to call from the sale (within a budget) and a background loop."""

    def __init__(
        self,
        store: Store,
        gateway: Gateway,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
        max_items: int = MAX_ITEMS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.rng = rng or random.Random()
        self.base_delay, self.max_delay = base_delay, max_delay
        self.max_items, self.max_bytes = max_items, max_bytes
        self._lock = threading.Lock()
        self._failures = 0
        self._not_before = 0.0
        self.last_error: str | None = None

    # -- state ----------------------------------------------------------------------------------
    @property
    def backing_off(self) -> bool:
        return time.monotonic() < self._not_before

    def reset_backoff(self) -> None:
        """The service answered a health probe: try again at once."""
        self._failures, self._not_before = 0, 0.0

    def _fail(self, error: str, retry_after: float | None = None) -> None:
        self._failures += 1
        self.last_error = error
        if retry_after is not None:
            delay = retry_after
        else:  # full jitter: uniform in [0, min(cap, base·2^n)]
            delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**self._failures))
        self._not_before = time.monotonic() + delay

    # -- sending --------------------------------------------------------------------------------
    def deliver(self, budget: float) -> bool:
        """In-sale attempt: send what is queued within ``budget`` seconds, unless backing off;
        whether the service answered (False: treat the till as offline for a while)."""
        if self.backing_off:
            return False
        got = self.drain_once(budget=budget, wait=budget)
        return got.error is None or got.error == "busy"

    def drain_once(self, *, budget: float | None = None, wait: float | None = None) -> Drained:
        """Send one batch (the oldest queued items).  ``wait``: how long to wait for the lock."""
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            return Drained(error="busy")
        try:
            return self._drain(budget)
        except StoreWriteFailed as exc:  # the till's disk refused: back off like a failed send
            self._fail(exc.message)
            return Drained(error=exc.message)
        finally:
            self._lock.release()

    def drain(self, *, until_empty: bool = True, max_batches: int = 1_000_000) -> Drained:
        """Send batches until the queue is empty, a batch fails, or ``max_batches``."""
        total = Drained()
        for _ in range(max_batches):
            got = self.drain_once()
            total = Drained(
                total.sent + got.sent,
                total.acked + got.acked,
                total.rejected + got.rejected,
                got.left,
                got.error,
            )
            if got.error or got.sent == 0 or not until_empty or got.left == 0:
                break
        return total

    def _batch(self) -> tuple[list[OutboxItem], int]:
        with self.store.read() as s:
            rows = list(
                s.scalars(
                    select(OutboxItem)
                    .where(OutboxItem.state == "queued")
                    .order_by(OutboxItem.seq)
                    .limit(self.max_items)
                )
            )
            left = len(rows)
        batch: list[OutboxItem] = []
        size = 0
        for row in rows:
            item_size = len(json.dumps(row.body, ensure_ascii=False).encode()) + 200
            if batch and size + item_size > self.max_bytes:
                break
            batch.append(row)
            size += item_size
        return batch, left

    def _drain(self, budget: float | None) -> Drained:
        batch, _ = self._batch()
        if not batch:
            return Drained()
        body = {
            "batch_id": str(uuid.uuid4()),
            "items": [
                {
                    "seq": row.seq,
                    "idempotency_key": row.op_id,
                    "kind": row.kind,
                    "occurred_at": row.occurred_at.isoformat(),
                    "body": row.body,
                }
                for row in batch
            ],
        }
        try:
            reply = self.gateway.push_batch(body, timeout=budget or DEFAULT_TIMEOUT)
        except RateLimited as exc:
            self._note_attempt(batch, exc.message)
            self._fail(exc.message, exc.retry_after)
            return Drained(sent=len(batch), error=exc.message)
        except (Unreachable, Ambiguous) as exc:
            self._note_attempt(batch, exc.message)
            self._fail(exc.message)
            return Drained(sent=len(batch), error=exc.message)
        except Rejected as exc:  # the whole batch refused (401/403/400): keep every item
            self._note_attempt(batch, f"{exc.code}: {exc.message}")
            self._fail(exc.message)
            return Drained(sent=len(batch), error=exc.message)
        self.reset_backoff()
        self.last_error = None
        acked, rejected = self._apply(batch, reply.body)
        self._resume_numbering(reply.body)
        with self.store.read() as s:
            left = len(
                s.scalars(select(OutboxItem.seq).where(OutboxItem.state == "queued").limit(1)).all()
            )
        return Drained(sent=len(batch), acked=acked, rejected=rejected, left=left)

    def _note_attempt(self, batch: list[OutboxItem], error: str) -> None:
        with self.store.write() as s:
            for row in batch:
                item = s.get(OutboxItem, row.seq)
                if item is not None and item.state == "queued":
                    item.attempts += 1
                    item.last_error = error[:500]

    def _apply(self, batch: list[OutboxItem], answer: dict[str, Any]) -> tuple[int, int]:
        results = {int(r["seq"]): r for r in answer.get("results", [])}
        now = self.clock()
        acked = rejected = 0
        with self.store.write() as s:
            for row in batch:
                result = results.get(row.seq)
                item = s.get(OutboxItem, row.seq)
                if result is None or item is None or item.state != "queued":
                    continue  # not answered: stays queued, goes again with the same key
                if _reused(result):
                    continue  # renumbered below and sent again: never applied, never refused
                if result["status"] in ("accepted", "duplicate"):
                    item.state, item.acked_at = "acked", now
                    item.result = result.get("result") or {}
                    self._effects(s, item)
                    acked += 1
                else:
                    error = result.get("error") or {}
                    item.state = "rejected"
                    item.reason = f"{error.get('code', 'rejected')}: {error.get('message', '')}"[
                        :2000
                    ]
                    rejected += 1
            s.merge(Meta(key="last_push_at", value=now.isoformat()))
        return acked, rejected

    def _resume_numbering(self, answer: dict[str, Any]) -> None:
        """The service already had this till's next numbers (``seq_reused``: its database was
        restored from an old copy, or copied without its ``-wal``): renumber every item still
        queued from the service's ``next_expected_seq``, in the same order, so the queue goes on
        flowing.  Each keeps its idempotency key, so nothing can apply twice."""
        reused = [int(r["seq"]) for r in answer.get("results", []) if _reused(r)]
        resume = answer.get("next_expected_seq")
        if not reused or not isinstance(resume, int) or resume <= min(reused):
            return
        first = min(reused)
        with self.store.write() as s:
            moving = list(
                s.scalars(
                    select(OutboxItem.seq)
                    .where(OutboxItem.state == "queued", OutboxItem.seq >= first)
                    .order_by(OutboxItem.seq)
                )
            )
            if not moving:
                return
            taken = set(s.scalars(select(OutboxItem.seq).where(OutboxItem.seq >= resume)))
            quiet = {"synchronize_session": False}
            # Two steps, so no row ever takes a number another still holds.
            s.execute(
                update(OutboxItem)
                .where(OutboxItem.seq.in_(moving))
                .values(seq=-OutboxItem.seq)
                .execution_options(**quiet)
            )
            new_seq = resume
            for old in moving:
                while new_seq in taken:
                    new_seq += 1
                s.execute(
                    update(OutboxItem)
                    .where(OutboxItem.seq == -old)
                    .values(seq=new_seq)
                    .execution_options(**quiet)
                )
                new_seq += 1
            counter = s.get(SeqCounter, "seq")
            if counter is not None and counter.value < new_seq - 1:
                counter.value = new_seq - 1
            s.merge(Meta(key="seq_resumed_at", value=f"{first}->{resume}"))
        self.last_error = None

    @staticmethod
    def _effects(s: Any, item: OutboxItem) -> None:
        """What the service's answer changes on the till: confirmed earn, mapped customers."""
        result = item.result or {}
        if item.kind in ("purchase", "confirm") and item.subject:
            sale = s.get(Sale, item.subject)
            earned = result.get("earned") or {}
            points = earned.get("points") if isinstance(earned, dict) else None
            if points is None:
                points = result.get("earn_points")
            if sale is not None and points is not None:
                sale.earn_points, sale.earn_confirmed = Decimal(str(points)), True
        if item.kind == "register" and item.subject:
            local = s.get(CachedCustomer, item.subject)
            customer = result.get("customer") or {}
            if local is not None and customer.get("id"):
                local.server_id = customer["id"]
                local.verified = bool(customer.get("phone_confirmed"))


def _reused(result: dict[str, Any]) -> bool:
    error = result.get("error") or {}
    return result.get("status") == "rejected" and error.get("code") == "seq_reused"


def run_forever(sender: Sender, stop: threading.Event, *, idle: float = 5.0) -> None:
    """The background loop: drain, then sleep until the backoff ends or ``idle`` passes."""
    while not stop.is_set():
        if not sender.backing_off:
            got = sender.drain()
            if got.left and not got.error:
                continue
        stop.wait(max(0.2, min(idle, sender._not_before - time.monotonic())))
