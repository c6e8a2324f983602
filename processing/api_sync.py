"""What a till pulls for its offline cache besides customers and rules: the catalogue and the
cashiers of its store (docs/protocol.md I).

Owns: the routes ``GET /sync/catalogue`` (paged by a ``(updated_at, sku)`` watermark, like
``/sync/customers``) and ``GET /sync/cashiers``.  Both are reads in one transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select, tuple_

from cashier.money import format_money
from processing.cursors import Cursor
from processing.deps import API, DB, ERRORS, Now, Till
from processing.models import Cashier, CatalogueItem
from sync.protocol_sync import (
    CashierOut,
    CatalogueItemOut,
    SyncCashiersResponse,
    SyncCatalogueResponse,
)

router = APIRouter(prefix=API, tags=["offline cache"])

CATALOGUE = Cursor("k1|", "read the catalogue again without it")
"""Catalogue cursors carry their own prefix, so a cursor of another list is refused, not misread."""


@router.get("/sync/catalogue", response_model=SyncCatalogueResponse, responses=ERRORS)
def sync_catalogue(
    session: DB,
    now: Now,
    till: Till,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> SyncCatalogueResponse:
    """The catalogue by cursor: without one, everything from the start, in pages of ``limit``;
    with the last ``next_cursor`` a till kept, only the items changed since."""
    stmt = (
        select(CatalogueItem).order_by(CatalogueItem.updated_at, CatalogueItem.sku).limit(limit + 1)
    )
    if cursor:
        stmt = stmt.where(
            tuple_(CatalogueItem.updated_at, CatalogueItem.sku) > CATALOGUE.decode(cursor)
        )
    rows = list(session.scalars(stmt))
    page, more = rows[:limit], len(rows) > limit
    items = [
        CatalogueItemOut(
            sku=row.sku,
            name=row.name,
            category=row.category,
            price=format_money(row.price),
            weighed=row.weighed,
            updated_at=row.updated_at,
        )
        for row in page
    ]
    next_cursor = CATALOGUE.encode(page[-1].updated_at, page[-1].sku) if page else cursor
    return SyncCatalogueResponse(
        items=items, next_cursor=next_cursor, has_more=more, server_time=now
    )


@router.get("/sync/cashiers", response_model=SyncCashiersResponse, responses=ERRORS)
def sync_cashiers(session: DB, now: Now, till: Till) -> SyncCashiersResponse:
    """The cashiers of the calling till's store, with their PIN hashes, so the till can let a
    cashier in by PIN while the service is unreachable.

    The hash is the one the service keeps (scrypt with a per-PIN salt, :mod:`processing.security`).
    The trade-off: a PIN of 4 digits has 10 000 values, so anyone holding a hash finds the PIN by
    trying them all, offline, whatever the hashing (scrypt only makes that take minutes, not
    microseconds).  So the till's database must stay on the till (not copied, not sent along with
    logs), and a PIN only lets a cashier into that store's tills; other stores' cashiers are never
    sent.
    """
    rows = session.scalars(
        select(Cashier).where(Cashier.store_id == till.store_id).order_by(Cashier.name, Cashier.id)
    )
    items = [CashierOut(id=c.id, name=c.name, role=c.role, pin_hash=c.pin_hash) for c in rows]
    return SyncCashiersResponse(store_id=till.store_id, items=items, server_time=now)


__all__ = ["router"]
