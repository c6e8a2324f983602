"""Hand-offs: a kiosk (or a till) passes an identified customer to the tills of its store.

Owns: :func:`create` (``POST /handoffs``) and :func:`page` (one look for ``GET /handoffs``; the
route in :mod:`processing.api_handoffs` repeats it while long-polling).

- A hand-off names a live customer and lives 5 minutes (``expires_at``); it is offered to every
  till of the poster's store except the poster itself, oldest first, 20 at a time.
- A till polls with the last id it saw (``after``).  Ids grow in commit order within a store: the
  store's row is locked while a hand-off is added (PostgreSQL; SQLite serialises writers anyway),
  and a page only looks at ids up to the store's newest id read *before* it, so an id a till has
  passed can never commit later.
- A first call (``after=0``, or an ``after`` above the store's newest id: the till's cursor comes
  from another database) does not replay the past: it answers the store's newest id as
  ``last_id`` and, as items, only hand-offs of the last 30 s (a customer handed off just before the
  till started polling is still found).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cashier.identifiers import mask_phone
from cashier.program import Program
from processing import customers as cust
from processing.bonuses import audit
from processing.deps import TillRef
from processing.errors import ApiError
from processing.idempotency import Answer
from processing.models import Customer, Handoff, Store
from sync.protocol_desk import HandoffCreated, HandoffItem, HandoffRequest

HANDOFF_TTL = timedelta(minutes=5)
FIRST_CALL_WINDOW = timedelta(seconds=30)
PAGE_SIZE = 20


@dataclass(frozen=True)
class Page:
    items: list[HandoffItem]
    last_id: int


def create(session: Session, till: TillRef, body: HandoffRequest, now: datetime) -> Answer:
    """Hand ``body.customer_id`` off to the other tills of the caller's store.

    Raises:
        ApiError: 404 ``not_found`` when the customer is unknown, deleted or merged.
    """
    customer = session.get(Customer, body.customer_id)
    if customer is None or customer.deleted:
        raise ApiError(
            404,
            "not_found",
            f"There is no customer {body.customer_id}: identify the customer again.",
        )
    # Serialise hand-offs of one store so that their ids commit in order (see the docstring).
    session.scalars(select(Store.id).where(Store.id == till.store_id).with_for_update()).one()
    row = Handoff(
        store_id=till.store_id,
        device_id=till.device_id,
        customer_id=customer.id,
        created_at=now,
        expires_at=now + HANDOFF_TTL,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        "handoff.create",
        customer.id,
        {
            "handoff_id": row.id,
            "store_id": till.store_id,
            "device_id": till.device_id,
            "occurred_at": body.occurred_at.isoformat() if body.occurred_at else None,
        },
        now,
    )
    return Answer(
        201,
        HandoffCreated(
            id=row.id,
            customer_id=customer.id,
            store_id=row.store_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            server_time=now,
        ),
    )


def page(session: Session, program: Program, till: TillRef, after: int, now: datetime) -> Page:
    """The hand-offs the calling till has not seen after ``after`` (see the module docstring)."""
    newest = (
        session.scalar(select(func.max(Handoff.id)).where(Handoff.store_id == till.store_id)) or 0
    )
    first = after == 0 or after > newest
    stmt = (
        select(Handoff, Customer)
        .join(Customer, Customer.id == Handoff.customer_id)
        .where(
            Handoff.store_id == till.store_id,
            Handoff.id <= newest,
            Handoff.device_id != till.device_id,
            Handoff.expires_at > now,
            Customer.deleted.is_(False),
        )
        .order_by(Handoff.id)
        .limit(PAGE_SIZE)
    )
    if first:
        stmt = stmt.where(Handoff.created_at >= now - FIRST_CALL_WINDOW)
    else:
        stmt = stmt.where(Handoff.id > after)
    rows = [(row[0], row[1]) for row in session.execute(stmt)]
    last_id = rows[-1][0].id if len(rows) == PAGE_SIZE else newest
    if not rows:
        return Page([], last_id)
    people = list({c.id: c for _h, c in rows}.values())
    spends = cust.spends_of(session, program, people, now)
    items = []
    for handoff, customer in rows:
        tier = cust.tier_of(program, customer, spends[customer.id])
        items.append(
            HandoffItem(
                id=handoff.id,
                customer_id=customer.id,
                display_name=cust.display_name(customer),
                phone_masked=mask_phone(customer.phone) if customer.phone else None,
                tier=tier.code,
                tier_name=tier.name,
                verified=customer.phone_verified,
                created_at=handoff.created_at,
                device_id=handoff.device_id,
            )
        )
    return Page(items, last_id)


__all__ = ["FIRST_CALL_WINDOW", "HANDOFF_TTL", "PAGE_SIZE", "Page", "create", "page"]
