"""Purchases on the service: pending → confirm / cancel, and lookup (docs/protocol.md E, K).

Owns: the ledger writes of a sale.  Each function runs inside the caller's transaction (the
exactly-once runner of :mod:`processing.idempotency` wraps it), locks the customer (and the
purchase) first, prices with the shared engine (:func:`cashier.quote.quote`,
:func:`cashier.returns.compute_return`) and writes line-level ledger entries:

- ``pending`` with points: a ``hold`` per line and lot (nearest expiry first), ending at the hold's
  expiry (30 minutes by default).  Two tills can never hold more than the balance: the customer's
  row is locked while the balance is read and the hold written.
- ``confirm``: a ``release`` and a ``redeem`` per hold; an ``earn`` lot per line, priced with the
  real payments under the rules version and tier the purchase was created with; the birthday
  bonus when it is due (at most once a year).
- coupons: checked and held with the points (``pending``), used on confirm, freed on cancel.
- ``cancel``: a ``release`` per hold.  A purchase left pending past its hold is cancelled by
  itself (``cancel_reason: hold_expired``); a late confirm is accepted only without points.
- returns (:mod:`processing.purchase_returns`) and sales from an offline queue
  (:mod:`processing.offline_sales`) reuse the helpers here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cashier.errors import UserFacingError
from cashier.i18n import _, ngettext
from cashier.ledger import Lot, plan_consumption
from cashier.money import (
    format_money,
    format_points,
    format_quantity,
    parse_money,
    points_to_units,
    units_to_points,
)
from cashier.program import Program
from cashier.quote import CapReason, CartLine, CustomerState, Quote, quote
from processing import coupons, wallet_keys
from processing import customers as cust
from processing.carts import (
    calculation,
    cart_lines,
    customer_state,
    line_keys,
    live_customer,
    payments_of,
)
from processing.deps import TillRef
from processing.errors import ApiError
from processing.idempotency import Answer
from processing.models import (
    Customer,
    LedgerEntry,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
)
from processing.registration import grant_birthday_if_due
from processing.state import active_program, program_by_version
from sync.protocol import (
    BalanceAfter,
    CancelRequest,
    CancelResponse,
    ConfirmRequest,
    ConfirmResponse,
    Earned,
    PurchaseCreated,
    PurchaseLineOut,
    PurchaseRequest,
    PurchaseView,
)

HOLD_TTL = timedelta(minutes=30)
FUTURE_LEEWAY = timedelta(minutes=5)
OLDEST_QUEUED = timedelta(days=60)


def till_time(claimed: datetime, now: datetime, *, offline: bool) -> datetime:
    """When an event happened: the server's clock online; offline, the till's clock, kept within
    [now − 60 days, now + 5 minutes] so a till with a wrong clock cannot date points at will."""
    if not offline:
        return now
    return max(min(claimed, now + FUTURE_LEEWAY), now - OLDEST_QUEUED)


ZERO = Decimal(0)


# -- helpers ------------------------------------------------------------------------------------
def effective_state(purchase: Purchase, now: datetime) -> tuple[str, str | None]:
    """The state as the till should see it: a pending purchase past its hold is cancelled."""
    if (
        purchase.state == "pending"
        and purchase.hold_expires_at is not None
        and purchase.hold_expires_at <= now
    ):
        return "cancelled", "hold_expired"
    return purchase.state, purchase.cancel_reason


def _points(program: Program, text: str, field: str) -> Decimal:
    try:
        scale = program.points_scale
        return units_to_points(points_to_units(text, scale), scale)
    except UserFacingError as exc:
        raise ApiError(
            400, "validation_error", exc.message, details=[{"field": field, "message": exc.message}]
        ) from None


def _fmt(program: Program, points: Decimal) -> str:
    return format_points(points, program.points_scale)


def _entry(
    purchase: Purchase,
    kind: str,
    amount: Decimal,
    now: datetime,
    *,
    lot_id: int | None = None,
    line_id: str | None = None,
    is_lot: bool = False,
    available_from: datetime | None = None,
    expires_at: datetime | None = None,
    return_id: str | None = None,
    flagged: bool = False,
    note: str | None = None,
) -> LedgerEntry:
    assert purchase.customer_id is not None
    return LedgerEntry(
        customer_id=purchase.customer_id,
        kind=kind,
        amount=amount,
        is_lot=is_lot,
        lot_id=lot_id,
        available_from=available_from,
        expires_at=expires_at,
        store_id=purchase.store_id,
        chain_id=purchase.chain_id,
        device_id=purchase.device_id,
        purchase_id=purchase.purchase_id,
        line_id=line_id,
        return_id=return_id,
        occurred_at=purchase.occurred_at,
        created_at=now,
        flagged=flagged,
        note=note,
    )


def _take(
    program: Program,
    lots: list[Lot],
    points: Decimal,
    now: datetime,
    last_purchase_at: datetime | None,
    *,
    allow_shortfall: bool,
) -> tuple[list[tuple[int, Decimal]], Decimal, list[Lot]]:
    """Which lots ``points`` come from; also the lots as they stand afterwards."""
    takes, shortfall = plan_consumption(
        program, lots, points, now, last_purchase_at, allow_shortfall=allow_shortfall
    )
    taken = dict(takes)
    after = [
        dataclasses.replace(lot, remaining=lot.remaining - taken.get(lot.lot_id, ZERO))
        for lot in lots
    ]
    return [(int(lot_id), amount) for lot_id, amount in takes], shortfall, after


def _stored_lines(session: Session, purchase_id: str) -> list[PurchaseLine]:
    return list(
        session.scalars(
            select(PurchaseLine)
            .where(PurchaseLine.purchase_id == purchase_id)
            .order_by(PurchaseLine.line_no, PurchaseLine.line_id)
        )
    )


def _keyed(lines: Sequence[PurchaseLine]) -> dict[str, PurchaseLine]:
    return dict(zip(line_keys([(ln.line_id, ln.line_no) for ln in lines]), lines, strict=True))


def _engine_lines(lines: Sequence[PurchaseLine]) -> list[CartLine]:
    return [
        CartLine(
            line_id=key,
            sku=ln.sku,
            qty=ln.qty,
            unit_price=ln.unit_price,
            category=ln.category,
            no_redeem=ln.no_redeem,
            no_earn=ln.no_earn,
            min_unit_price=ln.min_unit_price,
            discount=ln.discount,
        )
        for key, ln in _keyed(lines).items()
    ]


def _balance_after(
    session: Session, program: Program, customer: Customer | None, now: datetime
) -> BalanceAfter | None:
    if customer is None:
        return None
    bal = cust.customer_balance(session, program, customer, now)
    return BalanceAfter(
        available=_fmt(program, bal.available),
        pending=_fmt(program, bal.pending),
        negative_allowed=bal.available < 0,
    )


def _count(points: Decimal) -> int:
    """The number that picks a plural form: fractional amounts take the "few" form (1,5 балла)."""
    return int(points) if points == points.to_integral_value() else 2


def print_lines(
    program: Program,
    redeemed: Decimal,
    earned: Decimal,
    available_from: datetime | None,
    now: datetime,
) -> list[str]:
    """What the loyalty slip says about this purchase, in the till's language."""
    out = []
    if redeemed:
        out.append(
            ngettext("Spent {n} point", "Spent {n} points", _count(redeemed)).format(
                n=_fmt(program, redeemed)
            )
        )
    if earned:
        line = ngettext("Earned {n} point", "Earned {n} points", _count(earned)).format(
            n=_fmt(program, earned)
        )
        if available_from is not None and available_from > now:
            line += " " + _("(available from {date})").format(
                date=available_from.strftime("%d.%m.%Y")
            )
        out.append(line)
    return out


