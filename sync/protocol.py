"""The till ↔ processing wire format (docs/protocol.md v1), as pydantic models both ends share.

Owns: request and response shapes, and the formats of amounts on the wire (decimal strings:
money with 2 decimals, quantities with 3, points at the program's scale).  Clients ignore unknown
fields (forward compatibility); requests refuse them, so a typo is a 400, not a silent default.

Numbers on the wire are ASCII digits (``[0-9]`` in the patterns, never the digit class: pydantic's
patterns, like Python's, take any script's digit there, and ``Decimal("١")`` is 1).  Every datetime carries its time
zone (``AwareDatetime``): a naive one is a validation error, never a comparison that fails later.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Money = Annotated[str, Field(pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$", examples=["1299.90"])]
SignedPoints = Annotated[str, Field(pattern=r"^[+-]?[0-9]{1,15}(\.[0-9]{1,4})?$", examples=["150"])]
Points = Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,4})?$", examples=["150"])]
Quantity = Annotated[str, Field(pattern=r"^[0-9]{1,9}(\.[0-9]{1,3})?$", examples=["1.000"])]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
PaymentType = Literal["cash", "card", "sbp", "other"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- errors ---------------------------------------------------------------------------------------
class ErrorDetail(Response):
    field: str | None = None
    message: str
    status: str | None = None


class ErrorBody(Response):
    code: str
    message: str
    retryable: bool = False
    details: list[ErrorDetail] = []
    request_id: str | None = None


class ErrorEnvelope(Response):
    error: ErrorBody


# -- K. health ------------------------------------------------------------------------------------
class Health(Response):
    status: Literal["ok", "degraded"]
    calc: Literal["ok", "degraded"]
    server_time: AwareDatetime
    version: str


# -- devices --------------------------------------------------------------------------------------
class EnrollRequest(Request):
    code: Annotated[str, Field(min_length=4, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=200)] = "till"


class WalletKeyOut(Response):
    """One of the program's wallet keys (:mod:`processing.wallet_keys`).  A key the till does not
    trust yet is accepted only with ``endorsement``, the signature of the key ``endorsed_by``
    (one it trusts) over ``"LWK1." + public_key``; ``retires_at``: its tokens are refused after."""

    kid: str = Field(pattern=r"^[A-Za-z0-9_-]{8}$")
    public_key: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")
    endorsed_by: str | None = None
    endorsement: str | None = None
    retires_at: AwareDatetime | None = None


class EnrollResponse(Response):
    device_id: str
    token: str
    store_id: str
    store_name: str
    chain_id: str
    server_time: AwareDatetime
    token_expires_at: AwareDatetime | None = None
    """When the key stops working (the service always says; None only from a service older
    than key expiry).  The till rotates it before (``POST /devices/token``)."""
    wallet_keys: list[WalletKeyOut] = []
    """The wallet keys the till pins at enrolment: later keys need their endorsement."""


class TokenResponse(Response):
    """``POST /devices/token``: the device's new key, valid until ``token_expires_at``; the key
    the request carried keeps working until the new one is first used (docs/protocol.md N)."""

    device_id: str
    token: str
    token_expires_at: AwareDatetime
    server_time: AwareDatetime


# -- A. identify ----------------------------------------------------------------------------------
class IdentifierIn(Request):
    type: Literal["phone", "card", "qr", "customer_id"]
    value: Annotated[str, Field(min_length=1, max_length=4096)]


class IdentifyRequest(Request):
    identifier: IdentifierIn
    purpose: Literal["sale", "return", "info"] = "sale"
    confirmation_token: Annotated[str, Field(max_length=128)] | None = None
    """From ``/otp/verify`` (purpose ``identify``): the customer proved the phone is theirs, so
    ``auth_level`` is ``verified``; the sale may then spend the token instead of a new code."""


class CardOut(Response):
    number: str
    status: str


class CustomerOut(Response):
    id: str
    display_name: str
    phone_masked: str | None = None
    phone_confirmed: bool
    card: CardOut | None = None
    tier: str
    tier_name: str
    auth_level: Literal["identified", "verified"]
    window_spend: Money = "0.00"
    next_tier: str | None = None
    next_tier_missing: Money | None = None
    missing: list[str] = []
    """Which of ``email``, ``birth_date`` the customer has not given yet (so a kiosk or a
    consultant can offer to add them)."""


class Activation(Response):
    amount: Points
    available_from: AwareDatetime


class Expiry(Response):
    amount: Points
    at: AwareDatetime


class BalanceOut(Response):
    available: SignedPoints
    pending: Points
    total: SignedPoints
    next_activation: Activation | None = None
    next_expiry: Expiry | None = None


class RedeemPolicy(Response):
    requires_confirmation_above: Points | None = None
    confirmation: Literal["sms_code", "none"] = "none"


class CouponOut(Response):
    code: str
    title: str
    valid_till: AwareDatetime


class IdentifyResponse(Response):
    status: Literal["found", "not_found", "ambiguous", "card_blocked", "unrecognised"]
    message: str | None = None
    customer: CustomerOut | None = None
    balance: BalanceOut | None = None
    redeem_policy: RedeemPolicy | None = None
    coupons: list[CouponOut] = []
    server_time: AwareDatetime


# -- D. calculate ---------------------------------------------------------------------------------
class LineFlags(Request):
    no_discount: bool = False
    no_redeem: bool = False
    no_earn: bool = False


class LineIn(Request):
    line_id: Ident
    line_no: Annotated[int, Field(ge=1, le=100_000)]
    sku: Ident
    category: Ident | None = None
    qty: Quantity
    qty_type: Literal["piece", "weight"] = "piece"
    unit_price: Money
    min_unit_price: Money | None = None
    flags: LineFlags = LineFlags()


class CustomerRef(Request):
    id: Ident
    wallet_token: Annotated[str, Field(max_length=512)] | None = None
    """The signed wallet QR the customer showed: proves presence (no SMS code needed to spend)."""


class RedeemIn(Request):
    points: Annotated[str, Field(pattern=r"^(max|[0-9]{1,15}(\.[0-9]{1,4})?)$")] = "max"


class PaymentIn(Request):
    type: PaymentType
    amount: Money | None = None


class CalculateRequest(Request):
    purchase_id: Ident | None = None
    customer: CustomerRef | None = None
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=1000)]
    redeem: RedeemIn = RedeemIn()
    coupons: Annotated[list[Ident], Field(max_length=20)] = []
    payments_hint: Annotated[list[PaymentIn], Field(max_length=10)] = []


class LineOut(Response):
    line_id: str
    line_no: int
    qty: Quantity
    base_amount: Money
    discounts: list[dict[str, str]] = []
    redeem_points: Points
    earn_points: Points
    final_amount: Money


class TotalsOut(Response):
    base: Money
    discount: Money = "0.00"
    redeem_points: Points
    redeem_amount: Money
    to_pay: Money
    earn_points: Points
    earn_available_from: AwareDatetime
    earn_expires_at: AwareDatetime | None = None


class RedeemOut(Response):
    max_points: Points
    requested: str
    applied: Points
    requires_confirmation: bool
    cap_reasons: list[str]
    cap_explanation: str


class MessageOut(Response):
    scope: Literal["line", "receipt"]
    line_id: str | None = None
    text: str
    print: bool = False


class CalculateResponse(Response):
    calculation_id: str
    valid_until: AwareDatetime
    rules_version: str
    status: Literal["ok", "degraded_personal", "degraded_all"]
    lines: list[LineOut]
    totals: TotalsOut
    redeem: RedeemOut
    coupons: list[dict[str, str]] = []
    messages: list[MessageOut] = []
    balance: BalanceOut | None = None
    server_time: AwareDatetime


# -- I. pull deltas -------------------------------------------------------------------------------
class BalanceSnapshot(Response):
    available: SignedPoints
    as_of: AwareDatetime


class LookupOut(Response):
    """A phone's offline lookup key (:mod:`cashier.lookup`): its bucket and per-customer digest."""

    bucket: int
    digest: str


