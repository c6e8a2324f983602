"""The processing service's ASGI app: the till-facing API of docs/protocol.md v1.

Owns: routes, device authentication, request ids and body limits.  Business rules come from
``cashier`` (the same engine the till runs); storage from ``processing.models``.  Handlers are
plain ``def`` so FastAPI runs them on its thread pool, each in one database transaction.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, Response
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cashier.ledger import Balance
from cashier.lookup import DEFAULT_PARAMS as LOOKUP_PARAMS
from cashier.lookup import LookupKey
from cashier.money import format_points
from cashier.program import Program
from cashier.quote import quote
from cashier.wallet_token import public_key_to_text
from processing import (
    api_accounts,
    api_handoffs,
    api_purchases,
    api_sync,
    coupons,
    offer_sheets,
    offline_cache,
    wallet_keys,
)
from processing import customers as cust
from processing.admin import EnrolmentRefused, KeyRefused, enroll_device, rotate_device_key
from processing.batches import process_batch
from processing.carts import calculation, cart_lines, customer_state, live_customer, payments_of
from processing.cursors import Cursor
from processing.db import make_engine, read_session_factory, session_factory
from processing.deps import API, DB, ERRORS, AuthCache, Clock, Factory, Now, Till
from processing.docs import install_docs
from processing.errors import ApiError, envelope, install
from processing.housekeeping import Housekeeper
from processing.models import Store
from processing.otp import consume_confirmation
from processing.purchases import HOLD_TTL
from processing.ratelimit import SlidingWindow, identify_limit_from_env
from processing.state import active_program, keys
from processing.views import (
    coupons_of,
    customer_out,
    redeem_policy,
)
from sync.protocol import (
    BalanceSnapshot,
    CalculateRequest,
    CalculateResponse,
    CardLookupOut,
    EnrollRequest,
    EnrollResponse,
    Health,
    IdentifyRequest,
    IdentifyResponse,
    LookupOut,
    LookupParamsOut,
    OfflineRedeemOut,
    RulesResponse,
    SyncCustomer,
    SyncCustomersResponse,
    SyncTransactionsRequest,
    SyncTransactionsResponse,
    TokenResponse,
    WalletKeyOut,
)

MAX_BODY = 2 * 1024 * 1024
CALCULATION_TTL = timedelta(minutes=5)
router = APIRouter(prefix=API)
CUSTOMERS = Cursor("", "start the sync again without it")
log = logging.getLogger("processing")


def create_app(
    db_url: str,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    sms: Any = None,
    hold_ttl: timedelta = HOLD_TTL,
    housekeeping: timedelta | None = None,
    identify_per_minute: int | None = None,
    offline_active_days: int | None = None,
) -> FastAPI:
    """Build the app for the database at ``db_url`` (already migrated).

    ``identify_per_minute``: look-ups by phone or card a device may make a minute (None:
    ``$PROCESSING_IDENTIFY_PER_MINUTE``, else 120; :mod:`processing.ratelimit`).

    ``offline_active_days``: how long a customer stays on a chain's tills after their last
    purchase there (None: ``$PROCESSING_OFFLINE_ACTIVE_DAYS``, else 365;
    :mod:`processing.offline_cache`).

    ``sms`` is the SMS gateway for one-time codes (None: configured from the environment).
    ``housekeeping``: how often this process writes off expired points and closes abandoned holds
    (None: never; servers pass it, tests run the housekeeping functions themselves).
    """
    engine = engine or make_engine(db_url)
    factory = session_factory(engine)
    reader = read_session_factory(engine)
    clock = clock or (lambda: datetime.now(UTC))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _ensure_keys(factory)  # so that reads never have to create them
        keeper = Housekeeper(factory, clock, housekeeping) if housekeeping else None
        if keeper:
            keeper.start()
        try:
            yield
        finally:
            if keeper:
                keeper.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Loyalty processing",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # processing.docs serves them without a CDN
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.factory = factory
    app.state.read_factory = reader
    app.state.auth_cache = AuthCache()
    app.state.identify_limiter = SlidingWindow(
        identify_per_minute if identify_per_minute is not None else identify_limit_from_env(), 60.0
    )
    app.state.offline_active_days = (
        offline_active_days
        if offline_active_days is not None
        else offline_cache.active_days_from_env()
    )
    app.state.clock = clock
    app.state.sms = sms
    app.state.hold_ttl = hold_ttl
    install(app)
    install_docs(app, API)

    app.add_middleware(RequestIdAndLimit)
    app.include_router(router)
    app.include_router(api_accounts.router)
    app.include_router(api_purchases.router)
    app.include_router(api_sync.router)
    app.include_router(api_handoffs.router)
    app.include_router(offer_sheets.router)
    return app


class RequestIdAndLimit:
    """Pure ASGI middleware: a request id on every answer (the till's ``X-Request-Id`` or a new
    one), and bodies over 2 MB refused before anything else runs (authentication included).

    A ``Content-Length`` over the limit is refused unread.  Any other body (chunked, or shorter
    than it said) is read here, counted as it arrives and refused as soon as it passes the limit,
    so a 200 MB upload stops after 2 MB; the connection is closed then, so the rest is never
    read.  A body within the limit is handed on to the app whole.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("X-Request-Id", request_id)
            await send(message)

        length = headers.get("content-length")
        if length is not None and not (
            length.isascii() and length.isdigit() and int(length) <= MAX_BODY
        ):
            await _too_large(scope, receive, send_with_id)
            return
        first = await _read_body(receive)
        if first is None:
            await _too_large(scope, receive, send_with_id)
            return
        pending = [first]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send_with_id)