def _same_till(purchase: Purchase, till: TillRef) -> None:
    if purchase.device_id != till.device_id:
        raise ApiError(
            409,
            "invalid_state",
            "This purchase was rung up on another till: confirm or cancel it there.",
        )


def _locked_purchase(session: Session, purchase_id: str) -> Purchase:
    purchase = session.scalars(
        select(Purchase).where(Purchase.purchase_id == purchase_id).with_for_update()
    ).first()
    if purchase is None:
        raise ApiError(404, "not_found", f"There is no purchase {purchase_id} on the service.")
    return purchase


def _customer_of(session: Session, purchase: Purchase) -> Customer | None:
    if purchase.customer_id is None:
        return None
    return session.scalars(
        select(Customer).where(Customer.id == purchase.customer_id).with_for_update()
    ).first()


def _bump(customer: Customer | None, now: datetime) -> None:
    if customer is not None:
        customer.updated_at = now  # the tills' customer sync picks up the new balance


def _check_presence(
    session: Session, body: PurchaseRequest, customer: Customer, till: TillRef, now: datetime
) -> None:
    """Spending above the program's threshold needs the customer's wallet QR or an SMS code."""
    ref = body.customer
    if ref is not None and ref.wallet_token:
        try:
            token = wallet_keys.verify(session, ref.wallet_token, now)
        except UserFacingError as exc:
            raise ApiError(422, "otp_required", exc.message) from None
        if token.customer_id == customer.id:
            return
        raise ApiError(422, "otp_required", "The wallet QR belongs to another customer.")
    if body.confirmation_token:
        from processing.otp import consume_confirmation

        consume_confirmation(
            session,
            body.confirmation_token,
            purpose=("redeem", "identify"),
            device_id=till.device_id,
            phone=customer.phone,
            customer_id=customer.id,
            now=now,
        )
        return
    raise ApiError(
        422,
        "otp_required",
        "Spending this many points needs the customer's confirmation: send an SMS code "
        "or scan the customer's wallet QR.",
    )


