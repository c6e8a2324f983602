"""The till's tables (SQLAlchemy 2 over SQLite).

Owns: table definitions only.  Money is integer kopecks, quantities integer thousandths, points
exact decimals stored as text (SQLite has no decimal type and would round them through floats).
The outbox is the heart: a sale, its lines and its outbox item are written in one transaction
before the cashier is told "done"; items leave in ``seq`` order and are never deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out (SQLite keeps no offset)."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the till database: pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal kept as its text."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's class-level configuration
        datetime: UtcDateTime(),
        Decimal: DecimalText(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Meta(Base):
    """Settings and sync state: device id, server, cursors, last sync, online since."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Counter(Base):
    """Gapless counters (the device's outbox ``seq``), advanced inside the writing transaction."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Sale(Base):
    __tablename__ = "sales"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The purchase id (a UUID made once, before anything is sent)."""
    receipt_no: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_label: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    """committed | cancelled"""
    path: Mapped[str] = mapped_column(String(16))
    """online (the service answered within the sale) | queued (in the outbox, sent later)"""
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_key: Mapped[str | None] = mapped_column(String(64))
    """The idempotency key of the online hold, when points were held before payment."""
    base_total: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    redeem_points: Mapped[Decimal]
    redeem_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    to_pay: Mapped[int] = mapped_column(BigInteger)
    earn_points: Mapped[Decimal]
    """Estimated at the till; the service's figure replaces it once known."""
    earn_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    rules_version: Mapped[str | None] = mapped_column(String(64))
    cashier_id: Mapped[str | None] = mapped_column(String(64))
    shift_no: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    monotonic_ns: Mapped[int] = mapped_column(BigInteger)


class SaleLine(Base):
    __tablename__ = "sale_lines"
    sale_id: Mapped[str] = mapped_column(ForeignKey("sales.id"), primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(64))
    qty: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    base_amount: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    redeem_points: Mapped[Decimal]
    earn_points: Mapped[Decimal]
    final_amount: Mapped[int] = mapped_column(BigInteger)
    returned_qty: Mapped[int] = mapped_column(BigInteger, default=0)


class SalePayment(Base):
    __tablename__ = "sale_payments"
    sale_id: Mapped[str] = mapped_column(ForeignKey("sales.id"), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)


class SaleReturn(Base):
    __tablename__ = "sale_returns"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sale_id: Mapped[str] = mapped_column(String(64), index=True)
    """The purchase returned (it may have been rung up on another till)."""
    lines: Mapped[list[Any]] = mapped_column(JSON)
    points_restored: Mapped[Decimal]
    points_revoked: Mapped[Decimal]
    refund_amount: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class OutboxItem(Base):
    """One action for the service, in device order; never deleted (acked or rejected stay)."""

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    op_id: Mapped[str] = mapped_column(String(64), unique=True)
    """The Idempotency-Key: made once with the action, reused by every retry."""
    kind: Mapped[str] = mapped_column(String(16))
    """purchase | confirm | cancel | return | register"""
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    body_hash: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(16), index=True)
    """queued | acked | rejected"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    occurred_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    """Why the service refused it (for the senior cashier's review list)."""


class CachedCustomer(Base):
    """What the till keeps of a customer: enough to attach them to a sale offline, no more."""

    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone_bucket: Mapped[int | None] = mapped_column(Integer, index=True)
    """The phone's lookup bucket and per-customer digest (:mod:`cashier.lookup`): never the phone."""
    phone_digest: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    """Only for customers registered on this till (the cashier typed the phone here)."""
    display_name: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(32))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    balance: Mapped[Decimal | None]
    balance_as_of: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    active_until: Mapped[datetime | None]
    """The service keeps the customer on this till until then (None: kept, e.g. local ones)."""
    wallet_not_before: Mapped[datetime | None]
    """The customer's wallet QR codes issued before this were withdrawn."""
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    """Registered on this till while offline; ``server_id`` once the service has it."""
    server_id: Mapped[str | None] = mapped_column(String(64))


class CachedCard(Base):
    """A customer's card, by its lookup bucket and digest (salted with the customer's id)."""

    __tablename__ = "cards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    bucket: Mapped[int] = mapped_column(Integer, index=True)
    digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")


class Rules(Base):
    """The program as the service last sent it (one row)."""

    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    program_toml: Mapped[str] = mapped_column(Text)
    wallet_public_key: Mapped[str] = mapped_column(String(200))
    """The key signing new wallet tokens ("" when the service has none yet)."""
    wallet_keys: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The accepted wallet keys: ``{"keys": [{"kid", "public_key", "retires_at"}], "tag"}``
    (None: rules stored before keys were listed; ``wallet_public_key`` alone then)."""
    phone_hash_key: Mapped[str] = mapped_column(String(200))
    """The offline lookup key (base64url), with ``lookup``, its parameters (None: the defaults)."""
    lookup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    offline_redeem: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime]


class CatalogueItem(Base):
    __tablename__ = "catalogue"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64))
    price: Mapped[int] = mapped_column(BigInteger)
    weighed: Mapped[bool] = mapped_column(Boolean, default=False)


class CachedCoupon(Base):
    """A customer's personal coupons as the service last listed them (shown offline too)."""

    __tablename__ = "coupons"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    valid_till: Mapped[datetime | None]


class OfflineSpend(Base):
    """Points this till let a customer spend offline, per day (the budget is per till and day)."""

    __tablename__ = "offline_spend"
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    points: Mapped[Decimal]


class CachedCashier(Base):
    __tablename__ = "cashiers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    pin_hash: Mapped[str] = mapped_column(String(256))


class Shift(Base):
    __tablename__ = "shifts"
    no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cashier_id: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


Index("ix_outbox_state_seq", OutboxItem.state, OutboxItem.seq)
