"""The processing service's tables (SQLAlchemy 2).  One schema for SQLite and PostgreSQL.

Owns: table definitions only.  Points are ``Numeric`` (exact), money is integer kopecks, quantities
integer thousandths.  The ledger is append-only: balances are derived from ``ledger_entries``.
Uniqueness that makes effects happen exactly once lives here as constraints (docs/protocol.md decision 3).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

POINTS = Numeric(18, 4)
BIG_ID = BigInteger().with_variant(Integer, "sqlite")
"""An auto-increment 64-bit id (SQLite only auto-increments INTEGER primary keys)."""


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which drops offsets) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database: pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's class-level configuration
        datetime: UtcDateTime(),
        Decimal: POINTS,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class ProgramVersion(Base):
    __tablename__ = "programs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64), unique=True)
    toml: Mapped[str] = mapped_column(Text)
    activated_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ServiceKey(Base):
    """Secrets the service generates once: the wallet-token signing key, the phone-hash key."""

    __tablename__ = "service_keys"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Chain(Base):
    __tablename__ = "chains"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chain_id: Mapped[str] = mapped_column(ForeignKey("chains.id"))
    name: Mapped[str] = mapped_column(String(200))


def _a_key_lifetime_from_now() -> datetime:
    """The default expiry of a device key written without one (enrolment sets it explicitly):
    :data:`processing.admin.TOKEN_TTL` from now."""
    return datetime.now(UTC) + timedelta(days=365)


class EnrolmentCode(Base):
    __tablename__ = "enrolment_codes"
    code_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    device_id: Mapped[str | None] = mapped_column(String(64))
    """The device the code made, once used.  Set already when the code is made by
    ``processing device rotate``: such a code re-enrols that device (same id, role, store and
    sequence numbers) with a new key."""
    role: Mapped[str] = mapped_column(String(16), default="till", server_default="till")


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    role: Mapped[str] = mapped_column(String(16), default="till", server_default="till")
    """``till``, ``kiosk`` or ``desk`` (the consultant's): what the device may call
    (:data:`processing.deps.ROUTES_BY_ROLE`)."""
    token_expires_at: Mapped[datetime] = mapped_column(default=_a_key_lifetime_from_now)
    """When the key (``token_hash``) stops working: ``401 token_expired``.  Set by enrolment and
    by each rotation to the service's time plus :data:`processing.admin.TOKEN_TTL`; the till
    rotates its key before (``POST /devices/token``)."""
    previous_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True, index=True)
    """The key the device's last rotation replaced: still accepted (the answer with the new key
    may have been lost) until ``previous_token_expires_at``."""
    previous_token_expires_at: Mapped[datetime | None]
    """Until when ``previous_token_hash`` is accepted: the old key's own expiry, cut to a short
    overlap once the new key has been used (:data:`processing.admin.ROTATION_OVERLAP`)."""
    last_seen_at: Mapped[datetime | None]
    """When the device was last authenticated from the database (a key cache miss), at most
    every :data:`processing.admin.LAST_SEEN_EVERY`; None: never since enrolment."""


class Cashier(Base):
    __tablename__ = "cashiers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    pin_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="cashier")


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    consents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tier_override: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into: Mapped[str | None] = mapped_column(String(64))
    last_purchase_at: Mapped[datetime | None]
    last_birthday_bonus: Mapped[date | None] = mapped_column(Date)
    opening_spend: Mapped[int] = mapped_column(BigInteger, default=0)
    """Spend carried over from a legacy system (import), counted in the tier window from its date."""
    opening_spend_at: Mapped[datetime | None]
    wallet_not_before: Mapped[datetime | None]
    """Wallet tokens issued before this are refused (``processing wallet-token --revoke``)."""


class Card(Base):
    __tablename__ = "cards"
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")


class OfflineLookup(Base):
    """A customer's offline lookup digest, computed once per phone or card and scheme.

    The scrypt digest (:mod:`cashier.lookup`) costs milliseconds by design, so ``/sync/customers``
    keeps what it computed here; ``value_mac`` names the phone or card by its keyed hash, never
    in clear.  A changed phone or card, or a new scheme, is a new row; old rows are never read.
    """

    __tablename__ = "offline_lookups"
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value_mac: Mapped[str] = mapped_column(String(64), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))


class PhoneWelcome(Base):
    """The welcome bonus is given once per phone number ever (not again after delete or merge)."""

    __tablename__ = "phone_welcomes"
    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime]


class ProfileBonus(Base):
    """The profile bonus is given once per customer ever (a second completion gets nothing)."""

    __tablename__ = "profile_bonuses"
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    given_at: Mapped[datetime]


class LedgerEntry(Base):
    """One append-only change of a customer's points.

    Entries that *create* points (earn, welcome, birthday, opening, a positive adjust) are lots:
    ``is_lot`` with ``available_from`` / ``expires_at``.  Entries that take points (redeem, hold,
    expire, return_revoke) name the lot they take from in ``lot_id`` with a negative amount; a
    release gives a hold back to its lot, a return_restore gives redeemed points back to the lot
    they came from.  A lot's remainder = its amount + Σ entries naming it.  Entries with no lot and
    ``is_lot`` false are *loose*: an offline overdraft or a revoke nobody's lot could cover.

    ``hold`` and ``release`` entries carry the hold's expiry in ``expires_at`` and stop counting
    once it passes: an abandoned hold returns the points by itself, and a hold released by confirm
    or cancel nets to zero before and after.  Confirm writes a release and a ``redeem`` per lot.
    """

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(24))
    amount: Mapped[Decimal]
    is_lot: Mapped[bool] = mapped_column(Boolean, default=False)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    available_from: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    store_id: Mapped[str | None] = mapped_column(String(64))
    chain_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    purchase_id: Mapped[str | None] = mapped_column(String(64), index=True)
    line_id: Mapped[str | None] = mapped_column(String(64))
    return_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_ledger_customer_id_id", "customer_id", "id"),)


class CatalogueItem(Base):
    __tablename__ = "catalogue"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), index=True)
    price: Mapped[int] = mapped_column(BigInteger)
    weighed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(index=True)


class Coupon(Base):
    __tablename__ = "coupons"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(64))
    discount_pct: Mapped[Decimal]
    valid_from: Mapped[datetime]
    valid_till: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="issued")
    """issued | held (by a pending purchase) | used | blocked"""
    used_purchase_id: Mapped[str | None] = mapped_column(String(64), index=True)


class Purchase(Base):
    __tablename__ = "purchases"
    purchase_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    store_id: Mapped[str] = mapped_column(String(64))
    chain_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    receipt_no: Mapped[str | None] = mapped_column(String(128))
    base_total: Mapped[int] = mapped_column(BigInteger)
    to_pay: Mapped[int] = mapped_column(BigInteger)
    redeem_points: Mapped[Decimal]
    earn_points: Mapped[Decimal]
    payments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    overdraft: Mapped[Decimal] = mapped_column(POINTS, default=Decimal(0))
    hold_expires_at: Mapped[datetime | None]
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    program_version: Mapped[str | None] = mapped_column(String(64))
    """The rules the purchase was priced under; confirm re-prices with the same ones."""
    tier: Mapped[str | None] = mapped_column(String(32))
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    cashier_id: Mapped[str | None] = mapped_column(String(64))
    shift_no: Mapped[int | None] = mapped_column(Integer)
    offline_day: Mapped[date | None] = mapped_column(Date)
    """The till's local date of an offline sale: the offline redemption budget is per day."""

    __table_args__ = (
        Index("ix_purchases_offline_budget", "device_id", "customer_id", "offline_day"),
    )


