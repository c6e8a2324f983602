"""Offer sheets: what a till printed for a customer (goods, quantities, valid till a day), recorded
centrally so a consultant or another till can see it.

Owns: :func:`record` (the ``offer_sheet`` item of ``/sync/transactions``: a till queues every
sheet it issues, online or not) and the route ``GET /customers/{id}/offer-sheets``.

- A sheet is recorded once, by its ``sheet_id`` (a UUID, kept in lower case): the same sheet again
  under another Idempotency-Key (a till that lost its queue) answers the stored sheet as a natural
  replay, so the batch reports ``duplicate``; the same key again is a plain replay.
- The customer must be live (``404 not_found`` otherwise: the item is refused and kept for
  review); a customer the till registered offline is named by the till's local id and mapped to
  the real account by the batch (as queued sales are).
- Quantities are positive with at most 3 decimals and are stored normalised (``"1"`` →
  ``"1.000"``); ``valid_till`` may not be before the day the sheet was issued (on the till's clock).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from cashier.money import format_quantity, parse_quantity
from processing.api_accounts import CustomerId
from processing.carts import live_customer
from processing.deps import API, DB, ERRORS, Now, Till, TillRef
from processing.errors import ApiError
from processing.idempotency import Answer
from processing.models import OfferSheet
from sync.protocol_desk import (
    OfferSheetIn,
    OfferSheetLineOut,
    OfferSheetOut,
    OfferSheetRecorded,
    OfferSheetsResponse,
)

router = APIRouter(prefix=API, tags=["offer sheets"])

LIST_LIMIT = 20


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        400, "validation_error", message, details=[{"field": field, "message": message}]
    )


def _lines(body: OfferSheetIn) -> list[dict[str, str]]:
    lines = []
    for i, line in enumerate(body.items):
        qty = parse_quantity(line.qty)
        if qty <= 0:
            raise _invalid(f"/body/items/{i}/qty", "The quantity must be above zero.")
        lines.append({"sku": line.sku, "qty": format_quantity(qty)})
    return lines


def _out(row: OfferSheet) -> OfferSheetOut:
    return OfferSheetOut(
        sheet_id=row.sheet_id,
        customer_id=row.customer_id,
        store_id=row.store_id,
        device_id=row.device_id,
        items=[OfferSheetLineOut(sku=i["sku"], qty=i["qty"]) for i in row.items],
        valid_till=row.valid_till,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
    )


def _recorded(row: OfferSheet, now: datetime) -> OfferSheetRecorded:
    return OfferSheetRecorded(**_out(row).model_dump(), server_time=now)


def record(session: Session, till: TillRef, body: OfferSheetIn, now: datetime) -> Answer:
    """Record an offer sheet once (see the module docstring); runs in the caller's transaction.

    Raises:
        ApiError: 404 ``not_found`` for an unknown customer; 400 ``validation_error`` for a
            quantity of zero or a ``valid_till`` before the day of issue.
    """
    sheet_id = body.sheet_id.lower()
    known = session.get(OfferSheet, sheet_id)
    if known is not None:
        return Answer(200, _recorded(known, now), replay="natural")
    customer = live_customer(session, body.customer_id)
    lines = _lines(body)
    if body.valid_till < body.occurred_at.date():
        raise _invalid("/body/valid_till", "The sheet is valid till a day before it was issued.")
    row = OfferSheet(
        sheet_id=sheet_id,
        customer_id=customer.id,
        store_id=till.store_id,
        device_id=till.device_id,
        items=lines,
        valid_till=body.valid_till,
        occurred_at=body.occurred_at,
        received_at=now,
    )
    session.add(row)
    session.flush()
    return Answer(201, _recorded(row, now))


@router.get(
    "/customers/{customer_id}/offer-sheets", response_model=OfferSheetsResponse, responses=ERRORS
)
def customer_offer_sheets(
    customer_id: CustomerId, till: Till, session: DB, now: Now
) -> OfferSheetsResponse:
    """The offer sheets issued to the customer, newest first (by when they were issued), at most
    20.  An unknown or deleted customer is ``404 not_found``."""
    customer = live_customer(session, customer_id)
    rows = session.scalars(
        select(OfferSheet)
        .where(OfferSheet.customer_id == customer.id)
        .order_by(OfferSheet.occurred_at.desc(), OfferSheet.sheet_id.desc())
        .limit(LIST_LIMIT)
    )
    return OfferSheetsResponse(items=[_out(row) for row in rows], server_time=now)


__all__ = ["LIST_LIMIT", "record", "router"]
