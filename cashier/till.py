"""The till's use cases, without Qt and without HTTP: what the window and the command line draw.

Owns: :class:`Till` — identify, quote, hold, commit, cancel, return, register, status.  The rules
are the shared engine's (:func:`cashier.quote.quote`); the service is reached only through a
:class:`cashier.gateway.Gateway` with an in-sale budget (1.5 s in all by default), after which the
offline path serves.  Every result says which path served it.

The promise: :meth:`Till.commit` writes the sale, its lines and payments and its outbox item (a
UUID key, the device's next gapless ``seq``, the body and its hash) in **one** transaction, and
only then returns.  Delivery is the sender's job (``sync.sender``); it may be tried at once, within
the budget, and the result says ``online`` if the service took it then, ``queued`` otherwise.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cashier.errors import InvalidIdentifier, StoreWriteFailed, UserFacingError
from cashier.gateway import Ambiguous, Gateway, RateLimited, Rejected, Unreachable
from cashier.i18n import _
from cashier.identifiers import (
    IdentifierKind,
    classify,
    mask_phone,
    normalize_phone,
    parse_mindbox_qr,
    public_key_from_text,
    verify_wallet_token,
)
from cashier.lookup import LookupKey, bucket, key_from_rules, matches
from cashier.money import format_money, format_points, format_quantity, parse_money, parse_quantity
from cashier.pins import verify_pin
from cashier.program import Program, parse_program
from cashier.quote import CartLine, CustomerState, OfflineContext, Quote, quote
from cashier.returns import PurchasedLine, compute_return
from cashier.store.db import Store
from cashier.store.models import (
    CachedCard,
    CachedCashier,
    CachedCoupon,
    CachedCustomer,
    Counter,
    Meta,
    OfflineSpend,
    OutboxItem,
    Rules,
    Sale,
    SaleLine,
    SalePayment,
    SaleReturn,
    Shift,
)
from cashier.till_types import (  # the till's values, re-exported (see __all__)
    IN_SALE_BUDGET,
    MIN_CALL_S,
    SLIP_PREFIX,
    CashierView,
    Committed,
    CustomerView,
    Draft,
    Identified,
    Item,
    NotSynced,
    Priced,
    Returned,
    Served,
    TillError,
    _now,
    body_hash,
    explain,
    parse_slip,
    slip_code,
)
from cashier.wallet_token import check_not_revoked, key_id

Clock = Callable[[], datetime]
ONLINE_CACHE_LIFE = timedelta(days=1)
"""How long a customer identified online stays in the cache when the customer sync does not
send them (another chain's customer): the sync's ``active_until`` replaces it otherwise."""
Deliver = Callable[[float], bool]
"""Try to send the queue now, within a budget in seconds (the sender; never raises); whether the
service answered."""


class Till:
    """One till's use cases over its store and (when reachable) the processing service."""

    def __init__(
        self,
        store: Store,
        gateway: Gateway | None = None,
        *,
        clock: Clock = _now,
        budget: float = IN_SALE_BUDGET,
        deliver: Deliver | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        self.budget = budget
        self.deliver = deliver
        self._program: tuple[str, Program] | None = None
        self._offline_until = 0.0
        self._pin_failures = 0
        self._pin_locked_until = 0.0
        self._sale_started: float | None = None
        self._waited = 0.0
        if store.healthy:
            self.recover()

    OFFLINE_HOLD_S = 30.0
    """After the service failed to answer, sales stop trying it for this long (a health probe or a
    successful send ends it sooner): an offline till must not make every customer wait."""

    def start_sale(self) -> None:
        """A customer is at the till: from now on the sale's online calls share one budget."""
        self._sale_started = time.monotonic()
        self._waited = 0.0

    def end_sale(self) -> None:
        """The customer left (paid or voided): the next sale gets a fresh budget."""
        self._sale_started = None
        self._waited = 0.0

    @property
    def in_sale(self) -> bool:
        return self._sale_started is not None

    def time_left(self) -> float:
        """What is left of the sale's budget for online calls (the whole budget outside a sale).

        The budget counts the time spent waiting for the service, not the time the cashier
        takes between steps: a sale rung up for a minute still gets its 1.5 s of network."""
        if self._sale_started is None:
            return self.budget
        return self.budget - self._waited

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        """Charge the time spent inside to the sale's budget."""
        started = time.monotonic()
        try:
            yield
        finally:
            if self._sale_started is not None:
                self._waited += time.monotonic() - started

    @property
    def online(self) -> bool:
        """Whether the till tries the service within a sale now."""
        return self.gateway is not None and time.monotonic() >= self._offline_until

    def went_offline(self) -> None:
        self._offline_until = time.monotonic() + self.OFFLINE_HOLD_S

    def back_online(self) -> None:
        self._offline_until = 0.0

    # -- settings and rules ---------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self.store.read() as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.store.write() as s:
            s.merge(Meta(key=key, value=value))

    def rules(self) -> Rules:
        with self.store.read() as s:
            row = s.get(Rules, 1)
        if row is None:
            raise NotSynced(
                _("The till has no program rules yet: connect it to the service once to sync.")
            )
        return row

    def _wallet_keys(self, rules: Rules) -> dict[str, bytes]:
        """The wallet keys whose tokens are accepted now, by key id."""
        if rules.wallet_keys is None:  # rules stored before keys were listed
            raw = public_key_from_text(rules.wallet_public_key) if rules.wallet_public_key else None
            return {key_id(raw): raw} if raw else {}
        now = self.clock()
        return {
            k["kid"]: public_key_from_text(k["public_key"])
            for k in rules.wallet_keys.get("keys", [])
            if not k.get("retires_at") or now < datetime.fromisoformat(k["retires_at"])
        }

    @staticmethod
    def _lookup_key(rules: Rules) -> LookupKey:
        """The offline lookup key of the stored rules (:mod:`cashier.lookup`)."""
        return key_from_rules(rules.phone_hash_key, rules.lookup)

    def program(self) -> Program:
        rules = self.rules()
        if self._program is None or self._program[0] != rules.version:
            self._program = (
                rules.version,
                parse_program(rules.program_toml, source=f"rules {rules.version}"),
            )
        return self._program[1]

    # -- identify -------------------------------------------------------------------------------
    def identify(self, text: str) -> Identified:
        """A phone in any common form, a card number, or a QR payload, online or from the cache."""
        self.store.check_healthy()
        try:
            ident = classify(text)
        except InvalidIdentifier as exc:
            return Identified(None, Served.OFFLINE, "unrecognised", exc.message)
        left = self.time_left()
        if self.gateway is not None and self.online and left > MIN_CALL_S:
            kind = {
                IdentifierKind.PHONE: "phone",
                IdentifierKind.CARD: "card",
                IdentifierKind.CUSTOMER_ID: "customer_id",
            }.get(ident.kind, "qr")
            try:
                with self._waiting():
                    reply = self.gateway.identify(
                        {"identifier": {"type": kind, "value": ident.value}}, timeout=left
                    )
                found = self._identified_online(reply.body)
                return self._with_token(found, ident.kind, ident.value)
            except (Unreachable, Ambiguous, RateLimited):
                self.went_offline()
            except Rejected as exc:
                return Identified(None, Served.ONLINE, "unrecognised", explain(exc))
        return self._with_token(
            self._identify_offline(ident.kind, ident.value), ident.kind, ident.value
        )

    @staticmethod
    def _with_token(found: Identified, kind: IdentifierKind, value: str) -> Identified:
        """A customer who showed the wallet QR carries it into the sale (presence proven)."""
        if found.customer is None or kind is not IdentifierKind.WALLET_TOKEN:
            return found
        return dataclasses.replace(
            found, customer=dataclasses.replace(found.customer, wallet_token=value)
        )

    def _identified_online(self, body: dict[str, Any]) -> Identified:
        status = str(body.get("status"))
        if status != "found" or not body.get("customer"):
            return Identified(None, Served.ONLINE, status, body.get("message"))
        c, bal = body["customer"], body.get("balance") or {}
        now = self.clock()
        activation, expiry = bal.get("next_activation"), bal.get("next_expiry")
        missing = c.get("next_tier_missing")
        view = CustomerView(
            id=c["id"],
            display_name=c["display_name"],
            tier=c.get("tier"),
            verified=bool(c.get("phone_confirmed")),
            phone_masked=c.get("phone_masked"),
            available=Decimal(bal["available"]) if "available" in bal else None,
            pending=Decimal(bal["pending"]) if "pending" in bal else None,
            balance_as_of=now,
            auth_level=c.get("auth_level", "identified"),
            tier_name=c.get("tier_name"),
            missing=tuple(c.get("missing") or ()),
            next_tier=c.get("next_tier"),
            next_tier_missing=parse_money(missing) if missing else None,
            next_activation=(
                Decimal(activation["amount"]),
                datetime.fromisoformat(activation["available_from"]),
            )
            if activation
            else None,
            next_expiry=(Decimal(expiry["amount"]), datetime.fromisoformat(expiry["at"]))
            if expiry
            else None,
        )
        with self.store.write() as s:
            row = s.get(CachedCustomer, view.id)
            if row is None:  # not (yet) among the chain's customers the sync sends: kept a day
                row = CachedCustomer(id=view.id, active_until=now + ONLINE_CACHE_LIFE)
            row.display_name, row.tier, row.verified = view.display_name, view.tier, view.verified
            if view.available is not None:
                row.balance, row.balance_as_of = view.available, now
            s.merge(row)
            if "coupons" in body:
                s.execute(delete(CachedCoupon).where(CachedCoupon.customer_id == view.id))
                for c in body.get("coupons") or []:
                    s.merge(
                        CachedCoupon(
                            code=c["code"],
                            customer_id=view.id,
                            title=c.get("title") or c["code"],
                            valid_till=datetime.fromisoformat(c["valid_till"])
                            if c.get("valid_till")
                            else None,
                        )
                    )
        return Identified(view, Served.ONLINE, "found")

    def _identify_offline(self, kind: IdentifierKind, value: str) -> Identified:
        rules = self.rules()
        auth = "identified"
        typed: str | None = None  # the phone the cashier typed, masked, to show with the name
        with self.store.read() as s:
            row: CachedCustomer | None = None
            if kind is IdentifierKind.WALLET_TOKEN:
                try:
                    token = verify_wallet_token(value, self._wallet_keys(rules), self.clock())
                    row, auth = s.get(CachedCustomer, token.customer_id), "verified"
                    if row is not None:
                        check_not_revoked(token, row.wallet_not_before)
                except UserFacingError as exc:
                    return Identified(None, Served.OFFLINE, "unrecognised", exc.message)
            elif kind in (IdentifierKind.PHONE, IdentifierKind.MINDBOX_QR):
                phone = value if kind is IdentifierKind.PHONE else parse_mindbox_qr(value).phone
                key = self._lookup_key(rules)
                row = next(
                    (
                        c
                        for c in s.scalars(
                            select(CachedCustomer).where(
                                CachedCustomer.phone_bucket == bucket("phone", phone, key)
                            )
                        )
                        if c.phone_digest and matches("phone", phone, key, c.id, c.phone_digest)
                    ),
                    None,
                )
                typed = mask_phone(phone)
            elif kind is IdentifierKind.CARD:
                key = self._lookup_key(rules)
                card = next(
                    (
                        c
                        for c in s.scalars(
                            select(CachedCard).where(
                                CachedCard.bucket == bucket("card", value, key)
                            )
                        )
                        if matches("card", value, key, c.customer_id, c.digest)
                    ),
                    None,
                )
                if card is not None and card.status != "active":
                    return Identified(None, Served.OFFLINE, "card_blocked")
                row = s.get(CachedCustomer, card.customer_id) if card else None
            else:
                row = s.get(CachedCustomer, value)
        if row is None:
            return Identified(None, Served.OFFLINE, "not_found")
        view = self._view(row, auth)
        if typed and not view.phone_masked:
            view = dataclasses.replace(view, phone_masked=typed)
        if view.tier:
            with suppress(KeyError):  # a tier the current rules do not know: its code is shown
                view = dataclasses.replace(view, tier_name=self.program().tier(view.tier).name)
        return Identified(view, Served.OFFLINE, "found")

    @staticmethod
    def _view(row: CachedCustomer, auth: str = "identified") -> CustomerView:
        return CustomerView(
            id=row.server_id or row.id,
            display_name=row.display_name or (row.phone_masked or row.id),
            tier=row.tier,
            verified=row.verified,
            phone_masked=row.phone_masked,
            available=row.balance,
            balance_as_of=row.balance_as_of,
            auth_level=auth,
            local=row.local and row.server_id is None,
        )

    # -- quote ----------------------------------------------------------------------------------
    def price(self, draft: Draft, *, online: bool) -> Priced:
        """The quote for a draft: with the service's fresh balance (online) or the cached snapshot
        and the offline budget (offline).  The engine is the same as the service's."""
        program = self.program()
        lines = self._cart(draft.lines)
        c = draft.customer
        state = None
        offline = None
        if c is not None:
            available = (c.available or Decimal(0)) + draft.held
            state = CustomerState(available=available, verified=c.verified, tier=c.tier)
            if not online:
                age = self.clock() - (c.balance_as_of or datetime.min.replace(tzinfo=UTC))
                offline = OfflineContext(snapshot_age=age, spent_today=self._spent_today(c.id))
        q = quote(
            program,
            state,
            lines,
            occurred_at=self.clock(),
            redeem=draft.redeem,
            payments=draft.payments,
            offline=offline,
        )
        return Priced(q, c, Served.ONLINE if online else Served.OFFLINE, tuple(draft.lines))

    def _cart(self, items: Sequence[Item]) -> list[CartLine]:
        return [
            CartLine(
                line_id=item.line_id or f"L{i}",
                sku=item.sku,
                qty=item.qty,
                unit_price=item.unit_price,
                category=item.category,
            )
            for i, item in enumerate(items, start=1)
        ]

    def _spent_today(self, customer_id: str) -> Decimal:
        with self.store.read() as s:
            row = s.get(OfflineSpend, (customer_id, self.clock().date().isoformat()))
            return row.points if row else Decimal(0)

    # -- hold (online redemption, before payment) -------------------------------------------------
    def hold(self, draft: Draft) -> Priced:
        """Hold the points the draft spends on the service (two-phase redemption).

        Returns the quote to take payment for: online with the points held, or — when the service
        cannot be reached within the budget — priced offline (the offline budget applies).
        """
        self.store.check_healthy()
        if self.gateway is None or not self.online:
            return self.price(draft, online=False)
        online = self.price(draft, online=True)
        if draft.customer is None or online.quote.redeem_points <= 0:
            return online
        draft.hold_key = draft.hold_key or str(uuid.uuid4())
        body = self._purchase_body(draft, online.quote, state="pending", offline=False)
        body["expected_to_pay"] = format_money(online.quote.to_pay)
        self._record_hold(draft, online.quote)  # before sending: a crash now leaves a trace
        if self.time_left() <= MIN_CALL_S:
            return self.price(draft, online=False)
        deadline = time.monotonic() + self.time_left()
        while True:
            left = deadline - time.monotonic()
            try:
                with self._waiting():
                    self.gateway.create_purchase(body, draft.hold_key, timeout=max(left, 0.1))
                draft.held = online.quote.redeem_points
                return online
            except Rejected as exc:
                self._forget_hold(draft)
                raise TillError(explain(exc), code=exc.code) from None
            except Ambiguous:
                if time.monotonic() < deadline:
                    continue  # same key: the service answers its first answer if it got it
                self._abandon_hold(draft, "hold_unknown")
            except (Unreachable, RateLimited):
                self._forget_hold(draft)
                self.went_offline()
            return self.price(draft, online=False)

    def _record_hold(self, draft: Draft, q: Quote) -> None:
        with self.store.write() as s:
            if s.get(Sale, draft.purchase_id) is None:
                s.add(self._sale_row(draft, q, "holding", offline=False))

    def _forget_hold(self, draft: Draft) -> None:
        """The service certainly did not hold anything: drop the trace, go on without a hold."""
        with self.store.write() as s:
            row = s.get(Sale, draft.purchase_id)
            if row is not None and row.state == "holding":
                s.delete(row)
        draft.hold_key = None

    def _abandon_hold(self, draft: Draft, reason: str) -> None:
        """A hold that may exist and will not be used: queue its cancel; the sale gets a new id."""
        with self.store.write() as s:
            self._cancel_in(s, draft.purchase_id, reason)
        draft.purchase_id = str(uuid.uuid4())
        draft.hold_key = None
        draft.held = Decimal(0)

    def _cancel_in(self, s: Session, purchase_id: str, reason: str) -> None:
        row = s.get(Sale, purchase_id)
        if row is not None and row.state == "holding":
            row.state = "abandoned"
        self._enqueue(s, "cancel", purchase_id, {"purchase_id": purchase_id, "reason": reason})

    def recover(self) -> int:
        """At start: holds a crash left behind (sent, never committed) get their cancel queued."""
        with self.store.write() as s:
            orphans = list(s.scalars(select(Sale).where(Sale.state == "holding")))
            for row in orphans:
                self._cancel_in(s, row.id, "till_restarted")
        return len(orphans)

    def _sale_row(self, draft: Draft, q: Quote, state: str, *, offline: bool) -> Sale:
        return Sale(
            id=draft.purchase_id,
            customer_id=draft.customer.id if draft.customer else None,
            customer_label=draft.customer.display_name if draft.customer else None,
            state=state,
            path=Served.QUEUED.value,
            offline=offline,
            hold_key=draft.hold_key,
            base_total=q.base_total,
            discount=q.discount_total,
            redeem_points=q.redeem_points,
            redeem_amount=q.redeem_amount,
            to_pay=q.to_pay,
            earn_points=q.earn_points,
            rules_version=self.rules().version,
            cashier_id=draft.cashier_id,
            shift_no=draft.shift_no,
            created_at=self.clock(),
            monotonic_ns=time.monotonic_ns(),
        )

    # -- commit ---------------------------------------------------------------------------------
    def commit(self, draft: Draft, priced: Priced) -> Committed:
        """Write the sale durably (sale, lines, payments, outbox item: one transaction), then try
        to deliver it within the budget.  Only after this returns may the cashier see "done"."""
        self.store.check_healthy()
        q = priced.quote
        offline = priced.served is Served.OFFLINE
        now = self.clock()
        try:
            seq, sale = self._write_sale(draft, priced, now)
        except StoreWriteFailed as exc:  # rolled back whole: the cashier must know and may retry
            message = _sale_not_saved(exc.kind, self.store)
            raise StoreWriteFailed(message, kind=exc.kind) from exc.__cause__ or exc
        draft.hold_key, draft.held = None, Decimal(0)  # the hold became this sale
        try:
            served = self._deliver_now(sale.id, seq)
        except StoreWriteFailed:  # the sale is saved; only the sender's bookkeeping failed
            served = Served.QUEUED
        self.end_sale()
        message = (
            _("Done: the sale is saved and sent.")
            if served is Served.ONLINE
            else _("Done: the sale is saved; it will be sent when the service is reachable.")
        )
        return Committed(sale.id, seq, served, q, message, offline)

    def _write_sale(self, draft: Draft, priced: Priced, now: datetime) -> tuple[int, Sale]:
        """The one durable transaction of :meth:`commit`: the sale's seq and row."""
        q = priced.quote
        offline = priced.served is Served.OFFLINE
        with self.store.write() as s:
            held = s.get(Sale, draft.purchase_id)
            if held is not None and held.state != "holding":
                raise TillError(_("This sale is already committed."))
            if held is not None:
                s.delete(held)  # the hold's trace becomes the sale
                s.flush()
            sale = self._sale_row(draft, q, "committed", offline=offline)
            s.add(sale)
            s.flush()
            for no, (item, lq) in enumerate(zip(priced.lines, q.lines, strict=True), start=1):
                s.add(
                    SaleLine(
                        sale_id=sale.id,
                        line_id=lq.line_id,
                        line_no=no,  # as in the body sent to the service
                        sku=lq.sku,
                        name=item.name,
                        category=lq.category,
                        qty=lq.qty,
                        unit_price=lq.unit_price,
                        base_amount=lq.base_amount,
                        discount=lq.discount,
                        redeem_points=lq.redeem_points,
                        earn_points=lq.earn_points,
                        final_amount=lq.final_amount,
                    )
                )
            for n, p in enumerate(q.payments, start=1):
                s.add(
                    SalePayment(sale_id=sale.id, n=n, method=p.method.value, amount=p.amount or 0)
                )
            if draft.held > 0:
                kind, body = (
                    "confirm",
                    {
                        "purchase_id": sale.id,
                        "receipt_no": None,
                        "payments": self._payments_body(q),
                        "occurred_at": now.isoformat(),
                    },
                )
            else:
                kind, body = (
                    "purchase",
                    self._purchase_body(draft, q, state="confirmed", offline=offline),
                )
            queued = self._enqueue(s, kind, sale.id, body)
            if offline and draft.customer is not None and q.redeem_points > 0:
                self._add_offline_spend(s, draft.customer.id, now, q.redeem_points)
            if draft.customer is not None and q.redeem_points > 0:
                cached = s.get(CachedCustomer, draft.customer.id)
                if cached is not None and cached.balance is not None:
                    cached.balance -= q.redeem_points  # until the service's next figure
            seq = queued.seq
        return seq, sale

    def _deliver_now(self, sale_id: str, seq: int) -> Served:
        served = self._delivered(seq)
        if served is Served.ONLINE:
            with self.store.write() as s:
                sale = s.get(Sale, sale_id)
                if sale is not None:
                    sale.path = Served.ONLINE.value
        return served

    def _add_offline_spend(
        self, s: Session, customer_id: str, now: datetime, points: Decimal
    ) -> None:
        day = now.date().isoformat()
        row = s.get(OfflineSpend, (customer_id, day))
        if row is None:
            s.add(OfflineSpend(customer_id=customer_id, day=day, points=points))
        else:
            row.points = row.points + points

    def _payments_body(self, q: Quote) -> list[dict[str, str]]:
        return [{"type": p.method.value, "amount": format_money(p.amount or 0)} for p in q.payments]

    def _purchase_body(
        self, draft: Draft, q: Quote, *, state: str, offline: bool
    ) -> dict[str, Any]:
        scale = q.program.points_scale
        body: dict[str, Any] = {
            "purchase_id": draft.purchase_id,
            "lines": [
                {
                    "line_id": lq.line_id,
                    "line_no": i,
                    "sku": lq.sku,
                    **({"category": lq.category} if lq.category else {}),
                    "qty": format_quantity(lq.qty),
                    "unit_price": format_money(lq.unit_price),
                }
                for i, lq in enumerate(q.lines, start=1)
            ],
            "redeem_points": format_points(q.redeem_points, scale),
            "state": state,
            "occurred_at": self.clock().isoformat(),
        }
        if draft.customer is not None:
            body["customer"] = {"id": draft.customer.id}
            if draft.customer.wallet_token and not offline:
                body["customer"]["wallet_token"] = draft.customer.wallet_token
        if draft.confirmation_token and not offline:
            body["confirmation_token"] = draft.confirmation_token
        if state == "confirmed":
            body["payments"] = self._payments_body(q)
            body["offline"] = offline
        if draft.shift_no is not None:
            body["shift"] = {
                "no": draft.shift_no,
                **({"cashier_id": draft.cashier_id} if draft.cashier_id else {}),
            }
        return body

    def _enqueue(
        self, s: Session, kind: str, subject: str | None, body: dict[str, Any]
    ) -> OutboxItem:
        """An outbox item with the device's next sequence number, inside the caller's transaction."""
        counter = s.get(Counter, "seq")
        if counter is None:
            counter = Counter(name="seq", value=0)
            s.add(counter)
        counter.value += 1
        now = self.clock()
        item = OutboxItem(
            seq=counter.value,
            op_id=str(uuid.uuid4()),
            kind=kind,
            subject=subject,
            body=body,
            body_hash=body_hash(body),
            state="queued",
            attempts=0,
            created_at=now,
            occurred_at=now,
        )
        s.add(item)
        s.flush()
        return item

    # -- cancel, return, register ---------------------------------------------------------------
    def cancel_hold(self, draft: Draft) -> None:
        """Void a sale whose points were held: queue the cancel (the hold also lapses by itself)."""
        if draft.hold_key is None:
            return
        with self.store.write() as s:
            self._cancel_in(s, draft.purchase_id, "void")
        if self.deliver is not None and self.online:
            self.deliver(self.budget)
        draft.hold_key, draft.held = None, Decimal(0)

    def return_sale(self, sale_ref: str, quantities: dict[str, int]) -> Returned:
        """Return quantities (line id → thousandths) of a sale, found by its id or the slip's QR.

        A sale made on this till is returned from its own record, online or not; one made on
        another till needs the service (its lines and what was already returned come from there).
        """
        self.store.check_healthy()
        sale_id = parse_slip(sale_ref)
        program = self.program()
        now = self.clock()
        with self.store.read() as s:
            local = s.get(Sale, sale_id) is not None
        remote = None if local else self._remote_lines(sale_id)
        with self.store.write() as s:
            if remote is None:
                lines = {
                    ln.line_id: ln
                    for ln in s.scalars(select(SaleLine).where(SaleLine.sale_id == sale_id))
                }
                purchased = [
                    PurchasedLine(k, ln.qty, ln.redeem_points, ln.earn_points, ln.final_amount)
                    for k, ln in lines.items()
                ]
                before = {k: ln.returned_qty for k, ln in lines.items()}
                numbers = {k: ln.line_no for k, ln in lines.items()}
            else:
                purchased, before, numbers = remote
                lines = {}
            result = compute_return(
                purchased, before, quantities, points_scale=program.points_scale
            )
            return_id = str(uuid.uuid4())
            for rl in result.lines:
                if rl.line_id in lines:
                    lines[rl.line_id].returned_qty += rl.qty
            s.add(
                SaleReturn(
                    id=return_id,
                    sale_id=sale_id,
                    lines=[{"line_id": rl.line_id, "qty": rl.qty} for rl in result.lines],
                    points_restored=result.points_restored,
                    points_revoked=result.points_revoked,
                    refund_amount=result.refund_amount,
                    path=Served.QUEUED.value,
                    created_at=now,
                )
            )
            body = {
                "purchase_id": sale_id,
                "return_id": return_id,
                "occurred_at": now.isoformat(),
                "lines": [
                    {
                        "line_id": rl.line_id,
                        "line_no": numbers[rl.line_id],
                        "qty": format_quantity(rl.qty),
                    }
                    for rl in result.lines
                ],
            }
            item = self._enqueue(s, "return", sale_id, body)
            seq = item.seq
        served = self._delivered(seq)
        return Returned(
            return_id,
            seq,
            served,
            result.points_restored,
            result.points_revoked,
            result.refund_amount,
            result.complete,
        )

    def _delivered(self, seq: int) -> Served:
        """Try to send the queue within the budget (when online); whether item ``seq`` went."""
        left = self.time_left()
        if self.deliver is None or not self.online or left <= MIN_CALL_S:
            return Served.QUEUED  # the sale's budget is spent: the sender takes it from here
        with self.store.read() as s:  # by its key: the sender may renumber the queue meanwhile
            op_id = s.scalars(select(OutboxItem.op_id).where(OutboxItem.seq == seq)).one()
        with self._waiting():
            answered = self.deliver(left)
        with self.store.read() as s:
            state = s.scalars(select(OutboxItem.state).where(OutboxItem.op_id == op_id)).one()
        if answered:
            self.back_online()
        else:
            self.went_offline()
        return Served.ONLINE if state == "acked" else Served.QUEUED

    def _remote_lines(
        self, sale_id: str
    ) -> tuple[list[PurchasedLine], dict[str, int], dict[str, int]]:
        """The lines of a sale made elsewhere, from the service."""
        if self.gateway is None or not self.online:
            raise TillError(
                _(
                    "This sale was not made on this till, and the service is not reachable: "
                    "make the return when the till is online."
                )
            )
        try:
            body = self.gateway.get_purchase(sale_id, timeout=self.budget).body
        except Rejected as exc:
            if exc.code == "not_found":
                raise TillError(_("There is no such sale.")) from None
            raise TillError(explain(exc)) from None
        except (Unreachable, Ambiguous, RateLimited):
            self.went_offline()
            raise TillError(
                _("The service did not answer: make the return when the till is online.")
            ) from None
        if body.get("state") != "confirmed":
            raise TillError(_("This sale was not completed: there is nothing to return."))
        purchased, before, numbers = [], {}, {}
        for ln in body["lines"]:
            key = str(ln["line_id"])
            purchased.append(
                PurchasedLine(
                    key,
                    parse_quantity(ln["qty"]),
                    Decimal(ln["redeem_points"]),
                    Decimal(ln["earn_points"]),
                    parse_money(ln["final_amount"]),
                )
            )
            before[key] = int(Decimal(ln["returned_qty"]) * 1000)  # may be 0
            numbers[key] = int(ln["line_no"])
        return purchased, before, numbers

    def send_code(
        self, phone: str, purpose: str = "register", *, customer_id: str | None = None
    ) -> dict[str, Any]:
        """Send an SMS code (online only): the answer has ``otp_id`` and ``resend_after_s``."""
        e164 = normalize_phone(phone)
        if self.gateway is None or not self.online:
            raise TillError(_("SMS codes need the service: the till is offline."))
        try:
            body: dict[str, Any] = {"phone": e164, "purpose": purpose}
            if customer_id is not None:
                body["customer_id"] = customer_id
            return self.gateway.send_otp(body, str(uuid.uuid4()), timeout=self.budget).body
        except Rejected as exc:
            raise TillError(explain(exc), code=exc.code) from None
        except (Unreachable, Ambiguous, RateLimited) as exc:
            raise TillError(exc.message) from None

    def verify_code(self, otp_id: str, code: str) -> str:
        """Check the customer's SMS code; the confirmation token to pass on."""
        if self.gateway is None:
            raise TillError(_("SMS codes need the service: the till is offline."))
        try:
            body = {"otp_id": otp_id, "code": code.strip()}
            reply = self.gateway.verify_otp(body, str(uuid.uuid4()), timeout=self.budget)
            return str(reply.body["confirmation_token"])
        except Rejected as exc:
            raise TillError(explain(exc), code=exc.code) from None
        except (Unreachable, Ambiguous, RateLimited) as exc:
            raise TillError(exc.message) from None

    def register(
        self,
        phone: str,
        first_name: str | None = None,
        *,
        pd_consent: bool = True,
        confirmation_token: str | None = None,
    ) -> CustomerView:
        """Register a customer (see :func:`cashier.accounts.register`); the customer's view."""
        from cashier.accounts import Form, register

        form = Form(phone, first_name, pd_consent=pd_consent, confirmation_token=confirmation_token)
        return register(self, form).customer

    # -- cashiers and shifts --------------------------------------------------------------------
    MAX_PIN_FAILURES = 5
    PIN_LOCK_S = 60.0

    def login(self, pin: str) -> CashierView:
        """The cashier whose PIN this is (checked against the synced hashes, online or not)."""
        if time.monotonic() < self._pin_locked_until:
            raise TillError(_("Too many wrong PINs: wait a minute and try again."))
        with self.store.read() as s:
            cashiers = list(s.scalars(select(CachedCashier)))
        if not cashiers:
            raise NotSynced(_("No cashiers are known yet: sync the till with the service."))
        for c in cashiers:
            if verify_pin(pin, c.pin_hash):
                self._pin_failures = 0
                return CashierView(c.id, c.name, c.role)
        self._pin_failures += 1
        if self._pin_failures >= self.MAX_PIN_FAILURES:
            self._pin_failures = 0
            self._pin_locked_until = time.monotonic() + self.PIN_LOCK_S
        raise TillError(_("Wrong PIN."))

    def open_shift(self, cashier: CashierView) -> int:
        with self.store.write() as s:
            current = s.scalars(select(Shift).where(Shift.closed_at.is_(None))).first()
            if current is not None:
                return current.no
            shift = Shift(cashier_id=cashier.id, opened_at=self.clock())
            s.add(shift)
            s.flush()
            return shift.no

    def close_shift(self, *, force: bool = False) -> int:
        """Close the open shift; refuses while sales wait to be sent, unless ``force``."""
        depth = self.queue_status()["depth"]
        if depth and not force:
            raise TillError(
                _(
                    "{n} operation(s) have not reached the service yet: connect and sync first, "
                    "or close the shift anyway (they will be sent later)."
                ).format(n=depth)
            )
        with self.store.write() as s:
            current = s.scalars(select(Shift).where(Shift.closed_at.is_(None))).first()
            if current is None:
                raise TillError(_("No shift is open."))
            current.closed_at = self.clock()
            return current.no

    # -- history and coupons --------------------------------------------------------------------
    def history(self, customer_id: str) -> tuple[list[dict[str, Any]], Served]:
        """The customer's points history from the service, or this till's own sales offline."""
        if self.gateway is not None and self.online:
            try:
                reply = self.gateway.history(customer_id, timeout=self.budget)
                return list(reply.body.get("items", [])), Served.ONLINE
            except (Unreachable, Ambiguous, RateLimited):
                self.went_offline()
            except Rejected as exc:
                raise TillError(explain(exc)) from None
        with self.store.read() as s:
            sales = s.scalars(
                select(Sale).where(Sale.customer_id == customer_id).order_by(Sale.created_at.desc())
            ).all()
        items: list[dict[str, Any]] = []
        for sale in sales:
            if sale.redeem_points:
                items.append(
                    {
                        "at": sale.created_at.isoformat(),
                        "kind": "redeem",
                        "amount": f"-{sale.redeem_points}",
                        "purchase_id": sale.id,
                    }
                )
            if sale.earn_points:
                items.append(
                    {
                        "at": sale.created_at.isoformat(),
                        "kind": "earn",
                        "amount": f"+{sale.earn_points}",
                        "purchase_id": sale.id,
                        "estimated": not sale.earn_confirmed,
                    }
                )
        return items, Served.OFFLINE

    def coupons(self, customer_id: str) -> tuple[list[dict[str, Any]], Served]:
        if self.gateway is not None and self.online:
            try:
                reply = self.gateway.coupons(customer_id, timeout=self.budget)
                return list(reply.body.get("items") or []), Served.ONLINE
            except (Unreachable, Ambiguous, RateLimited):
                self.went_offline()
            except Rejected as exc:
                raise TillError(explain(exc)) from None
        now = self.clock()
        with self.store.read() as s:
            rows = s.scalars(
                select(CachedCoupon).where(CachedCoupon.customer_id == customer_id)
            ).all()
        return [
            {
                "code": c.code,
                "title": c.title,
                "valid_till": c.valid_till.isoformat() if c.valid_till else None,
            }
            for c in rows
            if c.valid_till is None or c.valid_till > now
        ], Served.OFFLINE

    # -- status ---------------------------------------------------------------------------------
    def queue_status(self) -> dict[str, Any]:
        with self.store.read() as s:
            depth = (
                s.scalar(
                    select(func.count()).select_from(OutboxItem).where(OutboxItem.state == "queued")
                )
                or 0
            )
            oldest = s.scalar(
                select(func.min(OutboxItem.created_at)).where(OutboxItem.state == "queued")
            )
            review = (
                s.scalar(
                    select(func.count())
                    .select_from(OutboxItem)
                    .where(OutboxItem.state == "rejected")
                )
                or 0
            )
        return {"depth": int(depth), "oldest": oldest, "review": int(review)}


def _sale_not_saved(kind: str, store: Store) -> str:
    """What the cashier is told when the disk refused the sale's transaction."""
    if kind == "full":
        text = _(
            "The till's disk is full: the sale was NOT saved. Free space on the disk that holds "
            "{folder} (or call support), then press Pay again."
        )
    elif kind == "read_only":
        text = _(
            "The till's disk is read-only: the sale was NOT saved. Make {folder} writable again "
            "(or call support), then press Pay again."
        )
    else:
        text = _(
            "The till could not write to its disk (an I/O error): the sale was NOT saved. Check "
            "the disk that holds {folder} (or call support), then press Pay again."
        )
    return text.format(folder=store.folder)


__all__ = [
    "IN_SALE_BUDGET",
    "MIN_CALL_S",
    "SLIP_PREFIX",
    "CashierView",
    "Committed",
    "CustomerView",
    "Draft",
    "Identified",
    "Item",
    "NotSynced",
    "Priced",
    "Returned",
    "Served",
    "Till",
    "TillError",
    "body_hash",
    "explain",
    "parse_slip",
    "slip_code",
]
