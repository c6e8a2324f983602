"""The wire format of what a till pulls for its offline cache besides customers and rules
(docs/protocol.md I): the catalogue and the store's cashiers.

Owns: the response shapes of ``GET /sync/catalogue`` and ``GET /sync/cashiers``, in the style of
:mod:`sync.protocol`: responses ignore unknown fields, money is a decimal string with 2 decimals,
and every response carries ``server_time``.
"""

from __future__ import annotations

from pydantic import AwareDatetime

from sync.protocol import Money, Response


# -- catalogue ------------------------------------------------------------------------------------
class CatalogueItemOut(Response):
    sku: str
    name: str
    category: str
    price: Money
    """The shelf price of one piece (or of one kilogram when ``weighed``)."""
    weighed: bool
    updated_at: AwareDatetime


class SyncCatalogueResponse(Response):
    items: list[CatalogueItemOut]
    """Ordered by ``(updated_at, sku)``: the cursor is a watermark, so a till that keeps its last
    ``next_cursor`` later gets only what changed since."""
    next_cursor: str | None
    """Pass it as ``cursor`` for the next page; the same cursor again when nothing is newer."""
    has_more: bool
    server_time: AwareDatetime


# -- cashiers -------------------------------------------------------------------------------------
class CashierOut(Response):
    id: str
    name: str
    role: str
    """``cashier`` or ``senior`` (may grow)."""
    pin_hash: str
    """``scrypt$<salt hex>$<hash hex>``: scrypt over the UTF-8 PIN with that salt, n=2**14, r=8,
    p=1, dklen=64 (Python's :func:`hashlib.scrypt` defaults), so the till can check a PIN offline."""


class SyncCashiersResponse(Response):
    store_id: str
    items: list[CashierOut]
    server_time: AwareDatetime


__all__ = ["CashierOut", "CatalogueItemOut", "SyncCashiersResponse", "SyncCatalogueResponse"]
