"""Sales a till made while the service was unreachable, from its queue (docs/protocol.md J).

Owns: :func:`apply_offline`.  Inside the program's offline budget (per till, customer and day) a
redemption is applied even into a negative balance — the overdraft is recorded and sent to review;
beyond it the sale is refused with ``offline_redeem_not_allowed``.  Points earned follow the
customer's state at the time, as online.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cashier.money import format_money
from cashier.program import Program
from cashier.quote import CartLine, Quote, quote
from processing import customers as cust
from processing.carts import cart_lines, customer_state, live_customer, payments_of
from processing.deps import TillRef
from processing.errors import ApiError
from processing.idempotency import Answer
from processing.models import Customer, Purchase, ReviewItem
from processing.purchases import (
    ZERO,
    _accrue,
    _entry,
    _fmt,
    _new_purchase,
    _points,
    _same_till,
    _take,
    confirm,
    created_view,
    till_time,
)
from processing.state import active_program
from sync.protocol import (
    ConfirmRequest,
    PurchaseRequest,
)


# -- J. an offline sale from a till's queue -----------------------------------------------------
def apply_offline(session: Session, till: TillRef, body: PurchaseRequest, now: datetime) -> Answer:
    """A sale the till made while the service was unreachable (``state: confirmed``)."""
    existing = session.get(Purchase, body.purchase_id)
    if existing is not None:
        _same_till(existing, till)
        if existing.state == "pending":  # created online, then the till lost the answer
            request = ConfirmRequest(receipt_no=body.receipt_no, payments=body.payments)
            confirm(session, till, body.purchase_id, request, now)
        return Answer(200, created_view(session, existing, now), "natural")
    if body.state != "confirmed":
        raise ApiError(
            400,
            "validation_error",
            "A queued sale is pushed as confirmed.",
            details=[{"field": "/state", "message": "must be confirmed"}],
        )
    if body.coupons:
        raise ApiError(
            422,
            "coupon_invalid",
            "Single-use coupons cannot be used offline.",
            details=[
                {
                    "field": f"/coupons/{i}",
                    "message": "not applicable offline",
                    "status": "not_applicable",
                }
                for i in range(len(body.coupons))
            ],
        )
    active = active_program(session)
    program = active.program
    customer = live_customer(session, body.customer.id, lock=True) if body.customer else None
    requested = _points(program, body.redeem_points, "/redeem_points")
    if requested > 0 and not body.offline:
        raise ApiError(
            400,
            "validation_error",
            "Points spent online are held first (POST /purchases pending) and confirmed after "
            "payment; a queued sale spends points only when it was made offline.",
            details=[{"field": "/offline", "message": "must be true when redeem_points > 0"}],
        )
    lines = cart_lines(session, body.lines)
    payments = payments_of(body.payments)
    at = till_time(body.occurred_at, now, offline=True)
    if customer is None:
        if requested > 0:
            raise ApiError(
                422, "offline_redeem_not_allowed", "Points cannot be spent without a customer."
            )
        q = quote(program, None, lines, occurred_at=at, payments=payments)
        return _store_offline(session, program, active.version, till, body, None, q, lines, now)
    state = customer_state(session, program, customer, at)
    if requested > 0:
        _check_offline_budget(session, program, till, customer, requested, state.available, now)
        # Price as if the points were there (the overdraft is allowed inside the budget).
        generous = dataclasses.replace(
            state, available=requested + max(state.available, ZERO), verified=True
        )
        q = quote(program, generous, lines, occurred_at=at, redeem=requested, payments=payments)
        if q.redeem_points < requested:  # the till's cached tier was higher than today's
            top = dataclasses.replace(generous, tier=program.tiers[-1].code)
            q = quote(program, top, lines, occurred_at=at, redeem=requested, payments=payments)
        if q.redeem_points < requested:
            raise ApiError(
                422,
                "offline_redeem_not_allowed",
                f"{_fmt(program, requested)} points cannot pay for this sale under any tier.",
            )
    else:
        q = quote(program, state, lines, occurred_at=at, redeem=0, payments=payments)
    return _store_offline(session, program, active.version, till, body, customer, q, lines, now)


def _check_offline_budget(
    session: Session,
    program: Program,
    till: TillRef,
    customer: Customer,
    requested: Decimal,
    available: Decimal,
    now: datetime,
) -> None:
    """Whether an offline redemption may be applied; else 422 ``offline_redeem_not_allowed``
    (the item goes to the review list, nothing is applied).

    Every limit counts on the service's clock — the day the sale reached it — so a till cannot
    multiply its budget by dating items on different days: this till's daily budget for the
    customer, the customer's daily cap across all tills, and the ceiling below zero that offline
    spending may take the balance to.
    """
    budget = program.offline_redeem
    if not budget.enabled:
        reason = "the program does not allow spending points offline"
    elif budget.verified_customers_only and not customer.phone_verified:
        reason = "the customer's phone is not verified"
    else:
        today = [
            Purchase.customer_id == customer.id,
            Purchase.offline_day == now.date(),
            Purchase.offline.is_(True),
        ]
        spent_here = Decimal(
            session.scalar(
                select(func.coalesce(func.sum(Purchase.redeem_points), 0)).where(
                    Purchase.device_id == till.device_id, *today
                )
            )
            or 0
        )
        spent_all = Decimal(
            session.scalar(select(func.coalesce(func.sum(Purchase.redeem_points), 0)).where(*today))
            or 0
        )
        limit, cap = budget.max_points_per_customer_per_day, budget.customer_daily_cap
        ceiling = budget.overdraft_ceiling
        if spent_here + requested > limit:
            reason = (
                f"this till already spent {_fmt(program, spent_here)} of "
                f"{_fmt(program, limit)} points offline for this customer today"
            )
        elif spent_all + requested > cap:
            reason = (
                f"the customer's tills already spent {_fmt(program, spent_all)} of "
                f"{_fmt(program, cap)} points offline today"
            )
        elif available - requested < -ceiling:
            reason = (
                f"it would take the balance ({_fmt(program, available)}) below the program's "
                f"offline overdraft ceiling of -{_fmt(program, ceiling)} points"
            )
        else:
            return
    raise ApiError(422, "offline_redeem_not_allowed", f"Offline redemption refused: {reason}.")


def _store_offline(
    session: Session,
    program: Program,
    version: str,
    till: TillRef,
    body: PurchaseRequest,
    customer: Customer | None,
    q: Quote,
    lines: Sequence[CartLine],
    now: datetime,
) -> Answer:
    purchase, rows = _new_purchase(body, till, customer, version, q, lines, now, offline=True)
    session.add(purchase)
    session.flush()
    session.add_all(rows)
    session.flush()
    if customer is not None and q.redeem_points > 0:
        lots, _loose = cust.lots(session, customer.id, now)
        overdraft = ZERO
        for lq in q.lines:
            if lq.redeem_points <= 0:
                continue
            takes, short, lots = _take(
                program,
                lots,
                lq.redeem_points,
                now,
                customer.last_purchase_at,
                allow_shortfall=True,
            )
            for lot_id, amount in takes:
                session.add(
                    _entry(purchase, "redeem", -amount, now, lot_id=lot_id, line_id=lq.line_id)
                )
            if short > 0:
                overdraft += short
                session.add(
                    _entry(
                        purchase,
                        "redeem",
                        -short,
                        now,
                        line_id=lq.line_id,
                        flagged=True,
                        note="offline redemption beyond the balance (inside the budget)",
                    )
                )
        if overdraft > 0:
            purchase.overdraft = overdraft
            session.add(
                ReviewItem(
                    kind="overdraft",
                    device_id=till.device_id,
                    store_id=till.store_id,
                    customer_id=customer.id,
                    purchase_id=purchase.purchase_id,
                    amount=overdraft,
                    reason=f"An offline sale spent {_fmt(program, overdraft)} points more than the "
                    "customer had; applied inside the offline budget.",
                    created_at=now,
                )
            )
    threshold = program.offline_redeem.review_sales_over
    if threshold is not None and q.base_total >= threshold:
        session.add(
            ReviewItem(
                kind="large_offline",
                device_id=till.device_id,
                store_id=till.store_id,
                customer_id=customer.id if customer is not None else None,
                purchase_id=purchase.purchase_id,
                reason=f"An offline sale of {format_money(q.base_total)} ₽: "
                "check it (its points activate after the usual delay from today).",
                created_at=now,
            )
        )
    _accrue(session, program, purchase, q, customer, now)
    session.flush()
    result = created_view(session, purchase, now)
    return Answer(201, result)
