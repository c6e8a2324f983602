"""Turning domain results into wire models (sync.protocol) for the processing API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cashier.identifiers import mask_phone
from cashier.ledger import Balance
from cashier.money import format_money, format_points, format_quantity
from cashier.program import Program
from cashier.quote import Quote
from processing.customers import card_of, customer_balance, display_name, spend_in_window, tier_of
from processing.models import Coupon, Customer
from processing.profiles import missing_fields
from sync.protocol import (
    Activation,
    BalanceOut,
    CardOut,
    CouponOut,
    CustomerOut,
    Expiry,
    LineOut,
    RedeemOut,
    RedeemPolicy,
    TotalsOut,
)


def balance_out(program: Program, bal: Balance) -> BalanceOut:
    s = program.points_scale
    return BalanceOut(
        available=format_points(bal.available, s),
        pending=format_points(bal.pending, s),
        total=format_points(bal.total, s),
        next_activation=Activation(
            amount=format_points(bal.next_activation[0], s), available_from=bal.next_activation[1]
        )
        if bal.next_activation
        else None,
        next_expiry=Expiry(amount=format_points(bal.next_expiry[0], s), at=bal.next_expiry[1])
        if bal.next_expiry
        else None,
    )


def customer_out(
    session: Session, program: Program, customer: Customer, now: datetime, *, verified: bool
) -> tuple[CustomerOut, BalanceOut]:
    spend = spend_in_window(session, program, customer, now)
    tier = tier_of(program, customer, spend)
    nxt = program.next_tier(spend)
    card = card_of(session, customer.id)
    view = CustomerOut(
        id=customer.id,
        display_name=display_name(customer),
        phone_masked=mask_phone(customer.phone) if customer.phone else None,
        phone_confirmed=customer.phone_verified,
        card=CardOut(number=card.number, status=card.status) if card else None,
        tier=tier.code,
        tier_name=tier.name,
        auth_level="verified" if verified else "identified",
        window_spend=format_money(spend),
        next_tier=nxt[0].code if nxt and nxt[0].from_spend > tier.from_spend else None,
        next_tier_missing=format_money(nxt[1])
        if nxt and nxt[0].from_spend > tier.from_spend
        else None,
        missing=missing_fields(customer),
    )
    return view, balance_out(program, customer_balance(session, program, customer, now))


def redeem_policy(program: Program) -> RedeemPolicy:
    if program.confirmation_above is None:
        return RedeemPolicy()
    return RedeemPolicy(
        requires_confirmation_above=format_points(program.confirmation_above, program.points_scale),
        confirmation="sms_code",
    )


def coupons_of(session: Session, customer_id: str, now: datetime) -> list[CouponOut]:
    rows = session.scalars(
        select(Coupon)
        .where(
            Coupon.customer_id == customer_id, Coupon.status == "issued", Coupon.valid_till > now
        )
        .order_by(Coupon.valid_till)
        .limit(20)
    )
    return [CouponOut(code=c.code, title=c.title, valid_till=c.valid_till) for c in rows]


def quote_lines(
    q: Quote, ids: dict[str, tuple[str, int]], coupons: dict[str, tuple[str, int]] | None = None
) -> list[LineOut]:
    """Wire lines of a quote; ``ids`` maps the engine's line key to the till's (line_id, line_no),
    ``coupons`` a line key to the coupon that discounts it and by how much."""
    s = q.program.points_scale
    coupons = coupons or {}
    return [
        LineOut(
            line_id=ids[ln.line_id][0],
            line_no=ids[ln.line_id][1],
            discounts=[
                {
                    "source": "coupon",
                    "coupon": coupons[ln.line_id][0],
                    "amount": format_money(coupons[ln.line_id][1]),
                }
            ]
            if ln.line_id in coupons
            else [],
            qty=format_quantity(ln.qty),
            base_amount=format_money(ln.base_amount),
            redeem_points=format_points(ln.redeem_points, s),
            earn_points=format_points(ln.earn_points, s),
            final_amount=format_money(ln.final_amount),
        )
        for ln in q.lines
    ]


def quote_totals(q: Quote) -> tuple[TotalsOut, RedeemOut]:
    s = q.program.points_scale
    totals = TotalsOut(
        base=format_money(q.base_total),
        discount=format_money(q.discount_total),
        redeem_points=format_points(q.redeem_points, s),
        redeem_amount=format_money(q.redeem_amount),
        to_pay=format_money(q.to_pay),
        earn_points=format_points(q.earn_points, s),
        earn_available_from=q.earn_available_from,
        earn_expires_at=q.earn_expires_at,
    )
    redeem = RedeemOut(
        max_points=format_points(q.max_redeem_points, s),
        requested=q.requested,
        applied=format_points(q.redeem_points, s),
        requires_confirmation=q.requires_confirmation,
        cap_reasons=[r.value for r in q.cap_reasons],
        cap_explanation=q.cap_explanation(),
    )
    return totals, redeem
