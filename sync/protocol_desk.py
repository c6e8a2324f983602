"""The wire format of what happens around the till besides sales: hand-offs from a kiosk or a
consultant to a till of the same store, and offer sheets issued to a customer.

Owns: the shapes of ``POST /handoffs``, ``GET /handoffs``, the ``offer_sheet`` item of
``/sync/transactions`` and ``GET /customers/{id}/offer-sheets``, in the style of
:mod:`sync.protocol`: requests refuse unknown fields, responses ignore them, quantities are decimal
strings with 3 decimals, and every response carries ``server_time``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, Field

from sync.protocol import Ident, Quantity, Request, Response

SheetId = Annotated[
    str,
    Field(
        pattern=r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        examples=["4b6f3c1e-2d7a-4f8e-9c3b-1a2b3c4d5e6f"],
    ),
]
"""A UUID the till makes once per sheet (``8-4-4-4-12`` hex digits)."""


# -- hand-offs ------------------------------------------------------------------------------------
class HandoffRequest(Request):
    customer_id: Ident
    occurred_at: AwareDatetime | None = None
    """When the customer was handed off on the posting device's clock (for the audit only)."""


class HandoffCreated(Response):
    id: int
    customer_id: str
    store_id: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    """Five minutes after ``created_at``: after that no till of the store is offered it."""
    server_time: AwareDatetime


class HandoffItem(Response):
    id: int
    customer_id: str
    display_name: str
    phone_masked: str | None = None
    tier: str
    tier_name: str
    verified: bool
    """The customer's phone is verified."""
    created_at: AwareDatetime
    device_id: str
    """The device that posted it (a kiosk or another till of the store)."""


class HandoffsResponse(Response):
    items: list[HandoffItem]
    """Hand-offs of the calling till's store posted by other devices, not expired, with
    ``id > after``, oldest first, at most 20."""
    last_id: int
    """Pass it as ``after`` next time.  On a first call (``after=0``) it is the store's newest id,
    so older hand-offs are not replayed; the items are then only those of the last 30 s."""
    server_time: AwareDatetime


# -- offer sheets ---------------------------------------------------------------------------------
class OfferSheetLine(Request):
    sku: Ident
    qty: Quantity


class OfferSheetIn(Request):
    """The body of an ``offer_sheet`` item of ``/sync/transactions``."""

    sheet_id: SheetId
    customer_id: Ident
    items: Annotated[list[OfferSheetLine], Field(min_length=1, max_length=200)]
    valid_till: date
    occurred_at: AwareDatetime


class OfferSheetLineOut(Response):
    sku: str
    qty: Quantity


class OfferSheetOut(Response):
    sheet_id: str
    customer_id: str
    store_id: str
    device_id: str
    items: list[OfferSheetLineOut]
    valid_till: date
    occurred_at: AwareDatetime
    received_at: AwareDatetime


class OfferSheetRecorded(OfferSheetOut):
    """The result of an ``offer_sheet`` item (a sheet already recorded answers ``duplicate``)."""

    server_time: AwareDatetime


class OfferSheetsResponse(Response):
    items: list[OfferSheetOut]
    """Newest first (by ``occurred_at``), at most 20."""
    server_time: AwareDatetime


__all__ = [
    "HandoffCreated",
    "HandoffItem",
    "HandoffRequest",
    "HandoffsResponse",
    "OfferSheetIn",
    "OfferSheetLine",
    "OfferSheetLineOut",
    "OfferSheetOut",
    "OfferSheetRecorded",
    "OfferSheetsResponse",
]
