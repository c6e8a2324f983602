"""What every route of the processing API depends on: the database, the calling till, the clock.

Owns: the FastAPI dependencies (``DB`` for reads in one transaction, ``Factory`` for handlers that
manage their own transactions, ``Till`` for the authenticated device, ``Now``), the API prefix and
the error responses documented on every route.  Route modules import from here, not from ``app``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from processing.admin import DEVICE_ROLES, device_for_token
from processing.errors import ApiError
from processing.models import Store
from processing.security import hash_token
from sync.protocol import ErrorEnvelope

API = "/api/v1"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409, 422, 429, 500, 503)
}

Clock = Callable[[], datetime]


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


def authenticate(session: Session, authorization: str | None) -> TillRef:
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(
            401,
            "unauthenticated",
            "This till is not enrolled: enrol it with a code from the admin.",
        )
    found = device_for_token(session, authorization.removeprefix("Bearer ").strip())
    if found is None:
        raise ApiError(401, "unauthenticated", "The till's key is not valid: enrol the till again.")
    if found.disabled:
        raise ApiError(403, "forbidden", "This till is disabled on the processing service.")
    store = session.get(Store, found.store_id)
    assert store is not None  # a foreign key
    return TillRef(found.id, store.id, store.chain_id, found.name, found.role)


_ANY = frozenset(DEVICE_ROLES)
_TILL = frozenset({"till"})
_DESK = frozenset({"till", "desk"})
ROUTES_BY_ROLE: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/customers/identify"): _ANY,
    ("POST", "/otp/send"): _ANY,
    ("POST", "/otp/verify"): _ANY,
    ("POST", "/customers"): _ANY,
    ("POST", "/handoffs"): _ANY,
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
"""How long a process trusts a till key it has checked: a disabled till is refused within this."""


class AuthCache:
    """Till keys this process has checked recently (hash → till), so most requests skip a query."""

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


def _lookup(reader: sessionmaker[Session], authorization: str | None) -> TillRef:
    with reader() as session, session.begin():
        return authenticate(session, authorization)


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="till key",
    description="The till's key, given once at enrolment (`POST /devices/enroll`).",
)


async def _device(
    request: Request,
    reader: Reader,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TillRef:
    authorization = f"Bearer {credentials.credentials}" if credentials else None
    cache: AuthCache = request.app.state.auth_cache
    key = hash_token(authorization) if authorization else ""
    till = cache.get(key) if key else None
    if till is None:
        till = await run_in_threadpool(_lookup, reader, authorization)
        cache.put(key, till)
    route = request.scope.get("route")
    check_role(till, request.method, getattr(route, "path", request.url.path))
    return till


Till = Annotated[TillRef, Depends(_device)]
"""The calling till."""


async def _now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


Now = Annotated[datetime, Depends(_now)]
