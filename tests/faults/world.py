"""A till (store, Till, sender, puller over HTTP through a fault proxy) against a real service,
and the invariants I1–I6 of docs/offline.md checked after every scenario."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
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
from cashier.till import Committed, CustomerView, Draft, Item, Till
from processing.admin import create_enrolment_code
from processing.customers import customer_balance, lots
from processing.db import transaction
from processing.models import Customer, LedgerEntry, Purchase, SyncItem
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


# -- invariants -------------------------------------------------------------------------------
def check_invariants(world: TillWorld, *, seen_done: set[str] | None = None) -> None:
    """I1–I6 of docs/offline.md after the queue was drained."""
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
        program = active_program(session).program
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
            balances_ok.append((customer.id, raw == total, raw, total, loose, len(found)))
    committed = {i for i, sale in local.items() if sale.state == "committed"}
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
__all__ = ["UTC", "TillWorld", "check_invariants", "datetime", "make_world"]
