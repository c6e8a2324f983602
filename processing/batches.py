"""A till's offline queue, pushed in batches (docs/protocol.md J): applied in ``seq`` order, each once.

Owns: :func:`process_batch`.  Each item is its own database transaction (a refused item never undoes
an accepted one, and progress survives a crash mid-batch), serialised per till by locking the
device's row.  Per item:

- the same ``seq`` with the same key → its first result again (``duplicate``, or the first
  refusal again); the same ``seq`` with another key → refused (``seq_reused``); the same key
  under another ``seq`` → the first result again (a till that renumbered its queue);
- a key this till already used online (an ambiguous sale queued after a timeout) → ``duplicate``;
- a ``seq`` beyond the next expected one → the gap is reported in the answer and kept for review,
  and the item is applied anyway (a lost item must not stop the queue);
- a return or cancel of a purchase this till's queue had refused → ``parent_rejected``;
- a sale (or an offer sheet) made for a customer the till registered offline names the till's
  local id; it is mapped to the account the registration item created or found;
- an ``offer_sheet`` item records a sheet the till issued (:mod:`processing.offer_sheets`), once
  per ``sheet_id``: a sheet already recorded answers ``duplicate``;
- every refusal is kept for the admin's review (``processing review``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from processing import offer_sheets, offline_sales, purchase_returns, purchases, registration
from processing.api_accounts import registration_out
from processing.deps import API, ITEM_KINDS_BY_ROLE, TillRef
from processing.errors import ApiError
from processing.idempotency import Answer, Outcome, fingerprint, run_in
from processing.models import Device, IdempotencyRecord, Purchase, ReviewItem, SyncItem
from processing.state import active_program
from sync.protocol import (
    BatchItem,
    CancelRequest,
    ConfirmRequest,
    ItemError,
    ItemResult,
    PurchaseRequest,
    ReturnRequest,
    SeqGap,
    SyncTransactionsRequest,
    SyncTransactionsResponse,
)
from sync.protocol_accounts import RegisterRequest
from sync.protocol_desk import OfferSheetIn

_ATTEMPTS = 5
M = TypeVar("M", bound=BaseModel)
_PURCHASE_KINDS = ("purchase", "confirm", "return", "cancel")
_SUBJECT_KEYS = {"register": "local_id", "offer_sheet": "sheet_id"}
"""The body field naming what an item is about (``purchase_id`` for the purchase kinds)."""


class _ReturnItem(ReturnRequest):
    purchase_id: str


class _CancelItem(CancelRequest):
    purchase_id: str


class _ConfirmItem(ConfirmRequest):
    purchase_id: str


class _RegisterItem(RegisterRequest):
    local_id: Annotated[str, Field(max_length=64)] | None = None
    """The till's own id of the customer, used by its queued sales until this item is applied."""


def process_batch(
    factory: sessionmaker[Session], till: TillRef, body: SyncTransactionsRequest, now: datetime
) -> SyncTransactionsResponse:
    seqs = [item.seq for item in body.items]
    if len(set(seqs)) != len(seqs):
        raise ApiError(
            400,
            "validation_error",
            "The batch has two items with the same seq: each queued item has its own number.",
        )
    results: list[ItemResult] = []
    gaps: list[SeqGap] = []
    for item in sorted(body.items, key=lambda i: i.seq):
        result = _one(factory, till, item, now, gaps)
        results.append(result)
        if result.error is not None and result.error.code == "seq_reused":
            break  # the rest stays unanswered: the till renumbers from next_expected_seq
    with factory() as session, session.begin():
        device = session.get(Device, till.device_id)
        assert device is not None
        next_seq = device.last_seq + 1
    return SyncTransactionsResponse(
        results=results, next_expected_seq=next_seq, gaps=gaps, server_time=now
    )