class CardLookupOut(LookupOut):
    status: str


class SyncCustomer(Response):
    id: str
    updated_at: AwareDatetime
    deleted: bool
    phone_lookup: LookupOut | None = None
    cards: list[CardLookupOut] = []
    display_name: str | None = None
    tier: str | None = None
    verified: bool = False
    balance_snapshot: BalanceSnapshot | None = None
    active_until: AwareDatetime | None = None
    """The till drops the customer after this unless a later page renews it."""
    wallet_not_before: AwareDatetime | None = None
    """The customer's wallet tokens issued before this are refused (withdrawn)."""


class SyncCustomersResponse(Response):
    items: list[SyncCustomer]
    next_cursor: str | None
    has_more: bool
    server_time: AwareDatetime


class OfflineRedeemOut(Response):
    enabled: bool
    max_points_per_customer_per_day: Points
    max_snapshot_age_hours: int
    verified_customers_only: bool


class LookupParamsOut(Response):
    """The offline lookups' scheme (:class:`cashier.lookup.LookupParams`, same bounds)."""

    bucket_bits: Annotated[int, Field(ge=8, le=24)]
    n: Annotated[int, Field(ge=1024, le=65536)]
    r: Annotated[int, Field(ge=1, le=16)]
    p: Annotated[int, Field(ge=1, le=4)]

    @field_validator("n")
    @classmethod
    def _power_of_two(cls, n: int) -> int:
        if n & (n - 1):
            raise ValueError("n must be a power of two")
        return n


