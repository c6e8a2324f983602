"""What the till's use cases take and give: results, drafts, errors, and the slip's code.

Owns: the plain values :class:`cashier.till.Till` works with (no database, no network), the
cashier-language explanation of a service's refusal, and the loyalty slip's QR code.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cashier.errors import UserFacingError
from cashier.gateway import Rejected
from cashier.i18n import N_, _
from cashier.quote import Payment, Quote

IN_SALE_BUDGET = 1.5
"""Seconds a sale may wait for the service in all (identify, hold, delivery), then offline."""
MIN_CALL_S = 0.05


class Served(StrEnum):
    ONLINE = "online"
    """The processing service answered within the sale."""
    OFFLINE = "offline"
    """The till's own cache and rules answered (the service was not reachable in time)."""
    QUEUED = "queued"
    """Written durably and waiting in the outbox for the service."""


class TillError(UserFacingError):
    code = "till_error"


class NotSynced(TillError):
    code = "not_synced"


@dataclass(frozen=True)
class CustomerView:
    id: str
    display_name: str
    tier: str | None
    verified: bool
    phone_masked: str | None
    available: Decimal | None
    """Points the customer may spend (the service's figure online, the cached snapshot offline)."""
    pending: Decimal | None = None
    balance_as_of: datetime | None = None
    auth_level: str = "identified"
    local: bool = False
    """Registered on this till offline and not yet known to the service."""
    tier_name: str | None = None
    next_tier: str | None = None
    next_tier_missing: int | None = None
    """Kopecks still to spend to reach ``next_tier`` (the service's figure; online only)."""
    next_activation: tuple[Decimal, datetime] | None = None
    """Pending points and the moment they become spendable (online only)."""
    next_expiry: tuple[Decimal, datetime] | None = None
    """Points that expire soonest and when (online only)."""
    missing: tuple[str, ...] = ()
    """What the customer has not given yet (``email``, ``birth_date``; online only)."""
    wallet_token: str | None = field(default=None, repr=False)
    """The signed wallet QR the customer showed: proves presence to spend without an SMS code."""


@dataclass(frozen=True)
class Identified:
    customer: CustomerView | None
    served: Served
    status: str
    """found | not_found | card_blocked | unrecognised"""
    message: str | None = None


@dataclass(frozen=True)
class Item:
    """A cart line as the cashier rang it up: ``qty`` in thousandths, ``unit_price`` in kopecks."""

    sku: str
    qty: int
    unit_price: int
    category: str | None = None
    name: str | None = None
    line_id: str = ""


@dataclass(frozen=True)
class Priced:
    quote: Quote
    customer: CustomerView | None
    served: Served
    lines: tuple[Item, ...]


@dataclass(frozen=True)
class Committed:
    sale_id: str
    seq: int
    served: Served
    quote: Quote
    message: str
    offline: bool


@dataclass(frozen=True)
class CashierView:
    id: str
    name: str
    role: str


@dataclass(frozen=True)
class Returned:
    return_id: str
    seq: int
    served: Served
    points_restored: Decimal
    points_revoked: Decimal
    refund_amount: int
    complete: bool


@dataclass
class Draft:
    """A sale being rung up: its id is made once, so a retried hold is the same purchase."""

    lines: list[Item]
    customer: CustomerView | None = None
    redeem: Decimal | str = "max"
    payments: list[Payment] = field(default_factory=list)
    purchase_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hold_key: str | None = None
    held: Decimal = Decimal(0)
    shift_no: int | None = None
    cashier_id: str | None = None
    confirmation_token: str | None = None
    """From an SMS code the customer read out: allows spending above the program's threshold."""


def _now() -> datetime:
    return datetime.now(UTC)


def body_hash(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


_EXPLAIN = {
    "otp_required": N_(
        "The customer must confirm spending this many points: send an SMS code or scan the "
        "customer's wallet QR."
    ),
    "otp_invalid": N_("The SMS code was not accepted: send a new code."),
    "otp_expired": N_("The SMS code has expired: send a new code."),
    "insufficient_points": N_("The customer has fewer points now: calculate again."),
    "redeem_limit_exceeded": N_("That many points cannot pay for this purchase: calculate again."),
    "price_changed": N_("The totals changed since the calculation: check them and confirm again."),
    "coupon_invalid": N_("A coupon cannot be used: remove it from the sale."),
    "card_blocked": N_("The card is blocked: ask for the phone number instead."),
    "unauthenticated": N_("The till's key is no longer valid: enrol the till again."),
    "forbidden": N_("The service has disabled this till: call the administrator."),
    "token_expired": N_(
        "The till's key has expired: ask the administrator for a code (processing device "
        "rotate) and enrol the till again; its queue is kept."
    ),
    "forbidden_for_role": N_(
        "This device is not enrolled as a till (it is a store tablet or a consultant's desk): "
        "ask the administrator for a till's enrolment code."
    ),
    "other_chain": N_("This sale was made in another chain: it can be returned only there."),
}


def explain(exc: Rejected) -> str:
    """What a cashier reads for a refusal by the service, in the till's language."""
    known = _EXPLAIN.get(exc.code)
    return _(known) if known else exc.message


SLIP_PREFIX = "LS1."


def slip_code(sale_id: str) -> str:
    """What the loyalty slip's QR holds: the sale's id, so a return finds it in one scan."""
    return SLIP_PREFIX + sale_id


def parse_slip(text: str) -> str:
    """The sale id from a slip's QR (``LS1.<id>``) or a typed id; scanner noise trimmed."""
    cleaned = text.strip()
    if cleaned.upper().startswith(SLIP_PREFIX):
        cleaned = cleaned[len(SLIP_PREFIX) :]
    if not cleaned or len(cleaned) > 64 or not all(c.isalnum() or c in "-_." for c in cleaned):
        raise TillError(_("This is not a receipt's code: scan the QR on the loyalty slip."))
    return cleaned