def _new_purchase(
    body: PurchaseRequest,
    till: TillRef,
    customer: Customer | None,
    version: str,
    q: Quote,
    lines: Sequence[CartLine],
    now: datetime,
    *,
    offline: bool,
) -> tuple[Purchase, list[PurchaseLine]]:
    purchase = Purchase(
        purchase_id=body.purchase_id,
        device_id=till.device_id,
        store_id=till.store_id,
        chain_id=till.chain_id,
        customer_id=customer.id if customer else None,
        state=body.state,
        receipt_no=body.receipt_no,
        base_total=q.base_total,
        to_pay=q.to_pay,
        redeem_points=q.redeem_points,
        earn_points=q.earn_points,
        payments=[],
        offline=offline,
        overdraft=ZERO,
        occurred_at=till_time(body.occurred_at, now, offline=offline),
        created_at=now,
        program_version=version,
        tier=q.tier.code,
        cashier_id=body.shift.cashier_id if body.shift else None,
        shift_no=body.shift.no if body.shift else None,
        offline_day=now.date() if offline else None,  # the service's day: budgets count on it
    )
    rows = [
        PurchaseLine(
            purchase_id=body.purchase_id,
            line_id=wire.line_id,
            line_no=wire.line_no,
            sku=line.sku,
            category=line.category,
            qty=line.qty,
            unit_price=line.unit_price,
            base_amount=lq.base_amount,
            redeem_points=lq.redeem_points,
            earn_points=lq.earn_points,
            final_amount=lq.final_amount,
            returned_qty=0,
            no_redeem=line.no_redeem,
            no_earn=line.no_earn,
            min_unit_price=line.min_unit_price,
            discount=line.discount,
        )
        for wire, line, lq in zip(body.lines, lines, q.lines, strict=True)
    ]
    return purchase, rows