class RulesResponse(Response):
    version: str
    valid_from: AwareDatetime
    program_toml: str
    offline_redeem: OfflineRedeemOut
    wallet_public_key: str | None
    """The key that signs new wallet tokens (None: none made yet); all of them in ``wallet_keys``."""
    wallet_keys: list[WalletKeyOut] = []
    wallet_keys_tag: str = ""
    """Names this list: the till passes it back (``keys_tag``) and gets 304 only when both the
    rules' version and the list are unchanged."""
    phone_hash_key: str
    """The key of the offline lookups (:mod:`cashier.lookup`), base64url."""
    lookup: LookupParamsOut
    server_time: AwareDatetime


# -- E. purchases ---------------------------------------------------------------------------------
class ShiftIn(Request):
    no: Annotated[int, Field(ge=0, le=10_000_000)]
    cashier_id: Ident | None = None


class PurchaseRequest(Request):
    purchase_id: Ident
    receipt_no: Annotated[str, Field(max_length=128)] | None = None
    calculation_id: Annotated[str, Field(max_length=64)] | None = None
    customer: CustomerRef | None = None
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=1000)]
    redeem_points: Points = "0"
    coupons: Annotated[list[Ident], Field(max_length=20)] = []
    expected_to_pay: Money | None = None
    confirmation_token: Annotated[str, Field(max_length=128)] | None = None
    state: Literal["pending", "confirmed"] = "pending"
    payments: Annotated[list[PaymentIn], Field(max_length=10)] = []
    """Required for ``confirmed`` (single phase, or offline); drives the payment-method bonus."""
    offline: bool = False
    """Only in ``/sync/transactions``: the sale was made while the service was unreachable."""
    occurred_at: AwareDatetime
    shift: ShiftIn | None = None


class Earned(Response):
    points: Points
    available_from: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None


class BalanceAfter(Response):
    available: SignedPoints
    pending: Points
    negative_allowed: bool = False
    """True when this operation took the balance below zero (an offline overdraft or a return of
    points already spent); the debt is recorded and covered by later accruals."""


class PurchaseCreated(Response):
    purchase_id: str
    state: Literal["pending", "confirmed", "cancelled"]
    hold_expires_at: AwareDatetime | None = None
    redeemed_points: Points
    earn_points: Points
    to_pay: Money
    earned: Earned | None = None
    balance_after: BalanceAfter | None = None
    print_lines: list[str] = []
    server_time: AwareDatetime


class ConfirmRequest(Request):
    receipt_no: Annotated[str, Field(max_length=128)] | None = None
    payments: Annotated[list[PaymentIn], Field(max_length=10)] = []
    occurred_at: AwareDatetime | None = None


