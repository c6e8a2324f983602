"""What a till keeps for offline service: its chain's active customers, found by lookup digests.

Owns: the scope and the pages of ``GET /sync/customers`` (docs/protocol.md I).

* **Scope.** A till gets the customers its chain serves: those with a purchase or a points entry in
  the chain (or in a chain of its return group, which takes back its sales) within the last
  ``$PROCESSING_OFFLINE_ACTIVE_DAYS`` days (365 by default), and newcomers of that period with no
  activity in any chain yet (imported or just registered).  Each item says until when it stays
  in scope (``active_until``); the till drops it then unless a later page renews it.  Deleted
  customers are always sent, as the id alone, so a till forgets them.
* **No phone or card in clear.** Each item carries a bucket and a per-customer scrypt digest of the
  phone and of each card (:mod:`cashier.lookup`), nothing the till could reverse in bulk; no
  masked phone either.  The digests cost milliseconds each by design, so they are kept in
  ``offline_lookups`` once computed and a page stops early (``has_more``) when computing them
  takes longer than :data:`PAGE_SECONDS`.

Must not: write anything but ``offline_lookups`` rows (a cache: losing a write only costs a
recomputation), or hold the write lock while computing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cashier.lookup import Kind, LookupKey, bucket, digest
from cashier.program import Program
from processing.models import Card, Customer, LedgerEntry, OfflineLookup, Purchase

log = logging.getLogger(__name__)

ENV_ACTIVE_DAYS = "PROCESSING_OFFLINE_ACTIVE_DAYS"
DEFAULT_ACTIVE_DAYS = 365
PAGE_SECONDS = 2.0
"""How long one page may spend computing digests before it is cut short (``has_more``)."""


def active_days_from_env() -> int:
    """``$PROCESSING_OFFLINE_ACTIVE_DAYS`` (1..3650), else 365; a bad value is a ``ValueError``
    naming the variable."""
    raw = os.environ.get(ENV_ACTIVE_DAYS, "").strip()
    if not raw:
        return DEFAULT_ACTIVE_DAYS
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 3650:
        raise ValueError(f"{ENV_ACTIVE_DAYS} must be a number of days from 1 to 3650, not {raw!r}")
    return int(raw)


def scope_chains(program: Program, chain_id: str) -> list[str]:
    """The device's chain and the chains of its return groups, sorted."""
    chains = {chain_id}
    for group in program.return_chain_groups:
        if chain_id in group:
            chains |= group
    return sorted(chains)


@dataclass(frozen=True)
class Lookup:
    bucket: int
    digest: str


@dataclass(frozen=True)
class CachedEntry:
    """One customer as a page carries it (the caller turns it into the wire model)."""

    customer: Customer
    phone: Lookup | None
    cards: list[tuple[Card, Lookup]]
    active_until: datetime | None


@dataclass(frozen=True)
class Page:
    entries: list[CachedEntry]
    more: bool


def page(
    session: Session,
    factory: sessionmaker[Session],
    program: Program,
    chain_id: str,
    key: LookupKey,
    after: tuple[datetime, str] | None,
    limit: int,
    now: datetime,
    active_days: int,
    monotonic: Callable[[], float] = time.monotonic,
) -> Page:
    """Up to ``limit`` customers in scope for ``chain_id`` after the cursor ``after``."""
    chains = scope_chains(program, chain_id)
    cutoff = now - timedelta(days=active_days)
    stmt = (
        select(Customer)
        .where(_in_scope(chains, cutoff))
        .order_by(Customer.updated_at, Customer.id)
        .limit(limit + 1)
    )
    if after is not None:
        stmt = stmt.where(tuple_(Customer.updated_at, Customer.id) > after)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    live = [c for c in rows if not c.deleted]
    last_seen = _last_seen(session, chains, live)
    cards = _cards(session, live)
    known = _known(session, key, live)
    started = monotonic()
    entries: list[CachedEntry] = []
    fresh: list[dict[str, Any]] = []
    for customer in rows:
        if customer.deleted:
            entries.append(CachedEntry(customer, None, [], None))
            continue
        phone = (
            _lookup(key, known, fresh, customer.id, "phone", customer.phone)
            if customer.phone
            else None
        )
        own = [
            (card, _lookup(key, known, fresh, customer.id, "card", card.number))
            for card in cards[customer.id]
        ]
        seen = last_seen.get(customer.id) or customer.created_at
        entries.append(CachedEntry(customer, phone, own, seen + timedelta(days=active_days)))
        if monotonic() - started > PAGE_SECONDS and len(entries) < len(rows):
            more = True
            break
    _remember(factory, fresh)
    return Page(entries, more)