class PurchaseLine(Base):
    __tablename__ = "purchase_lines"
    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchases.purchase_id"), primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    qty: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    base_amount: Mapped[int] = mapped_column(BigInteger)
    redeem_points: Mapped[Decimal]
    earn_points: Mapped[Decimal]
    final_amount: Mapped[int] = mapped_column(BigInteger)
    returned_qty: Mapped[int] = mapped_column(BigInteger, default=0)
    no_redeem: Mapped[bool] = mapped_column(Boolean, default=False)
    no_earn: Mapped[bool] = mapped_column(Boolean, default=False)
    min_unit_price: Mapped[int | None] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    """Kopecks a coupon took off ``base_amount`` before points."""
    coupon: Mapped[str | None] = mapped_column(String(64))


class PurchaseReturn(Base):
    __tablename__ = "returns"
    return_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purchase_id: Mapped[str] = mapped_column(ForeignKey("purchases.purchase_id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    receipt_no: Mapped[str | None] = mapped_column(String(128))
    points_restored: Mapped[Decimal]
    points_revoked: Mapped[Decimal]
    refund_amount: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]


class IdempotencyRecord(Base):
    """``(device, key)`` → the first answer, kept for good (not a 24-hour cache)."""

    __tablename__ = "idempotency"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(80))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SyncItem(Base):
    """One item of a till's offline queue, by its device sequence number."""

    __tablename__ = "sync_items"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    subject: Mapped[str | None] = mapped_column(String(64))
    """What the item is about: its purchase id, or the till's local id of a registered customer."""
    __table_args__ = (
        UniqueConstraint("device_id", "idempotency_key", name="uq_sync_items_key"),
        Index("ix_sync_items_subject", "device_id", "subject"),
    )


class Otp(Base):
    __tablename__ = "otps"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts_left: Mapped[int] = mapped_column(Integer)
    verified_at: Mapped[datetime | None]
    token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    token_used_at: Mapped[datetime | None]


class SmsSent(Base):
    """Every SMS sent, for the per-number, per-device and per-address limits."""

    __tablename__ = "sms_sent"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(index=True)


class ReviewItem(Base):
    """What a chain's admin must look at: overdrafts and rejected offline items."""

    __tablename__ = "review_items"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    device_id: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    purchase_id: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[Decimal | None]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class AuditRecord(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


class Handoff(Base):
    """A customer handed off to the tills of a store (by a kiosk or another till), offered to them
    until ``expires_at``.  Ids grow in commit order per store (the store's row is locked while one
    is added), so a till that polls with the last id it saw never misses one."""

    __tablename__ = "handoffs"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    device_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_handoffs_store_id_id", "store_id", "id"),)


class OfferSheet(Base):
    """An offer sheet a till printed for a customer (goods and quantities, valid till a day),
    recorded once by its ``sheet_id``."""

    __tablename__ = "offer_sheets"
    sheet_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    store_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """``[{"sku": str, "qty": "1.000"}]`` as the till sent them."""
    valid_till: Mapped[date] = mapped_column(Date)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_offer_sheets_customer_id_occurred_at", "customer_id", "occurred_at"),
    )