def _one(
    factory: sessionmaker[Session],
    till: TillRef,
    item: BatchItem,
    now: datetime,
    gaps: list[SeqGap],
) -> ItemResult:
    for attempt in range(_ATTEMPTS):
        found_gaps: list[SeqGap] = []
        try:
            with factory() as session, session.begin():
                result = _apply(session, till, item, now, found_gaps)
            gaps.extend(found_gaps)
            return result
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _apply(
    session: Session, till: TillRef, item: BatchItem, now: datetime, gaps: list[SeqGap]
) -> ItemResult:
    if item.kind not in ITEM_KINDS_BY_ROLE.get(till.role, frozenset()):
        return _refuse_only(
            item,
            "forbidden_for_role",
            f"A device enrolled as {till.role} cannot queue a {item.kind!r} item.",
        )
    device = session.scalars(
        select(Device).where(Device.id == till.device_id).with_for_update()
    ).one()
    known = session.get(SyncItem, (till.device_id, item.seq))
    if known is not None:
        if known.idempotency_key != item.idempotency_key:
            _review_once(
                session,
                ReviewItem(
                    kind="seq_reused",
                    device_id=till.device_id,
                    store_id=till.store_id,
                    customer_id=_customer_of(dict(item.body)),
                    purchase_id=_subject(item) if item.kind in _PURCHASE_KINDS else None,
                    reason=(
                        f"{item.kind} #{item.seq} ({item.idempotency_key}): the till reused "
                        f"sequence number {item.seq}: its database was probably restored from an "
                        "old copy or copied without its -wal; the operation was not applied."
                    ),
                    created_at=now,
                ),
            )
            return _refuse_only(
                item,
                "seq_reused",
                f"Sequence number {item.seq} was already used by another queued item.",
            )
    else:
        known = session.scalars(  # the same action queued again under another number?
            select(SyncItem).where(
                SyncItem.device_id == till.device_id,
                SyncItem.idempotency_key == item.idempotency_key,
            )
        ).first()
    if known is not None:
        record = session.get(IdempotencyRecord, (till.device_id, item.idempotency_key))
        if record is not None and record.request_hash != _digest(item.kind, dict(item.body)):
            return _refuse_only(
                item,
                "idempotency_key_reused",
                "This Idempotency-Key was used for another request: use a new key for a new action.",
            )
        return _result_of(item.seq, known.status, known.result, replay=True)
    if item.seq > device.last_seq + 1:
        gap = SeqGap(from_seq=device.last_seq + 1, to_seq=item.seq - 1)
        gaps.append(gap)
        session.add(
            ReviewItem(
                kind="seq_gap",
                device_id=till.device_id,
                store_id=till.store_id,
                reason=f"The till's queue skipped items {gap.from_seq}–{gap.to_seq}.",
                created_at=now,
            )
        )
    device.last_seq = max(device.last_seq, item.seq)
    subject = _subject(item)
    body = dict(item.body)
    digest = _digest(item.kind, body)
    outcome = _parent_rejected(session, till, item, subject)
    if outcome is None:
        outcome = _earlier_use(session, till, item, digest, subject)
    if outcome is None:
        body = _map_local_customer(session, till, item.kind, body)
        outcome = run_in(
            session,
            till.device_id,
            item.idempotency_key,
            digest,
            now,
            _action(till, item.kind, body, now),
        )
    status = "rejected" if outcome.status >= 400 else "duplicate" if outcome.replay else "accepted"
    session.add(
        SyncItem(
            device_id=till.device_id,
            seq=item.seq,
            idempotency_key=item.idempotency_key,
            kind=item.kind,
            status=status,
            result=outcome.body,
            created_at=now,
            subject=subject,
        )
    )
    if status == "rejected":
        error = outcome.body.get("error", {})
        session.add(
            ReviewItem(
                kind="rejected",
                device_id=till.device_id,
                store_id=till.store_id,
                customer_id=_customer_of(body),
                purchase_id=subject if item.kind in _PURCHASE_KINDS else None,
                reason=f"{item.kind} #{item.seq}: {error.get('code')}: {error.get('message')}",
                created_at=now,
            )
        )
    return _result_of(item.seq, status, outcome.body, replay=False)


class _Raw(BaseModel):
    data: dict[str, Any]


def _digest(kind: str, body: dict[str, Any]) -> str:
    """The request's fingerprint; a queued purchase fingerprints as the same ``POST /purchases``
    would, so one key means one request whichever way it came."""
    if kind == "purchase":
        try:
            return fingerprint("POST", f"{API}/purchases", PurchaseRequest.model_validate(body))
        except ValidationError:
            pass
    return fingerprint("QUEUE", kind, _Raw(data=body))


def _subject(item: BatchItem) -> str | None:
    value = item.body.get(_SUBJECT_KEYS.get(item.kind, "purchase_id"))
    return str(value)[:64] if isinstance(value, str) else None


def _customer_of(body: dict[str, Any]) -> str | None:
    customer = body.get("customer")
    found = customer.get("id") if isinstance(customer, dict) else body.get("customer_id")
    return found[:64] if isinstance(found, str) else None


def _earlier_use(
    session: Session, till: TillRef, item: BatchItem, digest: str, subject: str | None
) -> Outcome | None:
    """The answer this key already got: an earlier push, or the online call the till gave up on
    (a timeout) and queued with the same key — the same request either way, or a refusal."""
    record = session.get(IdempotencyRecord, (till.device_id, item.idempotency_key))
    if record is None:
        return None
    if record.request_hash == digest:
        return Outcome(record.status_code, dict(record.response), "true")
    return _error_outcome(
        ApiError(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for another request: use a new key for a new action.",
        )
    )


def _error_outcome(exc: ApiError) -> Outcome:
    return Outcome(
        exc.status,
        {"error": {"code": exc.code, "message": exc.message, "retryable": exc.retryable}},
        None,
    )