def _in_scope(chains: list[str], cutoff: datetime) -> Any:
    bought = (
        select(Purchase.purchase_id)
        .where(
            Purchase.customer_id == Customer.id,
            Purchase.chain_id.in_(chains),
            Purchase.created_at >= cutoff,
        )
        .exists()
    )
    earned = (
        select(LedgerEntry.id)
        .where(
            LedgerEntry.customer_id == Customer.id,
            LedgerEntry.chain_id.in_(chains),
            LedgerEntry.created_at >= cutoff,
        )
        .exists()
    )
    seen_in_a_chain = or_(
        select(Purchase.purchase_id).where(Purchase.customer_id == Customer.id).exists(),
        select(LedgerEntry.id)
        .where(LedgerEntry.customer_id == Customer.id, LedgerEntry.chain_id.is_not(None))
        .exists(),
    )
    newcomer = and_(Customer.created_at >= cutoff, ~seen_in_a_chain)
    return or_(Customer.deleted.is_(True), bought, earned, newcomer)


def _last_seen(
    session: Session, chains: list[str], customers: Sequence[Customer]
) -> dict[str, datetime]:
    """Each customer's latest purchase or points entry in ``chains``."""
    ids = [c.id for c in customers]
    if not ids:
        return {}
    seen: dict[str, datetime] = {}
    for stmt in (
        select(Purchase.customer_id, func.max(Purchase.created_at))
        .where(Purchase.customer_id.in_(ids), Purchase.chain_id.in_(chains))
        .group_by(Purchase.customer_id),
        select(LedgerEntry.customer_id, func.max(LedgerEntry.created_at))
        .where(LedgerEntry.customer_id.in_(ids), LedgerEntry.chain_id.in_(chains))
        .group_by(LedgerEntry.customer_id),
    ):
        for customer_id, at in session.execute(stmt):
            if customer_id is not None and at is not None:
                seen[customer_id] = max(at, seen.get(customer_id, at))
    return seen


def _cards(session: Session, customers: Sequence[Customer]) -> dict[str, list[Card]]:
    cards: dict[str, list[Card]] = {c.id: [] for c in customers}
    if cards:
        for card in session.scalars(
            select(Card).where(Card.customer_id.in_(list(cards))).order_by(Card.number)
        ):
            cards[card.customer_id].append(card)
    return cards


def value_mac(key: LookupKey, kind: Kind, value: str) -> str:
    """How ``offline_lookups`` names a phone or card: HMAC-SHA256 under the lookup key."""
    return hmac.new(key.key, f"mac:{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _known(
    session: Session, key: LookupKey, customers: Sequence[Customer]
) -> dict[tuple[str, str, str], Lookup]:
    ids = [c.id for c in customers]
    if not ids:
        return {}
    rows = session.execute(
        select(
            OfflineLookup.customer_id,
            OfflineLookup.kind,
            OfflineLookup.value_mac,
            OfflineLookup.bucket,
            OfflineLookup.digest,
        ).where(OfflineLookup.customer_id.in_(ids), OfflineLookup.scheme == key.params.scheme)
    )
    return {(r[0], r[1], r[2]): Lookup(r[3], r[4]) for r in rows}


def _lookup(
    key: LookupKey,
    known: dict[tuple[str, str, str], Lookup],
    fresh: list[dict[str, Any]],
    customer_id: str,
    kind: Kind,
    value: str,
) -> Lookup:
    mac = value_mac(key, kind, value)
    found = known.get((customer_id, kind, mac))
    if found is not None:
        return found
    made = Lookup(bucket(kind, value, key), digest(kind, value, key, customer_id))
    fresh.append(
        {
            "customer_id": customer_id,
            "kind": kind,
            "value_mac": mac,
            "scheme": key.params.scheme,
            "bucket": made.bucket,
            "digest": made.digest,
        }
    )
    return made


def _remember(factory: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    """Keep computed digests (another request may have kept the same ones: the same values)."""
    if not rows:
        return
    try:
        with factory() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                session.execute(pg_insert(OfflineLookup).on_conflict_do_nothing(), rows)
            else:
                from sqlalchemy.dialects.sqlite import insert as lite_insert

                session.execute(lite_insert(OfflineLookup).on_conflict_do_nothing(), rows)
    except (SQLAlchemyError, TimeoutError) as exc:  # the SQLite writer lock: skip the cache
        log.warning("offline lookups not kept (recomputed next time): %s", type(exc).__name__)