def _accrue(
    session: Session,
    program: Program,
    purchase: Purchase,
    q: Quote,
    customer: Customer | None,
    now: datetime,
) -> None:
    """Confirm: an ``earn`` lot per line, the purchase's final figures, the customer's dates.

    Earned points activate after the program's delay counted from when the service learned of
    the sale, never from the till's date: a sale queued offline and dated weeks back (its return
    window seemingly over) must not make its points spendable at once.
    """
    by_key = _keyed(_stored_lines(session, purchase.purchase_id))
    available_from = max(
        q.earn_available_from, program.earn_available_from(purchase.created_at or now)
    )
    for lq in q.lines:
        row = by_key.get(lq.line_id)
        if row is not None:
            row.earn_points = lq.earn_points
        if customer is not None and lq.earn_points > 0:
            session.add(
                _entry(
                    purchase,
                    "earn",
                    lq.earn_points,
                    now,
                    line_id=lq.line_id,
                    is_lot=True,
                    available_from=available_from,
                    expires_at=q.earn_expires_at,
                )
            )
    purchase.earn_points = q.earn_points if customer is not None else ZERO
    purchase.payments = [
        {"type": p.method.value, "amount": format_money(p.amount or 0)} for p in q.payments
    ]
    purchase.state = "confirmed"
    purchase.confirmed_at = now
    if customer is not None:
        if customer.last_purchase_at is None or customer.last_purchase_at < purchase.occurred_at:
            customer.last_purchase_at = purchase.occurred_at
        where = TillRef(purchase.device_id, purchase.store_id, purchase.chain_id, "")
        grant_birthday_if_due(session, program, customer, where, now)
        _bump(customer, now)


def _price_error(
    session: Session,
    program: Program,
    version: str,
    q: Quote,
    body: PurchaseRequest,
    customer: Customer | None,
    checks: Sequence[coupons.CouponCheck],
    now: datetime,
    status: int,
    code: str,
    message: str,
) -> ApiError:
    calc = calculation(session, program, version, q, body.lines, customer, checks, now)
    return ApiError(status, code, message, extra={"calculation": calc.model_dump(mode="json")})


def _usable_coupons(
    session: Session,
    body: PurchaseRequest,
    customer: Customer | None,
    lines: Sequence[CartLine],
    now: datetime,
) -> list[coupons.CouponCheck]:
    """The purchase's coupons, all applicable, or a ``coupon_invalid`` refusal naming each."""
    checks = coupons.check(
        session,
        body.coupons,
        customer.id if customer else None,
        lines,
        body.lines,
        now,
        purchase_id=body.purchase_id,
    )
    refused = [(i, c) for i, c in enumerate(checks) if c.status != coupons.APPLIED]
    if refused:
        raise ApiError(
            422,
            "coupon_invalid",
            "A coupon cannot be used: "
            + ", ".join(f"{c.code} ({c.status})" for _, c in refused)
            + ". Remove it from the sale.",
            details=[
                {"field": f"/coupons/{i}", "message": c.status, "status": c.status}
                for i, c in refused
            ],
        )
    return checks


