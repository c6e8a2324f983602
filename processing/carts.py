"""Carts on the service: wire lines → engine lines, the customer's state, and calculations.

Owns: what ``/carts/calculate`` and ``/purchases`` share — turning request lines into
:class:`cashier.quote.CartLine` (categories filled from the catalogue), the key a line has in the
engine and the ledger (its ``line_id``, or ``line_id#line_no`` when the till split a line), the
customer's :class:`CustomerState` from the ledger, and the calculation view.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod, Program
from cashier.quote import CartLine, CustomerState, Payment, Quote
from processing import customers as cust
from processing.coupons import CouponCheck, line_coupons
from processing.errors import ApiError
from processing.models import CatalogueItem, Customer
from processing.views import balance_out, quote_lines, quote_totals
from sync.protocol import CalculateResponse, LineIn, PaymentIn

CALCULATION_TTL = timedelta(minutes=5)


def line_key(line_id: str, line_no: int, split: bool) -> str:
    """The engine's and the ledger's id of a line: ``line_id``, or ``line_id#line_no`` if split."""
    return f"{line_id}#{line_no}" if split else line_id


def line_keys(pairs: Sequence[tuple[str, int]]) -> list[str]:
    counts = Counter(line_id for line_id, _ in pairs)
    return [line_key(line_id, no, counts[line_id] > 1) for line_id, no in pairs]


def check_unique_lines(lines: Sequence[LineIn]) -> None:
    seen: set[tuple[str, int]] = set()
    for i, ln in enumerate(lines):
        if (ln.line_id, ln.line_no) in seen:
            raise ApiError(
                400,
                "validation_error",
                f"Line {ln.line_id} number {ln.line_no} appears twice: each line once.",
                details=[{"field": f"/lines/{i}", "message": "duplicate line_id and line_no"}],
            )
        seen.add((ln.line_id, ln.line_no))


def cart_lines(session: Session, lines: Sequence[LineIn]) -> list[CartLine]:
    """Engine lines for request lines; a line without a category takes the catalogue's."""
    check_unique_lines(lines)
    missing = {ln.sku for ln in lines if ln.category is None}
    categories = (
        {
            sku: category
            for sku, category in session.execute(
                select(CatalogueItem.sku, CatalogueItem.category).where(
                    CatalogueItem.sku.in_(missing)
                )
            )
        }
        if missing
        else {}
    )
    keys = line_keys([(ln.line_id, ln.line_no) for ln in lines])
    return [
        CartLine(
            line_id=key,
            sku=ln.sku,
            qty=parse_quantity(ln.qty),
            unit_price=parse_money(ln.unit_price),
            category=ln.category or categories.get(ln.sku),
            no_redeem=ln.flags.no_redeem,
            no_earn=ln.flags.no_earn,
            min_unit_price=parse_money(ln.min_unit_price) if ln.min_unit_price else None,
        )
        for key, ln in zip(keys, lines, strict=True)
    ]


def payments_of(items: Sequence[PaymentIn]) -> list[Payment]:
    return [
        Payment(PaymentMethod(p.type), parse_money(p.amount) if p.amount else None) for p in items
    ]


def live_customer(session: Session, customer_id: str, *, lock: bool = False) -> Customer:
    """The customer, locked for the transaction when ``lock`` (PostgreSQL ``FOR UPDATE``).

    Every write that depends on a customer's balance takes this lock first, so two tills can
    never hold or spend the same points twice.  (SQLite serialises writers already.)
    """
    stmt = select(Customer).where(Customer.id == customer_id)
    if lock:
        stmt = stmt.with_for_update()
    customer = session.scalars(stmt).first()
    if customer is None or customer.deleted:
        raise ApiError(404, "not_found", "The customer is not known: identify the customer again.")
    return customer


def customer_state(
    session: Session, program: Program, customer: Customer, at: datetime
) -> CustomerState:
    spend = cust.spend_in_window(session, program, customer, at)
    bal = cust.customer_balance(session, program, customer, at)
    return CustomerState(
        available=bal.available,
        pending=bal.pending,
        verified=customer.phone_verified,
        window_spend=spend,
        tier=cust.tier_of(program, customer, spend).code,
    )


def calculation(
    session: Session,
    program: Program,
    version: str,
    q: Quote,
    lines: Sequence[LineIn],
    customer: Customer | None,
    checks: Sequence[CouponCheck],
    at: datetime,
) -> CalculateResponse:
    """The calculate answer for a quote (also sent with ``price_changed``)."""
    totals, redeem = quote_totals(q)
    keys = line_keys([(ln.line_id, ln.line_no) for ln in lines])
    ids = {k: (ln.line_id, ln.line_no) for k, ln in zip(keys, lines, strict=True)}
    return CalculateResponse(
        calculation_id=f"calc_{uuid.uuid4().hex}",
        valid_until=at + CALCULATION_TTL,
        rules_version=version,
        status="ok",
        lines=quote_lines(q, ids, line_coupons(checks)),
        totals=totals,
        redeem=redeem,
        coupons=[c.wire() for c in checks],
        balance=balance_out(program, cust.customer_balance(session, program, customer, at))
        if customer
        else None,
        server_time=at,
    )


ZERO = Decimal(0)
