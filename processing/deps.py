"""What every route of the processing API depends on: the database, the calling till, the clock.

Owns: the FastAPI dependencies (``DB`` for reads in one transaction, ``Factory`` for handlers that
manage their own transactions, ``Till`` for the authenticated device, ``Now``), the API prefix and
the error responses documented on every route.  Route modules import from here, not from ``app``.

``Till`` checks the device's key: reads trust a key checked in the last 10 s (:class:`AuthCache`),
every route that changes something reads it from the database (a disabled device is refused at
once), and every request checks its expiry (docs/protocol.md §1 Auth).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from processing.admin import DEVICE_ROLES, device_key, note_device_use
from processing.errors import ApiError
from processing.models import Store
from processing.security import hash_token
from sync.protocol import ErrorEnvelope

API = "/api/v1"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409, 422, 429, 500, 503)
}

Clock = Callable[[], datetime]
log = logging.getLogger("processing")


async def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.factory
    return factory


Factory = Annotated[sessionmaker[Session], Depends(_factory)]


async def _reader(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.read_factory
    return factory


Reader = Annotated[sessionmaker[Session], Depends(_reader)]


def _db(reader: Reader) -> Iterator[Session]:
    with reader() as session, session.begin():
        yield session


DB = Annotated[Session, Depends(_db)]
"""A read-only session in one transaction.  Mutations use ``Factory`` and commit explicitly
before they answer."""


@dataclass(frozen=True)
class TillRef:
    """The authenticated till: its device id and where it stands."""

    device_id: str
    store_id: str
    chain_id: str
    name: str
    role: str = "till"
    key_expires_at: datetime | None = field(default=None, compare=False)
    """Until when the key of the request is accepted (None: no key involved, e.g. a till
    rebuilt from a stored purchase)."""
    key_hash: str = field(default="", repr=False, compare=False)
    """The hash of the key of the request (as stored): the rotation route needs to know which."""


def authenticate(
    session: Session, authorization: str | None, now: datetime | None = None
) -> TillRef:
    """The device of an ``Authorization: Bearer`` header; with ``now``, its key checked for
    expiry too.  401 ``unauthenticated`` (no key, unknown key), 401 ``token_expired``, 403
    ``forbidden`` (a disabled device)."""
    return _authenticated(session, authorization, now)[0]


def _authenticated(
    session: Session, authorization: str | None, now: datetime | None
) -> tuple[TillRef, bool]:
    """The device and whether its use is to be noted (:func:`processing.admin.note_device_use`)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(
            401,
            "unauthenticated",
            "This till is not enrolled: enrol it with a code from the admin.",
        )
    found = device_key(session, authorization.removeprefix("Bearer ").strip())
    if found is None:
        raise ApiError(401, "unauthenticated", "The till's key is not valid: enrol the till again.")
    device = found.device
    if device.disabled:
        raise ApiError(403, "forbidden", "This till is disabled on the processing service.")
    store = session.get(Store, device.store_id)
    assert store is not None  # a foreign key
    till = TillRef(
        device.id,
        store.id,
        store.chain_id,
        device.name,
        device.role,
        key_expires_at=found.expires_at,
        key_hash=found.key_hash,
    )
    if now is None:
        return till, False
    check_expiry(till, now)
    return till, found.needs_note(now)


def check_expiry(till: TillRef, now: datetime) -> None:
    """401 ``token_expired`` once the request's key is past its expiry (or, for a key a rotation
    replaced, past its overlap)."""
    if till.key_expires_at is not None and till.key_expires_at <= now:
        raise ApiError(
            401,
            "token_expired",
            f"The till's key expired at {till.key_expires_at:%Y-%m-%d %H:%M} UTC: ask the admin "
            f"for a code (processing device rotate {till.device_id}) and enrol the till again "
            "with it; the till keeps its id and its queue.",
        )


_ANY = frozenset(DEVICE_ROLES)
_TILL = frozenset({"till"})
_DESK = frozenset({"till", "desk"})
ROUTES_BY_ROLE: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/customers/identify"): _ANY,
    ("POST", "/otp/send"): _ANY,
    ("POST", "/otp/verify"): _ANY,
    ("POST", "/customers"): _ANY,
    ("POST", "/handoffs"): _ANY,
    ("POST", "/devices/token"): _ANY,  # a device rotates its own key
    ("GET", "/sync/rules"): _ANY,
    ("GET", "/sync/cashiers"): _ANY,  # a senior cashier's PIN unlocks the kiosk
    ("POST", "/sync/transactions"): _ANY,  # the item kinds by role: ITEM_KINDS_BY_ROLE
    ("GET", "/sync/customers"): _DESK,
    ("GET", "/sync/catalogue"): _DESK,
    ("POST", "/carts/calculate"): _DESK,
    ("GET", "/customers/{customer_id}/balance"): _DESK,
    ("GET", "/customers/{customer_id}/history"): _DESK,
    ("GET", "/customers/{customer_id}/coupons"): _DESK,
    ("GET", "/customers/{customer_id}/offer-sheets"): _DESK,
    ("GET", "/handoffs"): _TILL,
    ("POST", "/purchases"): _TILL,
    ("POST", "/purchases/{purchase_id}/confirm"): _TILL,
    ("POST", "/purchases/{purchase_id}/cancel"): _TILL,
    ("POST", "/purchases/{purchase_id}/returns"): _TILL,
    ("GET", "/purchases/{purchase_id}"): _TILL,
}
"""Which device roles reach each authenticated route (method, path under the API prefix); a
route missing here is refused to every device (a test checks every route is listed)."""