async def _read_body(receive: Receive) -> Message | None:
    """The whole request body as one ``http.request`` message, read as it arrives; None as soon
    as it passes :data:`MAX_BODY`.  A disconnect is passed on as it came."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    """``413`` with the error envelope; the connection is closed after it (the rest of the body
    is never read)."""
    too_large = "The request body is too large (at most 2 MB)."
    response = envelope(Request(scope), ApiError(413, "validation_error", too_large))
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


def _ensure_keys(factory: sessionmaker[Session]) -> None:
    try:
        with factory() as session, session.begin():
            keys(session)
    except SQLAlchemyError:
        log.warning("the database is not ready (run `processing migrate`); keys made on first use")


@router.get("/health", response_model=Health)
def health(session: DB, now: Now) -> Health:
    try:
        active_program(session)
        ok = True
    except LookupError:
        ok = False
    status: Literal["ok", "degraded"] = "ok" if ok else "degraded"
    return Health(status=status, calc=status, server_time=now, version="1")


@router.post("/devices/enroll", response_model=EnrollResponse, status_code=201, responses=ERRORS)
def enroll(body: EnrollRequest, factory: Factory, now: Now) -> EnrollResponse:
    with factory() as session, session.begin():  # committed before the till hears of its token
        try:
            dev, token = enroll_device(session, body.code, body.name, now)
        except EnrolmentRefused as exc:
            raise ApiError(403, "forbidden", exc.reason) from None
        store = session.get(Store, dev.store_id)
        assert store is not None
        result = EnrollResponse(
            device_id=dev.id,
            token=token,
            store_id=store.id,
            store_name=store.name,
            chain_id=store.chain_id,
            server_time=now,
            token_expires_at=dev.token_expires_at,
            wallet_keys=wallet_keys_out(wallet_keys.wallet_keys(session)),
        )
    return result


def wallet_keys_out(listed: tuple[wallet_keys.WalletKey, ...]) -> list[WalletKeyOut]:
    return [
        WalletKeyOut(
            kid=k.kid,
            public_key=public_key_to_text(k.public),
            endorsed_by=k.endorsed_by,
            endorsement=k.endorsement,
            retires_at=k.retires_at,
        )
        for k in listed
    ]


@router.post("/devices/token", response_model=TokenResponse, responses=ERRORS)
def rotate_token(factory: Factory, now: Now, till: Till) -> TokenResponse:
    """The device's new key, before the one it sends expires (docs/protocol.md N): the key of the
    request keeps working until the new key is first used, so a lost answer is asked again."""
    with factory() as session, session.begin():  # committed before the till hears of its key
        try:
            dev, token = rotate_device_key(session, till.device_id, till.key_hash, now)
        except KeyRefused as exc:
            if exc.reason == "disabled":
                raise ApiError(
                    403, "forbidden", "This till is disabled on the processing service."
                ) from None
            raise ApiError(
                401, "unauthenticated", "The till's key is not valid: enrol the till again."
            ) from None
        result = TokenResponse(
            device_id=dev.id, token=token, token_expires_at=dev.token_expires_at, server_time=now
        )
    return result


@router.get(
    "/sync/rules",
    response_model=RulesResponse,
    responses={304: {"description": "Not modified"}, **ERRORS},
)
def rules(
    session: DB,
    now: Now,
    till: Till,
    since_version: str | None = None,
    keys_tag: str | None = None,
) -> RulesResponse | Response:
    active = active_program(session)
    wallet = wallet_keys.wallet_keys(session)
    tag = wallet_keys.tag(wallet)
    if since_version == active.version and keys_tag in (None, tag):
        return Response(status_code=304, headers={"ETag": f'"{active.version}"'})
    k = keys(session)
    budget = active.program.offline_redeem
    return RulesResponse(
        version=active.version,
        valid_from=active.activated_at,
        program_toml=active.toml,
        offline_redeem=OfflineRedeemOut(
            enabled=budget.enabled,
            max_points_per_customer_per_day=format_points(
                budget.max_points_per_customer_per_day, active.program.points_scale
            ),
            max_snapshot_age_hours=budget.max_snapshot_age_hours,
            verified_customers_only=budget.verified_customers_only,
        ),
        wallet_public_key=public_key_to_text(wallet[-1].public) if wallet else None,
        wallet_keys=wallet_keys_out(wallet),
        wallet_keys_tag=tag,
        phone_hash_key=base64.urlsafe_b64encode(k.phone_hash_key).decode().rstrip("="),
        lookup=LookupParamsOut(**LOOKUP_PARAMS.as_json()),
        server_time=now,
    )


@router.post("/customers/identify", response_model=IdentifyResponse, responses=ERRORS)
def identify(
    body: IdentifyRequest, request: Request, session: DB, now: Now, till: Till
) -> IdentifyResponse:
    """Find a customer by phone, card, QR (wallet or Mindbox) or customer id.  By phone or card at most
    ``identify_per_minute`` a minute per device (``429 rate_limited``): a stolen key must not
    scan the phone book."""
    if body.identifier.type in ("phone", "card"):
        limiter: SlidingWindow = request.app.state.identify_limiter
        wait = limiter.hit(till.device_id)
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"This device looked up {limiter.limit} customers by phone or card in the last "
                f"minute: try again in {wait} s.",
                retryable=True,
                headers={"Retry-After": str(wait)},
            )
    at = now
    program = active_program(session).program
    found = cust.identify(session, body.identifier.type, body.identifier.value, at)
    if found.customer is None or found.status != "found":
        return IdentifyResponse(status=found.status, message=found.message, server_time=at)  # type: ignore[arg-type]
    verified, message = found.verified, None
    if body.confirmation_token and not verified:
        try:
            consume_confirmation(
                session,
                body.confirmation_token,
                purpose="identify",
                device_id=till.device_id,
                phone=found.customer.phone,
                customer_id=found.customer.id,
                now=at,
                spend=False,
            )
            verified = True
        except ApiError as exc:
            message = exc.message
    view, bal = customer_out(session, program, found.customer, at, verified=verified)
    return IdentifyResponse(
        status="found",
        message=message,
        customer=view,
        balance=bal,
        redeem_policy=redeem_policy(program),
        coupons=coupons_of(session, found.customer.id, at),
        server_time=at,
    )


@router.post("/carts/calculate", response_model=CalculateResponse, responses=ERRORS)
def calculate(body: CalculateRequest, session: DB, now: Now, till: Till) -> CalculateResponse:
    active = active_program(session)
    program = active.program
    state, customer = None, None
    if body.customer is not None:
        customer = live_customer(session, body.customer.id)
        state = customer_state(session, program, customer, now)
    lines = cart_lines(session, body.lines)
    checks = coupons.check(
        session, body.coupons, customer.id if customer else None, lines, body.lines, now
    )
    q = quote(
        program,
        state,
        coupons.discounted(lines, checks),
        occurred_at=now,
        redeem=body.redeem.points,
        payments=payments_of(body.payments_hint),
    )
    return calculation(session, program, active.version, q, body.lines, customer, checks, now)


@router.post("/sync/transactions", response_model=SyncTransactionsResponse, responses=ERRORS)
def sync_transactions(
    body: SyncTransactionsRequest, factory: Factory, now: Now, till: Till
) -> SyncTransactionsResponse:
    """Push a till's offline queue: items applied in ``seq`` order, each exactly once."""
    return process_batch(factory, till, body, now)