class ConfirmResponse(Response):
    purchase_id: str
    state: Literal["confirmed"]
    earned: Earned
    redeemed_points: Points
    issued_coupons: list[str] = []
    balance_after: BalanceAfter | None = None
    print_lines: list[str] = []
    server_time: AwareDatetime


class CancelRequest(Request):
    reason: Annotated[str, Field(max_length=64)] | None = None
    occurred_at: AwareDatetime | None = None


class CancelResponse(Response):
    purchase_id: str
    state: Literal["cancelled"]
    released_points: Points
    released_coupons: list[str] = []
    server_time: AwareDatetime


# -- F. returns -----------------------------------------------------------------------------------
class ReturnLineIn(Request):
    line_id: Ident
    line_no: Annotated[int, Field(ge=1, le=100_000)]
    qty: Quantity


class ReturnRequest(Request):
    return_id: Ident
    receipt_no: Annotated[str, Field(max_length=128)] | None = None
    occurred_at: AwareDatetime
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=1000)]
    refunded_payments: Annotated[list[PaymentIn], Field(max_length=10)] = []
    reason: Annotated[str, Field(max_length=64)] | None = None


class ReturnLineOut(Response):
    line_id: str
    line_no: int
    qty: Quantity
    points_restored: Points
    points_revoked: Points
    refund_amount: Money
    status: Literal["returned"] = "returned"


class ReturnResponse(Response):
    return_id: str
    purchase_id: str
    points_restored: Points
    points_revoked: Points
    refund_amount: Money
    balance_after: BalanceAfter | None = None
    lines: list[ReturnLineOut]
    complete: bool
    """Everything bought has now been returned."""
    server_time: AwareDatetime


# -- K. purchase lookup ---------------------------------------------------------------------------
class PurchaseLineOut(Response):
    line_id: str
    line_no: int
    sku: str
    category: str | None = None
    qty: Quantity
    returned_qty: Quantity
    unit_price: Money
    base_amount: Money
    discount: Money = "0.00"
    coupon: str | None = None
    redeem_points: Points
    earn_points: Points
    final_amount: Money


class PurchaseView(Response):
    purchase_id: str
    state: Literal["pending", "confirmed", "cancelled"]
    cancel_reason: str | None = None
    customer_id: str | None = None
    store_id: str
    receipt_no: str | None = None
    offline: bool
    base_total: Money
    to_pay: Money
    redeem_points: Points
    earn_points: Points
    hold_expires_at: AwareDatetime | None = None
    occurred_at: AwareDatetime
    confirmed_at: AwareDatetime | None = None
    lines: list[PurchaseLineOut]
    returns: list[str] = []
    server_time: AwareDatetime


# -- J. offline batches ---------------------------------------------------------------------------
class BatchItem(Request):
    seq: Annotated[int, Field(ge=1, le=2**62)]
    idempotency_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{8,64}$")]
    kind: Literal["purchase", "confirm", "return", "cancel", "register", "offer_sheet"]
    occurred_at: AwareDatetime
    body: dict[str, Any]
    """A purchase (``PurchaseRequest``, ``state: confirmed``), the confirm of a purchase held online
    (``ConfirmRequest`` plus ``purchase_id``), a return (``ReturnRequest`` plus ``purchase_id``), a
    cancel (``purchase_id``, ``reason``), a registration, or an offer sheet issued to a customer
    (``sync.protocol_desk.OfferSheetIn``); checked per item."""


class SyncTransactionsRequest(Request):
    till_id: Annotated[str, Field(max_length=64)] | None = None
    batch_id: Annotated[str, Field(max_length=64)] | None = None
    items: Annotated[list[BatchItem], Field(min_length=1, max_length=100)]


class ItemError(Response):
    code: str
    message: str
    retryable: bool = False


class ItemResult(Response):
    seq: int
    status: Literal["accepted", "duplicate", "rejected"]
    result: dict[str, Any] | None = None
    error: ItemError | None = None


class SeqGap(Response):
    from_seq: int
    to_seq: int


class SyncTransactionsResponse(Response):
    results: list[ItemResult]
    next_expected_seq: int
    gaps: list[SeqGap] = []
    """Sequence numbers this till skipped (reported once, and kept for the admin's review)."""
    server_time: AwareDatetime
