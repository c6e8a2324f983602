"""Customers' own business at a till or a store tablet: registration with consents, the
hand-off to the till, and the record of a personal-offer sheet.

Owns: :class:`Form` (what a customer filled in), :func:`register` (online at once, verified with
an SMS code's token; offline queued unverified), :class:`Registered` (what the customer got, for
the kiosk to explain), :func:`hand_off` (the customer who just registered or identified on a
tablet, sent to the tills of the store) and :func:`record_sheet` (an issued offer sheet, queued
in the outbox like a sale).  The service decides bonuses; this module only reports them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from cashier.gateway import Ambiguous, RateLimited, Rejected, Unreachable
from cashier.i18n import _
from cashier.identifiers import mask_phone, normalize_phone
from cashier.lookup import bucket, digest, key_from_rules
from cashier.store.models import CachedCustomer
from cashier.till import CustomerView, Served, Till, TillError, explain

TERMS_VERSION = "2026-11"
"""The version of the personal-data terms the kiosk shows; recorded with the consent."""


@dataclass(frozen=True)
class Form:
    phone: str
    first_name: str | None = None
    birth_date: date | None = None
    email: str | None = None
    pd_consent: bool = True
    sms_consent: bool = False
    email_consent: bool = False
    terms_version: str | None = None
    confirmation_token: str | None = None


@dataclass(frozen=True)
class Registered:
    customer: CustomerView
    status: str
    """created | already_exists | updated (the service's answer) | queued (offline)"""
    served: Served
    welcome_points: Decimal | None = None
    profile_points: Decimal | None = None
    completed: tuple[str, ...] = ()


def _body(form: Form, e164: str, now_iso: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "phone": e164,
        "first_name": form.first_name or None,
        "consents": {
            "pd_processing": form.pd_consent,
            "sms": form.sms_consent,
            "email": form.email_consent,
            **({"terms_version": form.terms_version} if form.terms_version else {}),
        },
        "occurred_at": now_iso,
    }
    if form.birth_date is not None:
        body["birth_date"] = form.birth_date.isoformat()
    if form.email:
        body["email"] = form.email.strip()
    return body


def register(till: Till, form: Form) -> Registered:
    """Register (or, with a token, complete) a customer: online at once, or — when the service
    cannot be reached — queued unverified (earns, cannot spend, no welcome bonus until the phone
    is verified at a till or a tablet)."""
    till.store.check_healthy()
    if not form.pd_consent:
        raise TillError(
            _("The customer must agree to the processing of personal data to join the program.")
        )
    e164 = normalize_phone(form.phone)
    rules = till.rules()
    key = key_from_rules(rules.phone_hash_key, rules.lookup)
    now = till.clock()
    body = _body(form, e164, now.isoformat())
    if till.gateway is not None and till.online:
        try:
            online = dict(body, confirmation_token=form.confirmation_token)
            reply = till.gateway.register(online, str(uuid.uuid4()), timeout=till.budget)
            answer = reply.body
            found = till._identified_online(
                {
                    "status": "found",
                    "customer": answer["customer"],
                    "balance": answer.get("balance"),
                }
            )
            if found.customer is not None:
                with till.store.write() as s:
                    row = s.get(CachedCustomer, found.customer.id)
                    if row is not None:  # salted with the service's id, as the sync sends it
                        row.phone_bucket = bucket("phone", e164, key)
                        row.phone_digest = digest("phone", e164, key, row.id)
                return Registered(
                    found.customer,
                    str(answer.get("status", "created")),
                    Served.ONLINE,
                    _points(answer.get("welcome_points")),
                    _points(answer.get("profile_points")),
                    tuple(answer.get("completed") or ()),
                )
        except Rejected as exc:
            raise TillError(explain(exc), code=exc.code) from None
        except (Unreachable, Ambiguous, RateLimited):
            till.went_offline()  # an ambiguous one is fine: the queued one maps to it by phone
    local_id = f"local_{uuid.uuid4().hex[:12]}"
    body["local_id"] = local_id
    with till.store.write() as s:
        s.add(
            CachedCustomer(
                id=local_id,
                phone_bucket=bucket("phone", e164, key),
                phone_digest=digest("phone", e164, key, local_id),
                phone_masked=mask_phone(e164),
                display_name=form.first_name or mask_phone(e164),
                verified=False,
                balance=Decimal(0),
                balance_as_of=now,
                local=True,
            )
        )
        seq = till._enqueue(s, "register", local_id, body).seq
    till._delivered(seq)
    with till.store.read() as s:
        fresh = s.get(CachedCustomer, local_id)
        assert fresh is not None
        return Registered(till._view(fresh), "queued", Served.QUEUED)


def _points(text: Any) -> Decimal | None:
    return Decimal(str(text)) if text not in (None, "") else None


def hand_off(till: Till, customer_id: str) -> bool:
    """Show the customer on the store's tills (online only; a kiosk offline says so).  Whether
    the service took it."""
    if till.gateway is None or not till.online or customer_id.startswith("local_"):
        return False
    body = {"customer_id": customer_id, "occurred_at": till.clock().isoformat()}
    try:
        till.gateway.create_handoff(body, str(uuid.uuid4()), timeout=till.budget)
    except Rejected as exc:
        raise TillError(explain(exc), code=exc.code) from None
    except (Unreachable, Ambiguous, RateLimited):
        till.went_offline()
        return False
    return True


def record_sheet(till: Till, event: dict[str, Any]) -> Served:
    """Record an issued offer sheet centrally: queued in the outbox (sent at once if online)."""
    with till.store.write() as s:
        seq = till._enqueue(s, "offer_sheet", str(event["sheet_id"]), event).seq
    return till._delivered(seq)


@dataclass(frozen=True)
class HistoryPage:
    items: tuple[dict[str, Any], ...]
    next_cursor: str | None
    served: Served


def history_page(till: Till, customer_id: str, cursor: str | None = None) -> HistoryPage:
    """One page of the customer's points history, newest first: from the service (every store
    and chain, with pending points' dates), or — offline — this till's own sales."""
    if till.gateway is not None and till.online and not customer_id.startswith("local_"):
        try:
            body = till.gateway.history(customer_id, cursor, timeout=till.budget).body
            return HistoryPage(
                tuple(body.get("items") or ()), body.get("next_cursor"), Served.ONLINE
            )
        except Rejected as exc:
            raise TillError(explain(exc), code=exc.code) from None
        except (Unreachable, Ambiguous, RateLimited):
            till.went_offline()
    items, _served = till.history(customer_id)
    return HistoryPage(tuple(items), None, Served.OFFLINE)