def _review_once(session: Session, review: ReviewItem) -> None:
    """Record ``review`` unless the same one is already there (a till resending a batch whose
    answer it lost must not fill the admin's list with copies)."""
    same = select(ReviewItem.id).where(
        ReviewItem.kind == review.kind,
        ReviewItem.device_id == review.device_id,
        ReviewItem.reason == review.reason,
    )
    if session.scalars(same.limit(1)).first() is None:
        session.add(review)


def _refuse_only(item: BatchItem, code: str, message: str) -> ItemResult:
    return ItemResult(seq=item.seq, status="rejected", error=ItemError(code=code, message=message))


def _result_of(seq: int, status: str, body: dict[str, Any], *, replay: bool) -> ItemResult:
    if status == "rejected":
        error = body.get("error", {})
        return ItemResult(
            seq=seq,
            status="rejected",
            error=ItemError(
                code=str(error.get("code", "rejected")),
                message=str(error.get("message", "")),
                retryable=False,
            ),
        )
    return ItemResult(seq=seq, status="duplicate" if replay else status, result=body)  # type: ignore[arg-type]


def _parent_rejected(
    session: Session, till: TillRef, item: BatchItem, subject: str | None
) -> Outcome | None:
    if item.kind not in ("return", "cancel", "confirm") or subject is None:
        return None
    refused = session.scalars(
        select(SyncItem.seq).where(
            SyncItem.device_id == till.device_id,
            SyncItem.subject == subject,
            SyncItem.kind == "purchase",
            SyncItem.status == "rejected",
        )
    ).first()
    if refused is None:
        return None
    return _error_outcome(
        ApiError(
            422,
            "parent_rejected",
            f"The sale {subject} (queued item {refused}) was refused, so this {item.kind} is too.",
        )
    )


def _map_local_customer(
    session: Session, till: TillRef, kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A sale or an offer sheet for a customer registered offline names the till's local id: use
    the real one."""
    customer = body.get("customer")
    if kind == "purchase" and isinstance(customer, dict):
        local = customer.get("id")
    elif kind == "offer_sheet":
        local = body.get("customer_id")
    else:
        return body
    if not isinstance(local, str):
        return body
    registered = session.scalars(
        select(SyncItem.result).where(
            SyncItem.device_id == till.device_id,
            SyncItem.kind == "register",
            SyncItem.subject == local,
            SyncItem.status != "rejected",
        )
    ).first()
    mapped = (registered or {}).get("customer", {}).get("id") if registered else None
    if not isinstance(mapped, str) or mapped == local:
        return body
    if kind == "offer_sheet":
        return {**body, "customer_id": mapped}
    assert isinstance(customer, dict)
    return {**body, "customer": {**customer, "id": mapped}}


def _parse(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [
            {
                "field": "/body/" + "/".join(str(p) for p in e.get("loc", ())),
                "message": str(e.get("msg", "")),
            }
            for e in exc.errors()[:20]
        ]
        raise ApiError(
            400, "validation_error", "The queued item is not valid: see details.", details=details
        ) from None


def _action(
    till: TillRef, kind: str, body: dict[str, Any], now: datetime
) -> Callable[[Session], Answer]:
    def run(session: Session) -> Answer:
        if kind == "purchase":
            return offline_sales.apply_offline(session, till, _parse(PurchaseRequest, body), now)
        if kind == "return":
            ret = _parse(_ReturnItem, body)
            request = ReturnRequest.model_validate(ret.model_dump(exclude={"purchase_id"}))
            return purchase_returns.add_return(
                session, till, ret.purchase_id, request, now, offline=True
            )
        if kind == "confirm":
            held = _parse(_ConfirmItem, body)
            capture = ConfirmRequest.model_validate(held.model_dump(exclude={"purchase_id"}))
            return purchases.confirm(session, till, held.purchase_id, capture, now)
        if kind == "cancel":
            cancel = _parse(_CancelItem, body)
            if session.get(Purchase, cancel.purchase_id) is None:
                return purchases.cancel_unknown(session, till, cancel.purchase_id, now)
            void = CancelRequest(reason=cancel.reason, occurred_at=cancel.occurred_at)
            return purchases.cancel(session, till, cancel.purchase_id, void, now)
        if kind == "offer_sheet":
            return offer_sheets.record(session, till, _parse(OfferSheetIn, body), now)
        return _register(session, till, body, now)

    return run


def _register(session: Session, till: TillRef, body: dict[str, Any], now: datetime) -> Answer:
    """A customer registered at the till while offline: mapped to the phone's account if it has
    one, else created unverified (no SMS code offline: earns, cannot spend, no welcome bonus)."""
    item = _parse(_RegisterItem, body)
    request = RegisterRequest.model_validate(item.model_dump(exclude={"local_id"}))
    program = active_program(session).program
    result = registration.register(session, program, till, request, now, offline=True)
    answer = registration_out(session, program, result, now)
    return Answer(201 if result.status == "created" else 200, answer)
