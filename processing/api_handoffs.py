"""The routes of hand-offs: ``POST /handoffs`` and the long-polled ``GET /handoffs``.

Owns: the HTTP side of :mod:`processing.handoffs`.  The POST goes through
:func:`processing.idempotency.run_once` like every mutation.  The GET is a coroutine: while it
long-polls it holds no thread and no database session, only a timer; every ~0.1 s it looks again
in a short read-only session on the thread pool, until hand-offs arrive, ``wait`` passes or the
till hangs up.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from processing import handoffs
from processing.api_accounts import IdempotencyKey
from processing.deps import API, ERRORS, Clock, Factory, Now, Reader, Till, TillRef
from processing.idempotency import Answer, check_key, fingerprint, respond, run_once
from processing.state import active_program
from sync.protocol_desk import HandoffCreated, HandoffRequest, HandoffsResponse

router = APIRouter(prefix=API, tags=["hand-offs"])

POLL_INTERVAL = 0.1
"""How often a long-polling ``GET /handoffs`` looks again, in seconds."""
MAX_WAIT = 10.0


@router.post("/handoffs", status_code=201, response_model=HandoffCreated, responses=ERRORS)
def create_handoff(
    body: HandoffRequest,
    request: Request,
    till: Till,
    factory: Factory,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Hand a customer off to the other tills of this till's store for 5 minutes.  An unknown,
    deleted or merged customer is ``404 not_found``."""
    key = check_key(idempotency_key)

    def action(session: Session) -> Answer:
        return handoffs.create(session, till, body, now)

    digest = fingerprint("POST", request.url.path, body)
    outcome = run_once(factory, till.device_id, key, digest, now, action)
    return respond(request, outcome, now)


def _look(reader: sessionmaker[Session], till: TillRef, after: int, now: datetime) -> handoffs.Page:
    with reader() as session, session.begin():
        program = active_program(session).program
        return handoffs.page(session, program, till, after, now)


@router.get("/handoffs", response_model=HandoffsResponse, responses=ERRORS)
async def list_handoffs(
    request: Request,
    reader: Reader,
    till: Till,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT, allow_inf_nan=False)] = 0,
) -> HandoffsResponse:
    """Hand-offs for this till's store posted by other devices, not expired, with ``id > after``,
    oldest first, at most 20; ``last_id`` is the ``after`` of the next call.

    The first call passes ``after=0``: it answers the store's newest id as ``last_id`` and only
    hand-offs of the last 30 s as items, so old ones are not replayed.  With ``wait`` (seconds,
    up to 10) the call waits until some arrive or ``wait`` passes (a long poll).
    """
    clock: Clock = request.app.state.clock
    deadline = time.monotonic() + wait
    cursor = after
    while True:
        found = await run_in_threadpool(_look, reader, till, cursor, clock())
        left = deadline - time.monotonic()
        if found.items or left <= 0 or await request.is_disconnected():
            return HandoffsResponse(items=found.items, last_id=found.last_id, server_time=clock())
        cursor = found.last_id
        await asyncio.sleep(min(POLL_INTERVAL, left))


__all__ = ["router"]
