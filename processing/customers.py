"""Customers as the service sees them: lookup by any identifier, balance from the ledger, views.

Owns: resolving an identifier (phone, card, wallet QR, Mindbox QR, id) to a customer, deriving
the balance from ledger entries through the shared ledger math, the tier from window spend, and the
customer view sent to tills.  The ledger is the truth; nothing here caches a balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cashier.errors import InvalidIdentifier, UserFacingError
from cashier.identifiers import (
    IdentifierKind,
    classify,
    mask_phone,
    normalize_card,
    normalize_phone,
    parse_mindbox_qr,
)
from cashier.ledger import Balance, Lot, SpendEvent, balance, window_spend
from cashier.ledger_time import add_months
from cashier.program import Program, Tier
from processing import wallet_keys
from processing.models import Card, Customer, LedgerEntry, Purchase, PurchaseReturn

HOLD_KINDS = ("hold", "release")


@dataclass(frozen=True)
class Found:
    status: str
    """found | not_found | card_blocked | unrecognised"""
    customer: Customer | None = None
    card: Card | None = None
    verified: bool = False
    message: str | None = None


def identify(session: Session, kind: str, value: str, now: datetime) -> Found:
    """Resolve an identifier of a given wire type (``phone``, ``card``, ``qr``, ``customer_id``)."""
    try:
        if kind == "phone":
            return _by_phone(session, normalize_phone(value))
        if kind == "card":
            return _by_card(session, normalize_card(value))
        if kind == "customer_id":
            return _by_id(session, value.strip())
        ident = classify(value)
    except InvalidIdentifier as exc:
        return Found("unrecognised", message=exc.message)
    if ident.kind is IdentifierKind.WALLET_TOKEN:
        try:
            token = wallet_keys.verify(session, ident.value, now)
        except UserFacingError as exc:
            return Found("unrecognised", message=exc.message)
        found = _by_id(session, token.customer_id)
        return Found(found.status, found.customer, found.card, verified=found.customer is not None)
    if ident.kind is IdentifierKind.MINDBOX_QR:
        return _by_phone(session, parse_mindbox_qr(ident.value).phone)
    if ident.kind is IdentifierKind.PHONE:
        return _by_phone(session, ident.value)
    if ident.kind is IdentifierKind.CARD:
        return _by_card(session, ident.value)
    return _by_id(session, ident.value)


def _live(customer: Customer | None) -> Customer | None:
    return customer if customer is not None and not customer.deleted else None


def _by_phone(session: Session, phone: str) -> Found:
    customer = _live(session.scalars(select(Customer).where(Customer.phone == phone)).first())
    return Found("found", customer) if customer else Found("not_found")


def _by_id(session: Session, customer_id: str) -> Found:
    customer = _live(session.get(Customer, customer_id))
    return Found("found", customer) if customer else Found("not_found")


def _by_card(session: Session, number: str) -> Found:
    card = session.get(Card, number)
    if card is None:
        return Found("not_found")
    customer = _live(session.get(Customer, card.customer_id))
    if customer is None:
        return Found("not_found")
    if card.status != "active":
        return Found("card_blocked", customer, card)
    return Found("found", customer, card)


_LEDGER_COLUMNS = (
    LedgerEntry.customer_id,
    LedgerEntry.id,
    LedgerEntry.kind,
    LedgerEntry.is_lot,
    LedgerEntry.lot_id,
    LedgerEntry.amount,
    LedgerEntry.available_from,
    LedgerEntry.expires_at,
)


def _lots_of_rows(rows: Sequence[Any], at: datetime | None) -> tuple[list[Lot], Decimal]:
    if at is not None:
        rows = [
            row
            for row in rows
            if not (row.kind in HOLD_KINDS and row.expires_at is not None and row.expires_at <= at)
        ]
    taken: dict[int, Decimal] = {}
    loose = Decimal(0)
    for row in rows:
        if row.lot_id is not None:
            taken[row.lot_id] = taken.get(row.lot_id, Decimal(0)) + row.amount
        elif not row.is_lot:
            loose += row.amount
    result = [
        Lot(
            str(row.id),
            row.amount + taken.get(row.id, Decimal(0)),
            row.available_from or row.expires_at,
            row.expires_at,
        )
        for row in rows
        if row.is_lot
    ]
    return result, loose


def lots(
    session: Session, customer_id: str, at: datetime | None = None
) -> tuple[list[Lot], Decimal]:
    """The customer's lots with what each still holds at ``at``, and the sum of loose entries.

    A hold and the release that ends it carry the hold's expiry: once it passes, both stop counting
    (an expired hold gives the points back by itself; a released one nets to zero either way).
    """
    rows = session.execute(
        select(*_LEDGER_COLUMNS).where(LedgerEntry.customer_id == customer_id)
    ).all()
    return _lots_of_rows(rows, at)


def _balance_of(
    program: Program, found: list[Lot], loose: Decimal, customer: Customer, now: datetime
) -> Balance:
    result = balance(program, found, now, customer.last_purchase_at)
    return Balance(
        result.available + loose, result.pending, result.next_activation, result.next_expiry
    )


def customer_balance(
    session: Session, program: Program, customer: Customer, now: datetime
) -> Balance:
    found, loose = lots(session, customer.id, now)
    return _balance_of(program, found, loose, customer, now)


def balances_of(
    session: Session, program: Program, customers: Sequence[Customer], now: datetime
) -> dict[str, Balance]:
    """Balances of many customers in one query (the tills' customer sync pages)."""
    rows: dict[str, list[Any]] = {c.id: [] for c in customers}
    if rows:
        for row in session.execute(
            select(*_LEDGER_COLUMNS).where(LedgerEntry.customer_id.in_(list(rows)))
        ):
            rows[row.customer_id].append(row)
    return {c.id: _balance_of(program, *_lots_of_rows(rows[c.id], now), c, now) for c in customers}


def _spend_events(session: Session, ids: list[str], since: datetime) -> dict[str, list[SpendEvent]]:
    """Purchases and returns after ``since`` (the tier window's start), per customer."""
    events: dict[str, list[SpendEvent]] = {i: [] for i in ids}
    if not ids:
        return events
    for customer_id, at, amount in session.execute(
        select(Purchase.customer_id, Purchase.occurred_at, Purchase.to_pay).where(
            Purchase.customer_id.in_(ids),
            Purchase.state == "confirmed",
            Purchase.occurred_at > since,
        )
    ):
        events[str(customer_id)].append(SpendEvent(at, amount))
    for customer_id, at, amount in session.execute(
        select(Purchase.customer_id, PurchaseReturn.occurred_at, PurchaseReturn.refund_amount)
        .join(Purchase, Purchase.purchase_id == PurchaseReturn.purchase_id)
        .where(Purchase.customer_id.in_(ids), PurchaseReturn.occurred_at > since)
    ):
        events[str(customer_id)].append(SpendEvent(at, -amount))
    return events


def _window(program: Program, customer: Customer, events: list[SpendEvent], now: datetime) -> int:
    if customer.opening_spend and customer.opening_spend_at is not None:
        events = [*events, SpendEvent(customer.opening_spend_at, customer.opening_spend)]
    return window_spend(program, events, now)


def spend_in_window(session: Session, program: Program, customer: Customer, now: datetime) -> int:
    """Spend over the tier window, net of returns, plus any spend carried over by an import."""
    since = add_months(now, -program.tier_window_months)
    return _window(
        program, customer, _spend_events(session, [customer.id], since)[customer.id], now
    )


def spends_of(
    session: Session, program: Program, customers: Sequence[Customer], now: datetime
) -> dict[str, int]:
    """Window spend of many customers in two queries."""
    events = _spend_events(
        session, [c.id for c in customers], add_months(now, -program.tier_window_months)
    )
    return {c.id: _window(program, c, events[c.id], now) for c in customers}


def tier_of(program: Program, customer: Customer, spend: int) -> Tier:
    if customer.tier_override:
        try:
            floor = program.tier(customer.tier_override)
        except KeyError:
            return program.tier_for_spend(spend)
        by_spend = program.tier_for_spend(spend)
        return by_spend if by_spend.from_spend > floor.from_spend else floor
    return program.tier_for_spend(spend)


def display_name(customer: Customer) -> str:
    first = (customer.first_name or "").strip()
    last = (customer.last_name or "").strip()
    if first and last:
        return f"{first} {last[0]}."
    if first or last:
        return first or last
    return mask_phone(customer.phone) if customer.phone else customer.id


def card_of(session: Session, customer_id: str) -> Card | None:
    return session.scalars(
        select(Card).where(Card.customer_id == customer_id).order_by(Card.number).limit(1)
    ).first()


def count_customers(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Customer)) or 0)
