"""Customer accounts over the API: OTP, registration, balance, history and coupons (docs/protocol.md B, C, G, H).

Owns: the routes.  The rules live in :mod:`processing.otp` and :mod:`processing.registration`;
mutations go through the exactly-once runner (:mod:`processing.idempotency`) and commit before
they answer.

``POST /otp/send`` stores the code and reserves its SMS in one transaction, commits, and only then
hands the SMS to the gateway (``app.state.sms``; built from ``$PROCESSING_SMS`` on first use when
None).  If the gateway fails, the code, the reservation and the stored answer are taken back and
the till hears ``503 unavailable`` (retryable with the same key).  A replay never sends again.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from cashier.identifiers import mask_phone
from cashier.money import format_points
from cashier.program import Program
from processing import otp, registration
from processing.cursors import Cursor
from processing.customers import customer_balance
from processing.db import transaction
from processing.deps import API, DB, ERRORS, Factory, Now, Till
from processing.errors import ApiError
from processing.idempotency import Answer, Outcome, check_key, fingerprint, respond, run_once
from processing.models import Coupon, Customer, IdempotencyRecord, LedgerEntry
from processing.sms import SmsError, SmsGateway, gateway_from_config
from processing.state import active_program
from processing.views import balance_out, customer_out
from sync.protocol import ErrorBody, ErrorEnvelope
from sync.protocol_accounts import (
    AccountOut,
    BalanceResponse,
    CouponItem,
    CouponsResponse,
    HistoryItem,
    HistoryResponse,
    OtpSendRequest,
    OtpSendResponse,
    OtpVerifyRequest,
    OtpVerifyResponse,
    RegisteredCard,
    RegisterRequest,
    RegisterResponse,
)

log = logging.getLogger("processing.accounts")

router = APIRouter(prefix=API, tags=["customer accounts"])

HISTORY_KINDS = (
    "earn",
    "redeem",
    "return_restore",
    "return_revoke",
    "expire",
    "adjust",
    "welcome",
    "birthday",
    "profile",
    "opening",
)
"""Ledger kinds a customer's history shows; holds and their releases never appear."""

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="A UUID the till keeps for retries (§4)."),
]
CustomerId = Annotated[str, Path(min_length=1, max_length=64)]
_gateway_lock = threading.Lock()


def _gateway(request: Request) -> SmsGateway:
    gateway: SmsGateway | None = request.app.state.sms
    if gateway is not None:
        return gateway
    with _gateway_lock:
        gateway = request.app.state.sms
        if gateway is None:
            try:
                gateway = gateway_from_config(None)
            except ValueError as exc:
                log.warning("SMS gateway not configured: %s", exc)
                raise ApiError(
                    503, "unavailable", f"SMS cannot be sent: the service is misconfigured ({exc})"
                ) from None
            request.app.state.sms = gateway
    return gateway


def _limits(request: Request) -> otp.OtpLimits:
    found = getattr(request.app.state, "otp_limits", None)
    return found if isinstance(found, otp.OtpLimits) else otp.DEFAULT_LIMITS


def _live_customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.deleted:
        merged = customer.merged_into if customer is not None else None
        message = (
            f"The customer {customer_id} was merged into {merged}: use that account."
            if merged
            else f"There is no customer {customer_id}: identify the customer again."
        )
        raise ApiError(404, "not_found", message)
    return customer


