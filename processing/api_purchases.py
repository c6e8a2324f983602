"""Purchases over the API: pending → confirm / cancel, returns, lookup (docs/protocol.md E, F, K).

Every mutation goes through the exactly-once runner: the idempotency key, the ledger write and the
stored answer commit in one transaction before the till hears "done".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from processing import purchase_returns, purchases
from processing.deps import API, DB, ERRORS, Factory, Now, Till, TillRef
from processing.idempotency import Action, fingerprint, respond, run_once
from sync.protocol import (
    CancelRequest,
    CancelResponse,
    ConfirmRequest,
    ConfirmResponse,
    PurchaseCreated,
    PurchaseRequest,
    PurchaseView,
    ReturnRequest,
    ReturnResponse,
)

router = APIRouter(prefix=API)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="A UUID per business action, kept by the till for every retry of it.",
    ),
]
PurchaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
_REPLAY = {"description": "A replay of the first answer (natural key), see Idempotent-Replay"}


def _once(
    request: Request,
    factory: sessionmaker[Session],
    till: TillRef,
    key: str | None,
    body: BaseModel,
    now: datetime,
    action: Action,
) -> JSONResponse:
    """Run a mutation exactly once for the till's key, committed before the answer."""
    digest = fingerprint("POST", request.url.path, body)
    return respond(request, run_once(factory, till.device_id, key, digest, now, action), now)


@router.post(
    "/purchases",
    status_code=201,
    response_model=PurchaseCreated,
    responses={200: {"model": PurchaseCreated, **_REPLAY}, **ERRORS},
)
def create_purchase(
    body: PurchaseRequest,
    request: Request,
    factory: Factory,
    now: Now,
    till: Till,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a purchase: ``pending`` holds the points, ``confirmed`` (no points) is single phase."""
    ttl = request.app.state.hold_ttl
    return _once(
        request,
        factory,
        till,
        idempotency_key,
        body,
        now,
        lambda session: purchases.create(session, till, body, now, ttl),
    )


@router.post("/purchases/{purchase_id}/confirm", response_model=ConfirmResponse, responses=ERRORS)
def confirm_purchase(
    purchase_id: PurchaseId,
    body: ConfirmRequest,
    request: Request,
    factory: Factory,
    now: Now,
    till: Till,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Confirm after the fiscal receipt: the held points are spent, the earned ones accrue."""
    return _once(
        request,
        factory,
        till,
        idempotency_key,
        body,
        now,
        lambda session: purchases.confirm(session, till, purchase_id, body, now),
    )


@router.post("/purchases/{purchase_id}/cancel", response_model=CancelResponse, responses=ERRORS)
def cancel_purchase(
    purchase_id: PurchaseId,
    request: Request,
    factory: Factory,
    now: Now,
    till: Till,
    body: CancelRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Void a pending purchase: its held points are released."""
    body = body or CancelRequest()
    return _once(
        request,
        factory,
        till,
        idempotency_key,
        body,
        now,
        lambda session: purchases.cancel(session, till, purchase_id, body, now),
    )


@router.post(
    "/purchases/{purchase_id}/returns",
    status_code=201,
    response_model=ReturnResponse,
    responses=ERRORS,
)
def return_purchase(
    purchase_id: PurchaseId,
    body: ReturnRequest,
    request: Request,
    factory: Factory,
    now: Now,
    till: Till,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Return some or all of a confirmed purchase (cumulative over several returns)."""
    return _once(
        request,
        factory,
        till,
        idempotency_key,
        body,
        now,
        lambda session: purchase_returns.add_return(session, till, purchase_id, body, now),
    )


@router.get("/purchases/{purchase_id}", response_model=PurchaseView, responses=ERRORS)
def get_purchase(purchase_id: PurchaseId, session: DB, now: Now, till: Till) -> PurchaseView:
    """The purchase's state and amounts: how a till reconciles after a timeout."""
    return purchases.view(session, purchase_id, now, till)
