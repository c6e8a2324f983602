"""Returns of confirmed purchases (docs/protocol.md F): partial, cumulative, exact.

Owns: :func:`add_return`.  Per returned line, the redeemed points go back to the lots they came
from (a debt first, then the last lot taken) and the earned points are taken back (the line's own
lots first, then other points; what nobody's lot can cover is a recorded debt).  Amounts come from
:func:`cashier.returns.compute_return` over the original purchase, never re-priced.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cashier.ledger import plan_revoke
from cashier.money import format_money, format_quantity, parse_quantity
from cashier.program import Program
from cashier.returns import PurchasedLine, compute_return
from processing import customers as cust
from processing.deps import TillRef
from processing.errors import ApiError
from processing.idempotency import Answer
from processing.models import Customer, LedgerEntry, Purchase, PurchaseReturn
from processing.purchases import (
    ZERO,
    _balance_after,
    _bump,
    _customer_of,
    _entry,
    _fmt,
    _keyed,
    _locked_purchase,
    _stored_lines,
    effective_state,
    till_time,
)
from processing.state import active_program, program_by_version
from sync.protocol import (
    ReturnLineOut,
    ReturnRequest,
    ReturnResponse,
)


# -- F. returns ---------------------------------------------------------------------------------
def add_return(
    session: Session,
    till: TillRef,
    purchase_id: str,
    body: ReturnRequest,
    now: datetime,
    *,
    offline: bool = False,
) -> Answer:
    earlier = session.get(PurchaseReturn, body.return_id)
    if earlier is not None:
        if earlier.purchase_id != purchase_id:
            raise ApiError(
                409,
                "invalid_state",
                f"The return id {body.return_id} was used for another purchase: use a new one.",
            )
        return Answer(201, _return_view(session, earlier, now), "natural")
    purchase = _locked_purchase(session, purchase_id)
    if not active_program(session).program.returns_across(purchase.chain_id, till.chain_id):
        raise ApiError(
            422,
            "other_chain",
            f"This purchase was made in another chain ({purchase.chain_id}): it can be returned "
            "only there.",
        )
    state, _reason = effective_state(purchase, now)
    if state == "pending":
        raise ApiError(
            409, "invalid_state", "The purchase is not confirmed yet: cancel it instead."
        )
    if state == "cancelled":
        raise ApiError(
            409, "invalid_state", "The purchase was cancelled: there is nothing to return."
        )
    program = program_by_version(session, purchase.program_version)
    customer = _customer_of(session, purchase)
    stored = _keyed(_stored_lines(session, purchase_id))
    by_pair = {(ln.line_id, ln.line_no): key for key, ln in stored.items()}
    returning: dict[str, int] = {}
    for i, ln in enumerate(body.lines):
        key = by_pair.get((ln.line_id, ln.line_no))
        if key is None:
            raise ApiError(
                400,
                "validation_error",
                f"The purchase has no line {ln.line_id} number {ln.line_no}.",
                details=[{"field": f"/lines/{i}", "message": "no such line in the purchase"}],
            )
        if key in returning:
            raise ApiError(
                400,
                "validation_error",
                f"Line {ln.line_id} number {ln.line_no} appears twice: each line once.",
                details=[{"field": f"/lines/{i}", "message": "duplicate line"}],
            )
        returning[key] = parse_quantity(ln.qty)
    result = compute_return(
        [
            PurchasedLine(key, ln.qty, ln.redeem_points, ln.earn_points, ln.final_amount)
            for key, ln in stored.items()
        ],
        {key: ln.returned_qty for key, ln in stored.items()},
        returning,
        points_scale=program.points_scale,
    )
    line_results = []
    for rl in result.lines:
        row = stored[rl.line_id]
        row.returned_qty += rl.qty
        if customer is not None:
            _restore(session, purchase, rl.line_id, rl.points_restored, body.return_id, now)
            _revoke(
                session,
                program,
                purchase,
                customer,
                rl.line_id,
                rl.points_revoked,
                body.return_id,
                now,
            )
        line_results.append(
            {
                "line_id": row.line_id,
                "line_no": row.line_no,
                "qty": format_quantity(rl.qty),
                "points_restored": _fmt(program, rl.points_restored),
                "points_revoked": _fmt(program, rl.points_revoked),
                "refund_amount": format_money(rl.refund_amount),
            }
        )
    record = PurchaseReturn(
        return_id=body.return_id,
        purchase_id=purchase_id,
        device_id=till.device_id,
        receipt_no=body.receipt_no,
        points_restored=result.points_restored if customer else ZERO,
        points_revoked=result.points_revoked if customer else ZERO,
        refund_amount=result.refund_amount,
        lines=line_results,
        occurred_at=till_time(body.occurred_at, now, offline=offline),
        created_at=now,
    )
    session.add(record)
    _bump(customer, now)
    session.flush()
    return Answer(201, _return_view(session, record, now))


def _restore(
    session: Session,
    purchase: Purchase,
    line_key: str,
    points: Decimal,
    return_id: str,
    now: datetime,
) -> None:
    """Give redeemed points back to the lots they came from (a debt first, then the last lot taken)."""
    if points <= 0:
        return
    rows = session.execute(
        select(LedgerEntry.lot_id, func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.purchase_id == purchase.purchase_id,
            LedgerEntry.line_id == line_key,
            LedgerEntry.kind.in_(("redeem", "return_restore")),
        )
        .group_by(LedgerEntry.lot_id)
    ).all()
    open_by_lot = {lot_id: -Decimal(total) for lot_id, total in rows if -Decimal(total) > 0}
    left = points
    for lot_id in sorted(open_by_lot, key=lambda x: (x is not None, -(x or 0))):
        give = min(open_by_lot[lot_id], left)
        if give <= 0:
            break
        session.add(
            _entry(
                purchase,
                "return_restore",
                give,
                now,
                lot_id=lot_id,
                line_id=line_key,
                return_id=return_id,
            )
        )
        left -= give
    if left > 0:  # cannot happen: compute_return restores at most what the line redeemed
        raise AssertionError(f"restore of {points} exceeds what line {line_key} redeemed")


def _revoke(
    session: Session,
    program: Program,
    purchase: Purchase,
    customer: Customer,
    line_key: str,
    points: Decimal,
    return_id: str,
    now: datetime,
) -> None:
    """Take earned points back: the line's own lots first, then other points; the rest is a debt."""
    if points <= 0:
        return
    own = [
        str(i)
        for i in session.scalars(
            select(LedgerEntry.id).where(
                LedgerEntry.purchase_id == purchase.purchase_id,
                LedgerEntry.line_id == line_key,
                LedgerEntry.kind == "earn",
            )
        )
    ]
    lots, _loose = cust.lots(session, customer.id, now)
    takes, shortfall = plan_revoke(program, lots, points, own, now, customer.last_purchase_at)
    for lot_id, amount in takes:
        session.add(
            _entry(
                purchase,
                "return_revoke",
                -amount,
                now,
                lot_id=int(lot_id),
                line_id=line_key,
                return_id=return_id,
            )
        )
    if shortfall > 0:
        session.add(
            _entry(
                purchase,
                "return_revoke",
                -shortfall,
                now,
                line_id=line_key,
                return_id=return_id,
                flagged=True,
                note="the earned points were already spent: recorded as a debt",
            )
        )


def _return_view(session: Session, record: PurchaseReturn, now: datetime) -> ReturnResponse:
    purchase = session.get(Purchase, record.purchase_id)
    assert purchase is not None
    program = program_by_version(session, purchase.program_version)
    customer = session.get(Customer, purchase.customer_id) if purchase.customer_id else None
    lines = _stored_lines(session, purchase.purchase_id)
    return ReturnResponse(
        return_id=record.return_id,
        purchase_id=record.purchase_id,
        points_restored=_fmt(program, record.points_restored),
        points_revoked=_fmt(program, record.points_revoked),
        refund_amount=format_money(record.refund_amount),
        balance_after=_balance_after(session, program, customer, now),
        lines=[ReturnLineOut(**line) for line in record.lines],
        complete=all(ln.returned_qty == ln.qty for ln in lines),
        server_time=now,
    )
