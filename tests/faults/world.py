"""A till (store, Till, sender, puller over HTTP through a fault proxy) against a real service,
and the invariants I1–I6 of docs/offline.md checked after every scenario."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import Store, open_store
from cashier.store.models import OutboxItem, Sale
from cashier.till import Committed, CustomerView, Draft, Item, Returned, Served, Till
from processing.admin import create_enrolment_code
from processing.customers import customer_balance, lots
from processing.db import transaction
from processing.models import Customer, LedgerEntry, Purchase, PurchaseReturn, SyncItem
from processing.state import active_program
from sync.client import HttpGateway
from sync.puller import Puller
from sync.sender import Sender
from tests.processing.conftest import NOW, Service


@dataclass
class TillWorld:
    service: Service
    folder: Path
    base_url: str
    device_id: str
    token: str
    store: Store
    gateway: HttpGateway
    sender: Sender
    puller: Puller
    till: Till

    def close(self) -> None:
        self.gateway.close()
        self.store.close()

    def reopen(self) -> None:
        """Close and open the till again (a restart, with the same data folder)."""
        self.close()
        self.store = open_store(self.folder)
        self._wire(self.base_url)

    def _wire(self, base_url: str, budget: float = 1.0) -> None:
        self.gateway = HttpGateway(
            base_url, self.token, transport=httpx.HTTPTransport(retries=0), deadline=5.0
        )
        self.sender = Sender(
            self.store, self.gateway, base_delay=0.01, max_delay=0.05, rng=random.Random(7)
        )
        self.puller = Puller(self.store, self.gateway, clock=lambda: NOW)
        self.till = Till(
            self.store, self.gateway, clock=lambda: NOW, budget=budget, deliver=self.sender.deliver
        )

    # -- selling ----------------------------------------------------------------------------
    def customer(self, phone: str = "+79001234567") -> CustomerView:
        found = self.till.identify(phone)
        assert found.customer is not None, found
        return found.customer

    def sell(
        self, amount: str = "1000.00", customer: CustomerView | None = None, redeem: str | int = 0
    ) -> Committed:
        draft = Draft(
            lines=[Item("sku-1", parse_quantity("1"), parse_money(amount), "smartphones")],
            customer=customer,
            redeem=str(redeem),
            payments=[Payment(PaymentMethod.CARD)],
        )
        return self.till.commit(draft, self.till.hold(draft))

    def drain(self, rounds: int = 200) -> None:
        """Send until the queue is empty (retrying through faults), or fail."""
        for _ in range(rounds):
            self.sender.reset_backoff()
            self.sender.drain()
            if self.till.queue_status()["depth"] == 0:
                return
        raise AssertionError(f"the queue did not drain: {self.till.queue_status()}")


def make_world(service: Service, folder: Path, base_url: str, *, budget: float = 1.0) -> TillWorld:
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    reply = httpx.post(
        f"{service.base_url}/api/v1/devices/enroll", json={"code": code, "name": "t"}
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    store = open_store(folder)
    world = TillWorld(
        service, folder, base_url, body["device_id"], body["token"], store, None, None, None, None
    )  # type: ignore[arg-type]
    world._wire(base_url, budget)
    world.puller.all()
    return world


# -- the independent model --------------------------------------------------------------------
@dataclass(frozen=True)
class ShownSale:
    """A sale as the cashier saw it done: whose, the points it showed earned and spent."""

    device_id: str
    customer_id: str | None
    earned: Decimal
    spent: Decimal
    priced_online: bool
    """Priced with the service's fresh balance and tier: the earn shown is the service's figure.
    Offline it is an estimate (the tier may have moved since the snapshot); the service's figure
    is then the one the till recorded from the acknowledgement.  A sale priced online with a
    stale view (the tier moved since the customer was identified, or queued sales moved it on the
    way) is an estimate too: ``Model.sold(exact=False)``."""


@dataclass(frozen=True)
class ShownReturn:
    device_id: str
    sale_id: str
    customer_id: str | None
    restored: Decimal
    revoked: Decimal


@dataclass
class Model:
    """What the tills showed the cashier, kept apart from both databases: the opening balances,
    every sale reported done and every return made.  ``check_invariants`` compares the service's
    ledger with it (I1: the entries of each sale and return, none doubled or missing; I4: each
    balance)."""

    opening: dict[str, Decimal] = field(default_factory=dict)
    sales: dict[str, ShownSale] = field(default_factory=dict)
    returns: dict[str, ShownReturn] = field(default_factory=dict)

    def sold(
        self,
        world: TillWorld,
        done: Committed,
        customer: CustomerView | None,
        *,
        exact: bool | None = None,
    ) -> None:
        q = done.quote
        self.sales[done.sale_id] = ShownSale(
            world.device_id,
            customer.id if customer is not None else None,
            q.earn_points if customer is not None else Decimal(0),
            q.redeem_points if customer is not None else Decimal(0),
            (not done.offline) if exact is None else exact and not done.offline,
        )

    def returned(self, world: TillWorld, sale_id: str, got: Returned) -> None:
        sale = self.sales[sale_id]
        self.returns[got.return_id] = ShownReturn(
            world.device_id,
            sale_id,
            sale.customer_id,
            got.points_restored if sale.customer_id else Decimal(0),
            got.points_revoked if sale.customer_id else Decimal(0),
        )

    def done(self, device_id: str | None = None) -> set[str]:
        return {k for k, v in self.sales.items() if device_id is None or v.device_id == device_id}


# -- invariants -------------------------------------------------------------------------------
def _entries_of(session: object, device_id: str) -> dict[str, list[LedgerEntry]]:
    by_purchase: dict[str, list[LedgerEntry]] = {}
    for e in session.scalars(  # type: ignore[attr-defined]
        select(LedgerEntry).where(LedgerEntry.device_id == device_id)
    ):
        if e.purchase_id is not None:
            by_purchase.setdefault(e.purchase_id, []).append(e)
    return by_purchase


def _sum(entries: list[LedgerEntry], *kinds: str, return_id: str | None = None) -> Decimal:
    return sum(
        (e.amount for e in entries if e.kind in kinds and e.return_id == return_id), Decimal(0)
    )


def _check_ledger_entries(
    server: dict[str, Purchase],
    returns: dict[str, PurchaseReturn],
    entries: dict[str, list[LedgerEntry]],
) -> None:
    """I1, entry by entry: each purchase of the device has the ledger entries its own record
    says, once — one earn lot per line at most, earn and redeem summing to the purchase's figures,
    every hold released (or lapsed), each return's restore/revoke summing to the return's."""
    for pid, p in server.items():
        mine = entries.get(pid, [])
        earn_lines = [e.line_id for e in mine if e.kind == "earn"]
        assert len(earn_lines) == len(set(earn_lines)), f"I1: {pid} earned twice on a line"
        held = _sum(mine, "hold", "release")
        lapsed = all(
            e.expires_at is not None and e.expires_at <= NOW for e in mine if e.kind == "hold"
        )
        assert held == 0 or lapsed, f"I1: {pid} keeps {held} points held"
        if p.state == "confirmed":
            assert _sum(mine, "earn") == p.earn_points, (
                f"I1: {pid} earned {_sum(mine, 'earn')} in the ledger, {p.earn_points} on record"
            )
            assert -_sum(mine, "redeem") == p.redeem_points, (
                f"I1: {pid} redeemed {-_sum(mine, 'redeem')} in the ledger, "
                f"{p.redeem_points} on record"
            )
        else:
            assert _sum(mine, "earn", "redeem") == 0, f"I1: {pid} ({p.state}) moved points"
    for rid, r in returns.items():
        mine = entries.get(r.purchase_id, [])
        restored = _sum(mine, "return_restore", return_id=rid)
        revoked = -_sum(mine, "return_revoke", return_id=rid)
        assert (restored, revoked) == (r.points_restored, r.points_revoked), (
            f"I1: return {rid}: ledger {restored}/{revoked}, "
            f"record {r.points_restored}/{r.points_revoked}"
        )
    known = set(server) | {r.purchase_id for r in returns.values()}
    stray = set(entries) - known
    assert not stray, f"I1: ledger entries of purchases the service has no record of: {stray}"


def _check_against_model(
    world: TillWorld,
    model: Model,
    local: dict[str, Sale],
    server: dict[str, Purchase],
    returns: dict[str, PurchaseReturn],
    balances: dict[str, Decimal],
) -> None:
    """I1 and I4 against what the cashier was shown (the model), not against the ledger itself."""
    for sale_id, shown in model.sales.items():
        if shown.device_id != world.device_id:
            continue
        p = server.get(sale_id)
        assert p is not None and p.state == "confirmed", f"I1: {sale_id} not confirmed: {p}"
        assert (p.customer_id is None) == (shown.customer_id is None), f"I1: {sale_id} owner"
        assert p.redeem_points == shown.spent, (
            f"I1: {sale_id} showed {shown.spent} points spent, the service took {p.redeem_points}"
        )
        expected_earn = shown.earned
        if not shown.priced_online and shown.customer_id is not None:
            row = local[sale_id]  # the service's figure, as the till recorded it from the ack
            assert row.earn_confirmed, f"I1: {sale_id}'s earn was never confirmed to the till"
            expected_earn = row.earn_points
        assert p.earn_points == expected_earn, (
            f"I1: {sale_id} showed {expected_earn} points earned, the service gave {p.earn_points}"
        )
    for rid, shown_r in model.returns.items():
        if shown_r.device_id != world.device_id:
            continue
        r = returns.get(rid)
        assert r is not None, f"I1: return {rid} is not on the service"
        assert (r.points_restored, r.points_revoked) == (shown_r.restored, shown_r.revoked), (
            f"I1: return {rid} showed {shown_r.restored}/{shown_r.revoked}, "
            f"the service did {r.points_restored}/{r.points_revoked}"
        )
    expected = dict(model.opening)
    for sale_id, shown in model.sales.items():
        if shown.customer_id is None:
            continue
        earned = shown.earned
        if not shown.priced_online and shown.device_id == world.device_id:
            earned = local[sale_id].earn_points
        elif not shown.priced_online:
            earned = server[sale_id].earn_points if sale_id in server else earned
        expected[shown.customer_id] = (
            expected.get(shown.customer_id, Decimal(0)) + earned - shown.spent
        )
    for shown_r in model.returns.values():
        if shown_r.customer_id is not None:
            expected[shown_r.customer_id] += shown_r.restored - shown_r.revoked
    for customer_id, points in expected.items():
        assert balances.get(customer_id) == points, (
            f"I4: {customer_id} has {balances.get(customer_id)} points on the service, "
            f"the model (what the tills showed) says {points}"
        )


def check_invariants(
    world: TillWorld,
    *,
    seen_done: set[str] | None = None,
    model: Model | None = None,
) -> None:
    """I1–I6 of docs/offline.md after the queue was drained.

    Without ``model`` I1 checks ids and that the ledger holds each purchase's and return's
    entries exactly once, and I4 that each balance is the sum of its ledger.  With ``model`` (what
    the tills showed the cashier) I1 also checks each done sale's and return's points against it
    and I4 each customer's balance against the model's (the other tills' sales in the model
    included: the model covers every till that sold to the customers).
    """
    if model is not None and seen_done is None:
        seen_done = model.done(world.device_id)
    with world.store.read() as s:
        local = {sale.id: sale for sale in s.scalars(select(Sale))}
        queued = s.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.state == "queued")
        )
        unexplained = s.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.state == "rejected", OutboxItem.reason.is_(None))
        )
        seqs = [row for row in s.scalars(select(OutboxItem.seq).order_by(OutboxItem.seq))]
        cancelled_here = set(
            s.scalars(select(OutboxItem.subject).where(OutboxItem.kind == "cancel"))
        )
        integrity = s.connection().exec_driver_sql("PRAGMA integrity_check").scalar()
    with transaction(world.service.factory) as session:
        server = {
            p.purchase_id: p
            for p in session.scalars(select(Purchase).where(Purchase.device_id == world.device_id))
        }
        server_seqs = list(
            session.scalars(
                select(SyncItem.seq)
                .where(SyncItem.device_id == world.device_id)
                .order_by(SyncItem.seq)
            )
        )
        server_returns = {
            r.return_id: r
            for r in session.scalars(
                select(PurchaseReturn).where(PurchaseReturn.device_id == world.device_id)
            )
        }
        _check_ledger_entries(server, server_returns, _entries_of(session, world.device_id))
        if model is not None:  # the other tills' offline sales: the service's earn figure
            others_ids = [s_id for s_id, v in model.sales.items() if v.device_id != world.device_id]
            if others_ids:
                server.update(
                    {
                        p.purchase_id: p
                        for p in session.scalars(
                            select(Purchase).where(Purchase.purchase_id.in_(others_ids))
                        )
                    }
                )
        program = active_program(session).program
        balances: dict[str, Decimal] = {}
        balances_ok = []
        for customer in session.scalars(select(Customer)):
            raw = sum(
                (
                    e.amount
                    for e in session.scalars(
                        select(LedgerEntry).where(LedgerEntry.customer_id == customer.id)
                    )
                    if not (
                        e.kind in ("hold", "release")
                        and e.expires_at is not None
                        and e.expires_at <= NOW
                    )
                ),
                Decimal(0),
            )
            found, loose = lots(session, customer.id, NOW)
            total = customer_balance(session, program, customer, NOW).total
            balances[customer.id] = total
            balances_ok.append((customer.id, raw == total, raw, total, loose, len(found)))
    committed = {i for i, sale in local.items() if sale.state == "committed"}
    if model is not None:
        mine = {k: v for k, v in server.items() if v.device_id == world.device_id}
        _check_against_model(world, model, local, server, server_returns, balances)
        server = mine
    # I1: every sale the cashier saw as done is on the service exactly once (ids are unique keys)
    for sale_id in seen_done if seen_done is not None else committed:
        assert sale_id in local, (
            f"I1: {sale_id} was shown as done but is not in the till's database"
        )
        assert sale_id in server, f"I1: {sale_id} is not on the service"
    # I2: nothing on the service that the till never committed (a hold the till gave up, or one
    # a crash interrupted, is cancelled there by the cancel the till queued)
    for pid, p in server.items():
        if pid not in committed:
            assert p.state == "cancelled" and pid in cancelled_here, (
                f"I2: the service has {pid} ({p.state}) that the till never committed"
            )
    # I3: the queue is empty, refusals carry reasons
    assert queued == 0 and unexplained == 0, "I3"
    # I4: every balance equals the sum of its ledger entries
    assert all(ok for _, ok, *_ in balances_ok), f"I4: {balances_ok}"
    # I5: the device's sequence numbers are contiguous, locally and on the service
    assert seqs == list(range(1, len(seqs) + 1)), "I5 (till)"
    assert server_seqs == seqs, f"I5 (service): {server_seqs[:10]} vs {seqs[:10]}"
    # I6
    assert integrity == "ok", "I6"


Mutator = Callable[[TillWorld], None]
__all__ = [
    "UTC",
    "Model",
    "Served",
    "ShownReturn",
    "ShownSale",
    "TillWorld",
    "check_invariants",
    "datetime",
    "make_world",
]
