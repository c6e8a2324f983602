"""Audit rows and one-off bonus lots, shared by registration, profile completion and the OTP flow.

Owns: :func:`audit` (one ``audit`` row) and :func:`bonus_lot` (a ledger lot for a one-off bonus:
``welcome``, ``birthday``, ``profile``: available now, expiring as earned points do, tied to the
till's store, chain and device, with its own audit row).  Whether a bonus is due is decided by the
callers (:mod:`processing.registration`, :mod:`processing.profiles`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cashier.program import Program
from processing.deps import TillRef
from processing.models import AuditRecord, Customer, LedgerEntry


def audit(
    session: Session, action: str, subject: str, detail: dict[str, Any], now: datetime
) -> None:
    session.add(AuditRecord(action=action, subject=subject, detail=detail, at=now))


def bonus_lot(
    session: Session,
    program: Program,
    customer: Customer,
    till: TillRef | None,
    now: datetime,
    kind: str,
    points: Decimal,
    note: str,
) -> LedgerEntry:
    """Write a bonus of ``points`` as a lot of ``kind`` (flushed) and its audit row."""
    entry = LedgerEntry(
        customer_id=customer.id,
        kind=kind,
        amount=points,
        is_lot=True,
        lot_id=None,
        available_from=now,
        expires_at=program.earn_expires_at(now),
        store_id=till.store_id if till else None,
        chain_id=till.chain_id if till else None,
        device_id=till.device_id if till else None,
        occurred_at=now,
        created_at=now,
        flagged=False,
        note=note,
    )
    session.add(entry)
    session.flush()
    audit(
        session,
        f"bonus.{kind}",
        customer.id,
        {
            "entry_id": entry.id,
            "points": str(points),
            "program": program.code,
            "device_id": till.device_id if till else None,
        },
        now,
    )
    return entry


__all__ = ["audit", "bonus_lot"]
