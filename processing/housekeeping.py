"""Housekeeping the service does by itself: writing off expired points, closing abandoned holds.

Owns: :func:`expire_points` (an ``expire`` ledger entry for every lot whose points have expired, so
the customer's history says where the points went; balances never depended on it) and
:func:`close_abandoned_holds` (a pending purchase past its hold becomes ``cancelled`` with reason
``hold_expired``; its hold entries already stopped counting at that moment).  A pending purchase
without points is left pending, since its late confirm is accepted.  Both are safe to run
from several workers at once: each customer is locked while its entries are written, and a lot
already written off holds nothing more to expire.  :class:`Housekeeper` runs them periodically in a
background thread of the server process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cashier.ledger import expired_lots, lot_expiry
from processing import customers as cust
from processing.models import Customer, LedgerEntry, Purchase
from processing.state import NoProgram, active_program

log = logging.getLogger("processing.housekeeping")
BATCH = 200


def close_abandoned_holds(session: Session, now: datetime) -> int:
    """Mark pending purchases whose hold of points has expired as cancelled; returns how many.

    A pending purchase without points stays pending: the protocol accepts its late confirm.
    """
    result = session.execute(
        update(Purchase)
        .where(
            Purchase.state == "pending",
            Purchase.hold_expires_at <= now,
            Purchase.redeem_points > 0,
        )
        .values(state="cancelled", cancel_reason="hold_expired")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def expire_customer(session: Session, customer_id: str, now: datetime) -> int:
    """Write off the customer's expired lots (customer locked); returns the entries written."""
    program = active_program(session).program
    customer = session.scalars(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    ).first()
    if customer is None:
        return 0
    lots, _loose = cust.lots(session, customer_id, now)
    written = 0
    for lot_id, remaining in expired_lots(program, lots, now, customer.last_purchase_at):
        lot = next(lot for lot in lots if lot.lot_id == lot_id)
        when = lot_expiry(program, lot, customer.last_purchase_at) or now
        session.add(
            LedgerEntry(
                customer_id=customer_id,
                kind="expire",
                amount=-remaining,
                lot_id=int(lot_id),
                occurred_at=when,
                created_at=now,
                note=f"{program.expiry_policy.value}: {program.expiry_months} months",
            )
        )
        written += 1
    if written:
        customer.updated_at = now  # the tills' customer sync carries the new balance
    return written


def expire_points(factory: sessionmaker[Session], now: datetime) -> int:
    """Write off expired points of every customer, a batch of customers per transaction."""
    with factory() as session, session.begin():
        ids = list(
            session.scalars(
                select(LedgerEntry.customer_id)
                .where(LedgerEntry.is_lot.is_(True))
                .distinct()
                .order_by(LedgerEntry.customer_id)
            )
        )
    written = 0
    for start in range(0, len(ids), BATCH):
        with factory() as session, session.begin():
            for customer_id in ids[start : start + BATCH]:
                written += expire_customer(session, customer_id, now)
    return written


def run_once(factory: sessionmaker[Session], now: datetime) -> tuple[int, int]:
    """One round: (holds closed, expire entries written)."""
    with factory() as session, session.begin():
        closed = close_abandoned_holds(session, now)
    try:
        expired = expire_points(factory, now)
    except NoProgram:
        expired = 0
    return closed, expired


class Housekeeper:
    """Runs :func:`run_once` every ``every`` in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        every: timedelta = timedelta(minutes=10),
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._every.total_seconds()):
            try:
                closed, expired = run_once(self._factory, self._clock())
                if closed or expired:
                    log.info("housekeeping: %d holds closed, %d lots expired", closed, expired)
            except Exception:  # keep the loop alive; the next round retries
                log.exception("housekeeping failed")