ITEM_KINDS_BY_ROLE: dict[str, frozenset[str]] = {
    "till": frozenset({"purchase", "confirm", "cancel", "return", "register", "offer_sheet"}),
    "desk": frozenset({"register", "offer_sheet"}),
    "kiosk": frozenset({"register"}),
}
"""What a device of each role may queue in ``/sync/transactions``."""

_ROLE_NAMES = {"till": "a till", "kiosk": "a store tablet (kiosk)", "desk": "a consultant's desk"}


def check_role(till: TillRef, method: str, path: str) -> None:
    """403 ``forbidden_for_role`` unless a device of ``till.role`` may call ``method path``."""
    if till.role in ROUTES_BY_ROLE.get((method, path.removeprefix(API)), frozenset()):
        return
    raise ApiError(
        403,
        "forbidden_for_role",
        f"This device is enrolled as {_ROLE_NAMES.get(till.role, till.role)}: it cannot call "
        f"{method} {path.removeprefix(API)}. Enrol a till for that.",
    )


AUTH_CACHE_S = 10.0
"""How long a process trusts a till key it has checked, for reads only: a mutation always checks
its key in the database (:func:`checks_key_afresh`), so a disabled device, or a key the admin
rotated, is refused by the next mutation at once and by reads within this."""

_CACHED_POSTS = frozenset({("POST", "/customers/identify"), ("POST", "/carts/calculate")})
"""POSTs that change nothing: they may trust the key cache, as GETs do."""


def checks_key_afresh(method: str, path: str) -> bool:
    """Whether a request to ``method path`` (under the API prefix) reads its key from the
    database instead of the cache: every route that changes something."""
    return method != "GET" and (method, path.removeprefix(API)) not in _CACHED_POSTS


class AuthCache:
    """Till keys this process has checked recently (key hash → till), so most reads skip a query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, TillRef]] = {}

    def get(self, key: str) -> TillRef | None:
        with self._lock:
            hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: str, till: TillRef) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + AUTH_CACHE_S, till)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_device(self, device_id: str, *, keep: str = "") -> None:
        """Forget every key of ``device_id`` but ``keep``: they are checked again when next used."""
        with self._lock:
            for key in [k for k, (_, t) in self._entries.items() if t.device_id == device_id]:
                if key != keep:
                    del self._entries[key]


def _lookup(
    reader: sessionmaker[Session], authorization: str | None, now: datetime
) -> tuple[TillRef, bool]:
    with reader() as session, session.begin():
        return _authenticated(session, authorization, now)


def _note(factory: sessionmaker[Session], cache: AuthCache, till: TillRef, now: datetime) -> None:
    """Note the device's use (:func:`processing.admin.note_device_use`); a failure is logged,
    never the request's: the note is bookkeeping (the replaced key then lasts until its own
    expiry at most, and is cut on the next cache miss)."""
    try:
        with factory() as session, session.begin():
            cut = note_device_use(session, till.device_id, till.key_hash, now)
    except (SQLAlchemyError, TimeoutError) as exc:
        log.warning("device %s: its use was not noted (%s)", till.device_id, type(exc).__name__)
        return
    if cut:
        cache.forget_device(till.device_id, keep=till.key_hash)


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="till key",
    description="The till's key, given once at enrolment (`POST /devices/enroll`) or rotation "
    "(`POST /devices/token`).",
)


async def _device(
    request: Request,
    reader: Reader,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TillRef:
    authorization = f"Bearer {credentials.credentials}" if credentials else None
    state = request.app.state
    cache: AuthCache = state.auth_cache
    now: datetime = state.clock()
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    key = hash_token(credentials.credentials) if credentials else ""
    cached = None if not key or checks_key_afresh(request.method, path) else cache.get(key)
    try:
        if cached is None:
            till, note = await run_in_threadpool(_lookup, reader, authorization, now)
            cache.put(key, till)
            if note:
                await run_in_threadpool(_note, state.factory, cache, till, now)
        else:
            till = cached
            check_expiry(till, now)
    except ApiError:
        cache.forget(key)
        raise
    check_role(till, request.method, path)
    return till


Till = Annotated[TillRef, Depends(_device)]
"""The calling till."""


async def _now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


Now = Annotated[datetime, Depends(_now)]
