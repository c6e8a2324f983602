"""The till's puller: rules, customers, catalogue and cashiers from the service, for offline use.

Owns: :class:`Puller`.  Rules come by version (304 when current).  Customers and the catalogue
come by cursor; a page is applied and its cursor saved in the **same** transaction, so an
interrupted sync resumes where it stopped and never skips a page; tombstones remove customers.
A first full customer sync reports progress.  :meth:`Puller.probe` asks ``/health`` and measures
the clock skew (over 300 s is reported).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from cashier.errors import WalletKeyUntrusted
from cashier.gateway import Gateway, Rejected
from cashier.money import parse_money
from cashier.store.db import Store
from cashier.store.models import (
    CachedCard,
    CachedCashier,
    CachedCoupon,
    CachedCustomer,
    CatalogueItem,
    Meta,
    Rules,
)
from cashier.wallet_token import OfferedKey, accept_keys, key_id, public_key_from_text

SKEW_LIMIT_S = 300.0
PINNED_WALLET_KEYS = "wallet_keys_pinned"
"""Meta: the wallet keys the service listed at enrolment (JSON ``[{"kid", "public_key"}]``)."""
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Probe:
    online: bool
    skew_s: float | None = None
    message: str | None = None

    @property
    def skewed(self) -> bool:
        return self.skew_s is not None and abs(self.skew_s) > SKEW_LIMIT_S


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Puller:
    def __init__(
        self, store: Store, gateway: Gateway, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock or (lambda: datetime.now(UTC))

    def _meta(self, key: str) -> str | None:
        with self.store.read() as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def probe(self, timeout: float = 3.0) -> Probe:
        """Whether the service answers, and how far this till's clock is from the service's."""
        from cashier.gateway import GatewayError

        try:
            reply = self.gateway.health(timeout=timeout)
        except GatewayError as exc:
            return Probe(False, message=exc.message)
        server = reply.body.get("server_time")
        skew = (self.clock() - _parse_time(server)).total_seconds() if server else None
        with self.store.write() as s:
            if skew is not None:
                s.merge(Meta(key="clock_skew_s", value=f"{skew:.1f}"))
        return Probe(reply.body.get("status") in ("ok", "degraded"), skew)

    def rules(self) -> bool:
        """Fetch the rules if they changed; True when new ones were stored.

        The wallet keys in them are taken only when each one is trusted already (pinned at
        enrolment, or taken before) or endorsed by one that is (:func:`accept_keys`); otherwise
        nothing is stored and :class:`~cashier.errors.WalletKeyUntrusted` says what to do.
        """
        with self.store.read() as s:
            current = s.get(Rules, 1)
            version = current.version if current else None
            held = current.wallet_keys if current else None
            pinned = s.get(Meta, PINNED_WALLET_KEYS)
        # rules kept by a till from before key lists: the key it verified with is the one it
        # trusts, and the tag "-" makes the service answer the list even if the version is current
        legacy = current.wallet_public_key if current is not None and held is None else ""
        tag = (held or {}).get("tag") or ("-" if current is not None else None)
        reply = self.gateway.rules(version, keys_tag=tag)
        if reply is None:
            return False
        body = reply.body
        now = self.clock()
        held_keys = (held or {}).get("keys", [])
        trusted = {
            k["kid"]: public_key_from_text(k["public_key"])
            for k in [*json.loads(pinned.value if pinned else "[]"), *held_keys]
        }
        if legacy:
            trusted[key_id(public_key_from_text(legacy))] = public_key_from_text(legacy)
        # a key keeps the earliest end it was ever given: an answer cannot revive a retired key
        ends = {k["kid"]: _parse_time(k["retires_at"]) for k in held_keys if k.get("retires_at")}
        keys: list[dict[str, Any]] | None = None
        if "wallet_keys" in body:  # an older service sends none: wallet_public_key alone then
            offered = body.get("wallet_keys") or []
            for k in offered:
                if k.get("retires_at"):
                    end = _parse_time(k["retires_at"])
                    ends[k["kid"]] = min(end, ends.get(k["kid"], end))
            accept_keys(
                trusted,
                [
                    OfferedKey(
                        k["kid"],
                        public_key_from_text(k["public_key"]),
                        k.get("endorsed_by"),
                        k.get("endorsement"),
                    )
                    for k in offered
                ],
                retired={kid for kid, end in ends.items() if end <= now},
            )
            keys = [
                {
                    "kid": k["kid"],
                    "public_key": k["public_key"],
                    "retires_at": ends[k["kid"]].isoformat() if k["kid"] in ends else None,
                }
                for k in offered
            ]
        with self.store.write() as s:
            s.merge(
                Rules(
                    id=1,
                    version=body["version"],
                    program_toml=body["program_toml"],
                    wallet_public_key=body.get("wallet_public_key") or "",
                    wallet_keys=None
                    if keys is None
                    else {"keys": keys, "tag": body.get("wallet_keys_tag") or ""},
                    phone_hash_key=body["phone_hash_key"],
                    lookup=dict(body["lookup"]) if body.get("lookup") else None,
                    offline_redeem=dict(body["offline_redeem"]),
                    fetched_at=self.clock(),
                )
            )
        return True

    def customers(self, progress: Progress | None = None, page_size: int = 1000) -> int:
        """Apply customer pages from the saved cursor on, then drop the customers whose time on
        this till has passed (``active_until``); returns how many items were applied."""
        cursor = self._meta("customers_cursor")
        applied = 0
        while True:
            reply = self.gateway.customers(cursor, page_size)
            body = reply.body
            items: list[dict[str, Any]] = body.get("items", [])
            with self.store.write() as s:
                for item in items:
                    self._apply_customer(s, item)
                cursor = body.get("next_cursor") or cursor
                if cursor:
                    s.merge(Meta(key="customers_cursor", value=cursor))
                s.merge(Meta(key="last_pull_at", value=self.clock().isoformat()))
            applied += len(items)
            if progress is not None:
                progress(applied)
            if not body.get("has_more") or not items:
                break
        self._drop_inactive()
        return applied

    def _drop_inactive(self) -> None:
        now = self.clock()
        with self.store.write() as s:
            gone = select(CachedCustomer.id).where(
                CachedCustomer.active_until.is_not(None), CachedCustomer.active_until < now
            )
            s.execute(delete(CachedCard).where(CachedCard.customer_id.in_(gone)))
            s.execute(delete(CachedCoupon).where(CachedCoupon.customer_id.in_(gone)))
            s.execute(
                delete(CachedCustomer).where(
                    CachedCustomer.active_until.is_not(None), CachedCustomer.active_until < now
                )
            )

    @staticmethod
    def _apply_customer(s: Any, item: dict[str, Any]) -> None:
        customer_id = item["id"]
        s.execute(delete(CachedCard).where(CachedCard.customer_id == customer_id))
        if item.get("deleted"):
            s.execute(delete(CachedCustomer).where(CachedCustomer.id == customer_id))
            return
        snapshot = item.get("balance_snapshot") or {}
        phone = item.get("phone_lookup") or {}
        until = item.get("active_until")
        s.merge(
            CachedCustomer(
                id=customer_id,
                phone_bucket=phone.get("bucket"),
                phone_digest=phone.get("digest"),
                display_name=item.get("display_name"),
                tier=item.get("tier"),
                verified=bool(item.get("verified")),
                balance=Decimal(snapshot["available"]) if "available" in snapshot else None,
                balance_as_of=_parse_time(snapshot["as_of"]) if "as_of" in snapshot else None,
                updated_at=_parse_time(item["updated_at"]),
                active_until=_parse_time(until) if until else None,
                wallet_not_before=_parse_time(item["wallet_not_before"])
                if item.get("wallet_not_before")
                else None,
                local=False,
            )
        )
        for card in item.get("cards") or []:
            s.add(
                CachedCard(
                    customer_id=customer_id,
                    bucket=card["bucket"],
                    digest=card["digest"],
                    status=card.get("status") or "active",
                )
            )

    def catalogue(self, page_size: int = 1000) -> int:
        cursor = self._meta("catalogue_cursor")
        applied = 0
        while True:
            body = self.gateway.catalogue(cursor, page_size).body
            items: list[dict[str, Any]] = body.get("items", [])
            with self.store.write() as s:
                for item in items:
                    s.merge(
                        CatalogueItem(
                            sku=item["sku"],
                            name=item["name"],
                            category=item["category"],
                            price=parse_money(item["price"]),
                            weighed=bool(item.get("weighed")),
                        )
                    )
                cursor = body.get("next_cursor") or cursor
                if cursor:
                    s.merge(Meta(key="catalogue_cursor", value=cursor))
            applied += len(items)
            if not body.get("has_more") or not items:
                return applied

    def cashiers(self) -> int:
        body = self.gateway.cashiers().body
        items: list[dict[str, Any]] = body.get("items") or []
        with self.store.write() as s:
            s.execute(delete(CachedCashier))
            for item in items:
                s.add(
                    CachedCashier(
                        id=item["id"],
                        name=item["name"],
                        role=item["role"],
                        pin_hash=item["pin_hash"],
                    )
                )
        return len(items)

    def all(self, progress: Progress | None = None) -> dict[str, int]:
        """Everything, in the order a new till needs it; what the service does not give a device
        of this one's role (a kiosk gets no customers and no catalogue) is skipped."""
        refused: WalletKeyUntrusted | None = None
        try:
            rules = int(self.rules())
        except WalletKeyUntrusted as exc:  # the rest still comes: withdrawals, blocked cards
            refused, rules = exc, 0
        got = {
            "rules": rules,
            "customers": _if_allowed(lambda: self.customers(progress)),
            "catalogue": _if_allowed(self.catalogue),
            "cashiers": self.cashiers(),
        }
        with self.store.write() as s:  # a kiosk pulls no customers: the pass itself counts
            s.merge(Meta(key="last_pull_at", value=self.clock().isoformat()))
        if refused is not None:
            raise refused
        return got


def _if_allowed(pull: Callable[[], int]) -> int:
    try:
        return pull()
    except Rejected as exc:
        if exc.code == "forbidden_for_role":
            return 0
        raise