# -- E. create ----------------------------------------------------------------------------------
def create(
    session: Session, till: TillRef, body: PurchaseRequest, now: datetime, hold_ttl: timedelta
) -> Answer:
    existing = session.get(Purchase, body.purchase_id)
    if existing is not None:
        _same_till(existing, till)
        return Answer(200, created_view(session, existing, now), "natural")
    if body.offline:
        raise ApiError(
            400,
            "validation_error",
            "Offline sales are pushed through /sync/transactions, not /purchases.",
        )
    if body.coupons and body.state == "confirmed":
        raise ApiError(
            400,
            "validation_error",
            "A purchase with a coupon is created pending and confirmed after payment.",
            details=[{"field": "/state", "message": "must be pending when coupons are given"}],
        )
    active = active_program(session)
    program = active.program
    customer = live_customer(session, body.customer.id, lock=True) if body.customer else None
    requested = _points(program, body.redeem_points, "/redeem_points")
    if requested > 0 and customer is None:
        raise ApiError(
            422, "redeem_limit_exceeded", "Identify the customer before spending points."
        )
    if body.state == "confirmed" and requested > 0:
        raise ApiError(
            400,
            "validation_error",
            "A purchase that spends points is created pending and confirmed after payment.",
            details=[{"field": "/state", "message": "must be pending when redeem_points > 0"}],
        )
    lines = cart_lines(session, body.lines)
    checks = _usable_coupons(session, body, customer, lines, now)
    lines = coupons.discounted(lines, checks)
    state = customer_state(session, program, customer, now) if customer else None
    q = quote(
        program,
        state,
        lines,
        occurred_at=now,
        redeem=requested,
        payments=payments_of(body.payments),
    )
    if q.redeem_points < requested:
        code = (
            "insufficient_points" if CapReason.BALANCE in q.cap_reasons else "redeem_limit_exceeded"
        )
        raise _price_error(
            session,
            program,
            active.version,
            q,
            body,
            customer,
            checks,
            now,
            422,
            code,
            f"At most {_fmt(program, q.max_redeem_points)} points can pay for this purchase "
            f"({q.cap_explanation()}). Calculate again.",
        )
    if body.expected_to_pay is not None and parse_money(body.expected_to_pay) != q.to_pay:
        raise _price_error(
            session,
            program,
            active.version,
            q,
            body,
            customer,
            checks,
            now,
            409,
            "price_changed",
            f"The amount to pay is now {format_money(q.to_pay)}, not {body.expected_to_pay}: "
            "show the new totals and confirm again.",
        )
    if q.requires_confirmation and customer is not None:
        _check_presence(session, body, customer, till, now)
    purchase, rows = _new_purchase(
        body, till, customer, active.version, q, lines, now, offline=False
    )
    by_line = coupons.line_coupons(checks)
    for key, row in zip(line_keys([(r.line_id, r.line_no) for r in rows]), rows, strict=True):
        row.coupon = by_line[key][0] if key in by_line else None
    session.add(purchase)
    session.flush()  # the natural key: a twin purchase id fails here, before any ledger write
    session.add_all(rows)
    if body.state == "pending":
        purchase.hold_expires_at = now + hold_ttl
        coupons.hold(session, checks, purchase.purchase_id)
        if customer is not None and q.redeem_points > 0:
            _hold(session, program, purchase, customer, q, now)
        _bump(customer, now)
    else:
        session.flush()
        _accrue(session, program, purchase, q, customer, now)
    return Answer(201, created_view(session, purchase, now))


def _hold(
    session: Session,
    program: Program,
    purchase: Purchase,
    customer: Customer,
    q: Quote,
    now: datetime,
) -> None:
    lots, _loose = cust.lots(session, customer.id, now)
    for lq in q.lines:
        if lq.redeem_points <= 0:
            continue
        takes, _short, lots = _take(
            program, lots, lq.redeem_points, now, customer.last_purchase_at, allow_shortfall=False
        )
        for lot_id, amount in takes:
            session.add(
                _entry(
                    purchase,
                    "hold",
                    -amount,
                    now,
                    lot_id=lot_id,
                    line_id=lq.line_id,
                    expires_at=purchase.hold_expires_at,
                )
            )


def created_view(session: Session, purchase: Purchase, now: datetime) -> PurchaseCreated:
    program = program_by_version(session, purchase.program_version)
    state, _reason = effective_state(purchase, now)
    customer = session.get(Customer, purchase.customer_id) if purchase.customer_id else None
    confirmed = state == "confirmed"
    return PurchaseCreated(
        purchase_id=purchase.purchase_id,
        state=state,  # type: ignore[arg-type]
        hold_expires_at=purchase.hold_expires_at if state == "pending" else None,
        redeemed_points=_fmt(program, purchase.redeem_points),
        earn_points=_fmt(program, purchase.earn_points),
        to_pay=format_money(purchase.to_pay),
        earned=_earned(session, program, purchase) if confirmed else None,
        balance_after=_balance_after(session, program, customer, now),
        print_lines=print_lines(
            program,
            purchase.redeem_points,
            purchase.earn_points,
            _earned(session, program, purchase).available_from,
            now,
        )
        if confirmed and customer
        else [],
        server_time=now,
    )


def _earned(session: Session, program: Program, purchase: Purchase) -> Earned:
    row = session.execute(
        select(LedgerEntry.available_from, LedgerEntry.expires_at)
        .where(LedgerEntry.purchase_id == purchase.purchase_id, LedgerEntry.kind == "earn")
        .limit(1)
    ).first()
    return Earned(
        points=_fmt(program, purchase.earn_points),
        available_from=row.available_from if row else None,
        expires_at=row.expires_at if row else None,
    )


