"""What every route of the processing API depends on: the database, the calling till, the clock.

Owns: the FastAPI dependencies (``DB`` for reads in one transaction, ``Factory`` for handlers that
manage their own transactions, ``Till`` for the authenticated device, ``Now``), the API prefix and
the error responses documented on every route.  Route modules import from here, not from ``app``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from processing.admin import device_for_token
from processing.errors import ApiError
from processing.models import Store
from sync.protocol import ErrorEnvelope

API = "/api/v1"
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409, 422, 429, 500, 503)
}

Clock = Callable[[], datetime]


def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.factory
    return factory


Factory = Annotated[sessionmaker[Session], Depends(_factory)]


def _reader(request: Request) -> sessionmaker[Session]:
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
    return TillRef(found.id, store.id, store.chain_id, found.name)


def _device(reader: Reader, authorization: Annotated[str | None, Header()] = None) -> TillRef:
    with reader() as session, session.begin():
        return authenticate(session, authorization)


Till = Annotated[TillRef, Depends(_device)]
"""The calling till."""


def _now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


Now = Annotated[datetime, Depends(_now)]