@router.get("/sync/customers", response_model=SyncCustomersResponse, responses=ERRORS)
def sync_customers(
    request: Request,
    session: DB,
    factory: Factory,
    now: Now,
    till: Till,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> SyncCustomersResponse:
    """The customers this till's chain serves, changed after ``cursor``
    (:mod:`processing.offline_cache`)."""
    program = active_program(session).program
    k = keys(session)
    got = offline_cache.page(
        session,
        factory,
        program,
        till.chain_id,
        LookupKey(k.phone_hash_key, LOOKUP_PARAMS),
        CUSTOMERS.decode(cursor) if cursor else None,
        limit,
        now,
        request.app.state.offline_active_days,
    )
    live = [e.customer for e in got.entries if not e.customer.deleted]
    balances = cust.balances_of(session, program, live, now)
    spends = cust.spends_of(session, program, live, now)
    items = [_sync_item(program, e, now, balances, spends) for e in got.entries]
    last = got.entries[-1].customer if got.entries else None
    next_cursor = CUSTOMERS.encode(last.updated_at, last.id) if last else cursor
    return SyncCustomersResponse(
        items=items, next_cursor=next_cursor, has_more=got.more, server_time=now
    )


def _sync_item(
    program: Program,
    entry: offline_cache.CachedEntry,
    at: datetime,
    balances: dict[str, Balance],
    spends: dict[str, int],
) -> SyncCustomer:
    c = entry.customer
    if c.deleted:
        return SyncCustomer(id=c.id, updated_at=c.updated_at, deleted=True)
    return SyncCustomer(
        id=c.id,
        updated_at=c.updated_at,
        deleted=False,
        phone_lookup=LookupOut(bucket=entry.phone.bucket, digest=entry.phone.digest)
        if entry.phone
        else None,
        cards=[
            CardLookupOut(bucket=found.bucket, digest=found.digest, status=card.status)
            for card, found in entry.cards
        ],
        display_name=cust.display_name(c),
        tier=cust.tier_of(program, c, spends[c.id]).code,
        verified=c.phone_verified,
        balance_snapshot=BalanceSnapshot(
            available=format_points(balances[c.id].available, program.points_scale), as_of=at
        ),
        active_until=entry.active_until,
        wallet_not_before=c.wallet_not_before,
    )


__all__ = ["create_app"]