# -- E. confirm and cancel ----------------------------------------------------------------------
def confirm(
    session: Session, till: TillRef, purchase_id: str, body: ConfirmRequest, now: datetime
) -> Answer:
    purchase = _locked_purchase(session, purchase_id)
    _same_till(purchase, till)
    program = program_by_version(session, purchase.program_version)
    if purchase.state == "confirmed":
        return Answer(200, _confirmed_view(session, program, purchase, now), "natural")
    state, _reason = effective_state(purchase, now)
    if purchase.state == "cancelled":
        raise ApiError(409, "invalid_state", "The purchase was cancelled: ring the sale up again.")
    stored = _stored_lines(session, purchase_id)
    if state == "cancelled" and (purchase.redeem_points > 0 or any(ln.coupon for ln in stored)):
        raise ApiError(
            409,
            "invalid_state",
            "The hold on the points or coupons expired before the confirmation: calculate again "
            "and create a new purchase.",
        )
    customer = _customer_of(session, purchase)
    held = purchase.redeem_points
    verified = held > 0 or (customer is not None and customer.phone_verified)
    customer_view = (
        CustomerState(available=held, verified=verified, tier=purchase.tier)
        if customer is not None
        else None
    )
    q = quote(
        program,
        customer_view,
        _engine_lines(stored),
        occurred_at=now,
        redeem=held,
        payments=payments_of(body.payments),
    )
    if q.redeem_points != held:  # the same rules, lines and tier always price the same
        raise AssertionError(f"confirm re-priced {purchase_id} to {q.redeem_points}, held {held}")
    for hold in _release_holds(session, purchase, now):
        session.add(
            _entry(purchase, "redeem", hold.amount, now, lot_id=hold.lot_id, line_id=hold.line_id)
        )
    if body.receipt_no:
        purchase.receipt_no = body.receipt_no
    coupons.settle(session, purchase_id, used=True)
    purchase.hold_expires_at = None
    _accrue(session, program, purchase, q, customer, now)
    session.flush()
    return Answer(200, _confirmed_view(session, program, purchase, now))


def _confirmed_view(
    session: Session, program: Program, purchase: Purchase, now: datetime
) -> ConfirmResponse:
    customer = session.get(Customer, purchase.customer_id) if purchase.customer_id else None
    earned = _earned(session, program, purchase)
    return ConfirmResponse(
        purchase_id=purchase.purchase_id,
        state="confirmed",
        earned=earned,
        redeemed_points=_fmt(program, purchase.redeem_points),
        balance_after=_balance_after(session, program, customer, now),
        print_lines=print_lines(
            program, purchase.redeem_points, purchase.earn_points, earned.available_from, now
        )
        if customer
        else [],
        server_time=now,
    )


def cancel(
    session: Session, till: TillRef, purchase_id: str, body: CancelRequest, now: datetime
) -> Answer:
    purchase = _locked_purchase(session, purchase_id)
    _same_till(purchase, till)
    program = program_by_version(session, purchase.program_version)
    if purchase.state == "cancelled":
        return Answer(200, _cancelled_view(session, program, purchase, now), "natural")
    if purchase.state == "confirmed":
        raise ApiError(
            409,
            "invalid_state",
            "The purchase is confirmed: make a return instead of a cancel.",
        )
    customer = _customer_of(session, purchase)
    _release_holds(session, purchase, now)
    coupons.settle(session, purchase_id, used=False)
    _state, expired = effective_state(purchase, now)
    purchase.state = "cancelled"
    purchase.cancel_reason = expired or (body.reason or "cancelled")[:32]
    _bump(customer, now)
    return Answer(200, _cancelled_view(session, program, purchase, now))


def _release_holds(session: Session, purchase: Purchase, now: datetime) -> list[LedgerEntry]:
    """A ``release`` for each of the purchase's holds; returns the holds."""
    holds = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.purchase_id == purchase.purchase_id, LedgerEntry.kind == "hold"
        )
    ).all()
    for hold in holds:
        session.add(
            _entry(
                purchase,
                "release",
                -hold.amount,
                now,
                lot_id=hold.lot_id,
                line_id=hold.line_id,
                expires_at=hold.expires_at,
            )
        )
    return list(holds)


