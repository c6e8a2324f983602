"""Exactly-once mutations (docs/protocol.md §4): ``(device, Idempotency-Key)`` → the first answer, for good.

Owns: :func:`run_once`, which every mutating route goes through.  In **one** database transaction
it claims the key (a row in ``idempotency``), runs the action in a savepoint and stores the answer,
so the key, the ledger write and the stored answer commit together or not at all.

- Same key, same body, done → the stored answer again, marked ``Idempotent-Replay: true``.
- Same key, another body → ``422 idempotency_key_reused``; nothing changes.
- Two requests with one key at once: on PostgreSQL the second blocks on the key's unique index until
  the first commits, then fails its insert and answers the replay; on SQLite writers are serialised
  (``BEGIN IMMEDIATE``), so the second simply finds the key.  Either way: one effect.
- Business refusals (4xx other than 401/403/429) are stored too, so a retry hears the same refusal;
  transient answers (429, 5xx) are not, so a retry can succeed.
- An action may answer a *natural* replay (the purchase or return id exists under another key):
  that answer is stored under the new key and marked ``Idempotent-Replay: natural``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cashier.errors import UserFacingError
from processing.errors import ApiError, from_user_error, request_id_of
from processing.models import IdempotencyRecord

KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
_NOT_STORED = {401, 403, 429}
_ATTEMPTS = 5

Replay = Literal["true", "natural"] | None


@dataclass(frozen=True)
class Answer:
    """What an action produced: the status, the wire model, and whether it is a natural replay."""

    status: int
    body: BaseModel
    replay: Replay = None


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replay: Replay


Action = Callable[[Session], Answer]


def fingerprint(method: str, path: str, body: BaseModel | None) -> str:
    """A stable hash of what the request asks for (method, path and the parsed body)."""
    payload = body.model_dump(mode="json") if body is not None else None
    text = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def check_key(key: str | None) -> str:
    if key is None or not KEY_RE.match(key):
        raise ApiError(
            400,
            "validation_error",
            "This request needs an Idempotency-Key header (a UUID the till keeps for retries).",
            details=[{"field": "/header/idempotency-key", "message": "missing or not a UUID"}],
        )
    return key


def _error_body(error: ApiError) -> dict[str, Any]:
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "retryable": error.retryable,
            "details": error.details,
        },
        **error.extra,
    }


def lookup(session: Session, device_id: str, key: str, digest: str) -> Outcome | None:
    """The stored answer for ``(device, key)``, or None; a different body is refused."""
    record = session.get(IdempotencyRecord, (device_id, key))
    if record is None:
        return None
    if record.request_hash != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for another request: use a new key for a new action.",
        )
    return Outcome(record.status_code, dict(record.response), "true")


def run_in(
    session: Session, device_id: str, key: str, digest: str, now: datetime, action: Action
) -> Outcome:
    """Claim ``key`` and run ``action`` inside the caller's transaction; store the answer."""
    stored = lookup(session, device_id, key, digest)
    if stored is not None:
        return stored
    record = IdempotencyRecord(
        device_id=device_id,
        key=key,
        request_hash=digest,
        status_code=0,
        response={},
        created_at=now,
    )
    session.add(record)
    session.flush()  # PostgreSQL: a concurrent twin waits here until we commit
    savepoint = session.begin_nested()
    try:
        answer = action(session)
        savepoint.commit()
    except (ApiError, UserFacingError) as exc:
        savepoint.rollback()
        error = exc if isinstance(exc, ApiError) else from_user_error(exc)
        if error.status in _NOT_STORED or error.status >= 500:
            raise error from None
        record.status_code, record.response = error.status, _error_body(error)
        return Outcome(error.status, record.response, None)
    body = answer.body.model_dump(mode="json")
    record.status_code, record.response = answer.status, body
    return Outcome(answer.status, body, answer.replay)


def run_once(
    factory: sessionmaker[Session],
    device_id: str,
    key: str | None,
    digest: str,
    now: datetime,
    action: Action,
) -> Outcome:
    """Run ``action`` at most once for ``(device_id, key)``; committed before this returns."""
    key = check_key(key)
    for attempt in range(_ATTEMPTS):
        try:
            with factory() as session, session.begin():
                outcome = run_in(session, device_id, key, digest, now, action)
            return outcome
        except IntegrityError:
            # A twin with the same key (or the same natural id) committed first: the next attempt
            # finds its answer.
            if attempt == _ATTEMPTS - 1:
                raise
        except OperationalError as exc:
            if not _is_retryable(exc) or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _is_retryable(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    return code in {"40001", "40P01"}  # serialization failure, deadlock


def respond(request: Request, outcome: Outcome, now: datetime) -> JSONResponse:
    """The HTTP answer for an outcome: replays carry ``Idempotent-Replay`` and today's server time."""
    body = dict(outcome.body)
    headers = {}
    if outcome.replay:
        headers["Idempotent-Replay"] = outcome.replay
    if "error" in body:
        body["error"] = {**body["error"], "request_id": request_id_of(request)}
    elif "server_time" in body:
        body["server_time"] = now.isoformat()
    return JSONResponse(body, status_code=outcome.status, headers=headers)