# -- B. OTP ---------------------------------------------------------------------------------------
@router.post("/otp/send", response_model=OtpSendResponse, responses=ERRORS)
def otp_send(
    body: OtpSendRequest,
    request: Request,
    till: Till,
    factory: Factory,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Send a one-time code by SMS to a number of the program's countries.  Limits: one per number
    a minute and 10 a day, 30 per till and 60 per address per hour, none to a number locked by
    15 wrong codes in a day (``429 rate_limited`` with ``Retry-After``)."""
    key = check_key(idempotency_key)
    gateway = _gateway(request)
    limits = _limits(request)
    address = request.client.host if request.client else None
    issued: list[otp.Issued] = []

    def action(session: Session) -> Answer:
        issued.clear()
        program = active_program(session).program
        code = otp.issue(
            session,
            phone=body.phone,
            purpose=body.purpose,
            customer_id=body.customer_id,
            device_id=till.device_id,
            address=address,
            now=now,
            program_name=program.name,
            limits=limits,
            countries=program.sms_countries,
        )
        issued.append(code)
        return Answer(
            200,
            OtpSendResponse(
                otp_id=code.otp.id,
                expires_at=code.otp.expires_at,
                resend_after_s=limits.resend_after_s,
                attempts_left=code.otp.attempts_left,
                phone_masked=mask_phone(code.phone),
                server_time=now,
            ),
        )

    digest = fingerprint("POST", request.url.path, body)
    outcome = run_once(factory, till.device_id, key, digest, now, action)
    if outcome.replay is None and outcome.status == 200 and issued:
        _deliver(factory, gateway, issued[-1], till.device_id, key)
    return respond(request, outcome, now)


def _deliver(
    factory: Factory, gateway: SmsGateway, issued: otp.Issued, device_id: str, key: str
) -> None:
    """Send the SMS of a committed code; on failure take the code and its answer back."""
    try:
        gateway.send(issued.phone, issued.text)
    except Exception as exc:
        with transaction(factory) as session:
            otp.withdraw(session, issued)
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.device_id == device_id, IdempotencyRecord.key == key
                )
            )
        if not isinstance(exc, SmsError):
            raise
        log.warning("SMS to %s not sent: %s", mask_phone(issued.phone), exc)
        raise ApiError(
            503,
            "unavailable",
            f"The code could not be sent: {exc} Try again in a minute.",
            retryable=True,
        ) from None


@router.post("/otp/verify", response_model=OtpVerifyResponse, responses=ERRORS)
def otp_verify(
    body: OtpVerifyRequest,
    request: Request,
    till: Till,
    factory: Factory,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Check a code; answer a single-use ``confirmation_token`` (10 minutes) for ``/customers``
    or ``/purchases``.  Wrong codes count (5 attempts).  The Idempotency-Key is optional."""
    limits = _limits(request)

    def decide(session: Session) -> otp.Verified | ApiError:
        program = active_program(session).program
        return otp.verify(
            session, body.otp_id, body.code, till=till, program=program, now=now, limits=limits
        )

    if idempotency_key is None:
        with transaction(factory) as session:  # a wrong attempt is counted: commit either way
            result = decide(session)
        if isinstance(result, ApiError):
            raise result
        out = _verified_out(result, now).model_dump(mode="json")
        return respond(request, Outcome(200, out, None), now)

    def action(session: Session) -> Answer:
        result = decide(session)
        if isinstance(result, ApiError):
            error = ErrorBody(code=result.code, message=result.message, retryable=result.retryable)
            return Answer(result.status, ErrorEnvelope(error=error))
        return Answer(200, _verified_out(result, now))

    digest = fingerprint("POST", request.url.path, body)
    outcome = run_once(factory, till.device_id, idempotency_key, digest, now, action)
    return respond(request, outcome, now)


def _verified_out(result: otp.Verified, now: datetime) -> OtpVerifyResponse:
    return OtpVerifyResponse(
        status="verified",
        confirmation_token=result.token,
        expires_at=result.expires_at,
        customer_id=result.otp.customer_id,
        server_time=now,
    )


# -- C. registration ------------------------------------------------------------------------------
@router.post(
    "/customers",
    status_code=201,
    response_model=RegisterResponse,
    responses={
        200: {"model": RegisterResponse, "description": "already_exists or updated"},
        **ERRORS,
    },
)
def create_customer(
    body: RegisterRequest,
    request: Request,
    till: Till,
    factory: Factory,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Register a customer: ``201`` created; ``200`` with ``status: already_exists`` when the phone
    belongs to a verified customer (nothing changes), or ``updated`` when an unverified account was
    completed, or a verified one's missing ``email`` / ``birth_date`` / ``first_name`` were filled
    in because the request carries a confirmation token (purpose ``register`` or ``identify``) for
    that phone; ``completed`` names what was filled in, ``profile_points`` the profile bonus given.
    A card bound to someone else is ``422 card_already_bound``; a blocked card ``422 card_blocked``.
    """
    key = check_key(idempotency_key)

    def action(session: Session) -> Answer:
        program = active_program(session).program
        result = registration.register(session, program, till, body, now)
        status = 201 if result.status == "created" else 200
        return Answer(status, registration_out(session, program, result, now))

    digest = fingerprint("POST", request.url.path, body)
    outcome = run_once(factory, till.device_id, key, digest, now, action)
    return respond(request, outcome, now)


def registration_out(
    session: Session, program: Program, result: registration.Registration, now: datetime
) -> RegisterResponse:
    """The wire answer for a registration (also for an offline one in a batch)."""
    view, bal = customer_out(session, program, result.customer, now, verified=result.confirmed)
    return RegisterResponse(
        status=result.status,
        customer=view,
        balance=bal,
        card=RegisteredCard(number=result.card.number, status="bound") if result.card else None,
        welcome_points=format_points(result.welcome.amount, program.points_scale)
        if result.welcome
        else None,
        profile_points=format_points(result.profile.amount, program.points_scale)
        if result.profile
        else None,
        completed=list(result.completed),
        server_time=now,
    )


# -- G. balance and history -----------------------------------------------------------------------
@router.get("/customers/{customer_id}/balance", response_model=BalanceResponse, responses=ERRORS)
def customer_balance_route(
    customer_id: CustomerId, till: Till, session: DB, now: Now
) -> BalanceResponse:
    program = active_program(session).program
    customer = _live_customer(session, customer_id)
    core = balance_out(program, customer_balance(session, program, customer, now))
    return BalanceResponse(
        available=core.available,
        pending=core.pending,
        total=core.total,
        accounts=[AccountOut(id="main", available=core.available, pending=core.pending)],
        next_expiry=core.next_expiry,
        next_activation=core.next_activation,
        server_time=now,
    )


def _signed(amount: Decimal, scale: int) -> str:
    if amount == 0:
        return format_points(Decimal(0), scale)
    text = format_points(amount, scale)
    return "+" + text if amount > 0 else text


HISTORY = Cursor("h1|", "read the history again from the first page")


@router.get("/customers/{customer_id}/history", response_model=HistoryResponse, responses=ERRORS)
def customer_history(
    customer_id: CustomerId,
    till: Till,
    session: DB,
    now: Now,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    since: datetime | None = None,
) -> HistoryResponse:
    """The customer's points history, newest first (by when it happened), ``limit`` per page.
    ``since`` keeps entries that happened at or after it; ``next_cursor`` reads the next page."""
    if since is not None and since.tzinfo is None:
        raise ApiError(
            400,
            "validation_error",
            "since needs a time zone offset, e.g. 2026-11-01T00:00:00+03:00.",
            details=[{"field": "/query/since", "message": "no time zone offset"}],
        )
    program = active_program(session).program
    customer = _live_customer(session, customer_id)
    stmt = (
        select(LedgerEntry)
        .where(LedgerEntry.customer_id == customer.id, LedgerEntry.kind.in_(HISTORY_KINDS))
        .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())
        .limit(limit + 1)
    )
    if since is not None:
        stmt = stmt.where(LedgerEntry.occurred_at >= since)
    if cursor:
        at, key = HISTORY.decode(cursor)
        if not key.isdigit():
            raise ApiError(
                400,
                "validation_error",
                "The cursor is not valid: read the history again from the first page.",
            )
        entry_id = int(key)
        stmt = stmt.where(tuple_(LedgerEntry.occurred_at, LedgerEntry.id) < tuple_(at, entry_id))
    rows = list(session.scalars(stmt))
    page, more = rows[:limit], len(rows) > limit
    scale = program.points_scale
    items = [
        HistoryItem(
            id=str(e.id),
            at=e.occurred_at,
            kind=e.kind,
            amount=_signed(e.amount, scale),
            available_from=e.available_from,
            expires_at=e.expires_at,
            purchase_id=e.purchase_id,
            store_id=e.store_id,
            chain_id=e.chain_id,
            line_id=e.line_id,
        )
        for e in page
    ]
    next_cursor = HISTORY.encode(page[-1].occurred_at, page[-1].id) if more else None
    return HistoryResponse(items=items, next_cursor=next_cursor, server_time=now)


# -- H. coupons -----------------------------------------------------------------------------------
def _coupon_status(coupon: Coupon, now: datetime) -> str:
    if coupon.status != "issued":
        return coupon.status
    if now < coupon.valid_from:
        return "not_yet_active"
    if now >= coupon.valid_till:
        return "expired"
    return "active"


@router.get("/customers/{customer_id}/coupons", response_model=CouponsResponse, responses=ERRORS)
def customer_coupons(customer_id: CustomerId, till: Till, session: DB, now: Now) -> CouponsResponse:
    """The customer's personal coupons, soonest to end first, with their status now."""
    customer = _live_customer(session, customer_id)
    rows = session.scalars(
        select(Coupon)
        .where(Coupon.customer_id == customer.id)
        .order_by(Coupon.valid_till, Coupon.code)
        .limit(500)
    )
    items = [
        CouponItem(
            code=c.code,
            title=c.title,
            valid_from=c.valid_from,
            valid_till=c.valid_till,
            status=_coupon_status(c, now),
        )
        for c in rows
    ]
    return CouponsResponse(items=items, server_time=now)