def _cancelled_view(
    session: Session, program: Program, purchase: Purchase, now: datetime
) -> CancelResponse:
    held = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.purchase_id == purchase.purchase_id, LedgerEntry.kind == "hold"
        )
    )
    codes = session.scalars(
        select(PurchaseLine.coupon)
        .where(PurchaseLine.purchase_id == purchase.purchase_id, PurchaseLine.coupon.is_not(None))
        .distinct()
    ).all()
    return CancelResponse(
        purchase_id=purchase.purchase_id,
        state="cancelled",
        released_points=_fmt(program, -Decimal(held or 0)),
        released_coupons=sorted(c for c in codes if c),
        server_time=now,
    )


def cancel_unknown(session: Session, till: TillRef, purchase_id: str, now: datetime) -> Answer:
    """A queued cancel of a purchase the service never saw: keep a tombstone so a late create of
    the same purchase id finds it cancelled instead of holding points."""
    purchase = Purchase(
        purchase_id=purchase_id,
        device_id=till.device_id,
        store_id=till.store_id,
        chain_id=till.chain_id,
        customer_id=None,
        state="cancelled",
        cancel_reason="cancelled_unseen",
        base_total=0,
        to_pay=0,
        redeem_points=ZERO,
        earn_points=ZERO,
        payments=[],
        offline=True,
        overdraft=ZERO,
        occurred_at=now,
        created_at=now,
    )
    session.add(purchase)
    session.flush()
    program = active_program(session).program
    return Answer(200, _cancelled_view(session, program, purchase, now))


# -- K. lookup ----------------------------------------------------------------------------------
def view(
    session: Session, purchase_id: str, now: datetime, till: TillRef | None = None
) -> PurchaseView:
    """A purchase as ``till`` may see it: one of its own chain (or of a chain it may take returns
    from); another chain's purchase is ``not_found``, as if it did not exist."""
    purchase = session.get(Purchase, purchase_id)
    program = active_program(session).program if till is not None else None
    if (
        purchase is not None
        and till is not None
        and program is not None
        and not program.returns_across(purchase.chain_id, till.chain_id)
    ):
        purchase = None
    if purchase is None:
        raise ApiError(404, "not_found", f"There is no purchase {purchase_id} on the service.")
    program = program_by_version(session, purchase.program_version)
    state, reason = effective_state(purchase, now)
    returns = session.scalars(
        select(PurchaseReturn.return_id)
        .where(PurchaseReturn.purchase_id == purchase_id)
        .order_by(PurchaseReturn.created_at, PurchaseReturn.return_id)
    ).all()
    return PurchaseView(
        purchase_id=purchase.purchase_id,
        state=state,  # type: ignore[arg-type]
        cancel_reason=reason,
        customer_id=purchase.customer_id,
        store_id=purchase.store_id,
        receipt_no=purchase.receipt_no,
        offline=purchase.offline,
        base_total=format_money(purchase.base_total),
        to_pay=format_money(purchase.to_pay),
        redeem_points=_fmt(program, purchase.redeem_points),
        earn_points=_fmt(program, purchase.earn_points),
        hold_expires_at=purchase.hold_expires_at if state == "pending" else None,
        occurred_at=purchase.occurred_at,
        confirmed_at=purchase.confirmed_at,
        lines=[
            PurchaseLineOut(
                line_id=ln.line_id,
                line_no=ln.line_no,
                sku=ln.sku,
                category=ln.category,
                qty=format_quantity(ln.qty),
                returned_qty=format_quantity(ln.returned_qty),
                unit_price=format_money(ln.unit_price),
                base_amount=format_money(ln.base_amount),
                discount=format_money(ln.discount),
                coupon=ln.coupon,
                redeem_points=_fmt(program, ln.redeem_points),
                earn_points=_fmt(program, ln.earn_points),
                final_amount=format_money(ln.final_amount),
            )
            for ln in _stored_lines(session, purchase_id)
        ],
        returns=list(returns),
        server_time=now,
    )
