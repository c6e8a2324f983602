"""The wire format of customer accounts (docs/protocol.md B, C, G, H): OTP, registration, balance,
history and coupons.

Owns: request and response shapes of ``/otp/send``, ``/otp/verify``, ``POST /customers`` and
``GET /customers/{id}/balance|history|coupons``, in the style of :mod:`sync.protocol`: requests
refuse unknown fields, responses ignore them, points are decimal strings at the program's scale,
and every response carries ``server_time``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from sync.protocol import (
    Activation,
    BalanceOut,
    CustomerOut,
    Expiry,
    Ident,
    Points,
    Request,
    Response,
    SignedPoints,
)

PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
"""A phone number as typed; the service normalises it to E.164 (and says what is wrong)."""
OtpPurpose = Literal["register", "redeem", "bind_card", "identify"]
OtpCode = Annotated[str, Field(pattern=r"^[0-9]{4,6}$", examples=["4821"])]
ConfirmationToken = Annotated[
    str, Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
    ),
]
CardText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


# -- B. OTP ---------------------------------------------------------------------------------------
class OtpSendRequest(Request):
    phone: PhoneText
    purpose: OtpPurpose
    customer_id: Ident | None = None


class OtpSendResponse(Response):
    otp_id: str
    expires_at: AwareDatetime
    resend_after_s: int
    attempts_left: int
    phone_masked: str | None = None
    server_time: AwareDatetime


class OtpVerifyRequest(Request):
    otp_id: Ident
    code: OtpCode


class OtpVerifyResponse(Response):
    status: Literal["verified"]
    confirmation_token: str
    expires_at: AwareDatetime
    """When the confirmation token stops being accepted (it is single-use)."""
    customer_id: str | None = None
    server_time: AwareDatetime


# -- C. registration ------------------------------------------------------------------------------
class ConsentsIn(Request):
    pd_processing: bool = False
    """Consent to the processing of personal data: required for an online registration."""
    sms: bool = False
    email: bool = False
    terms_version: Annotated[str, Field(max_length=32)] | None = None


class RegisterRequest(Request):
    phone: PhoneText
    confirmation_token: ConfirmationToken | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    birth_date: date | None = None
    email: Email | None = None
    card_number: CardText | None = None
    consents: ConsentsIn = ConsentsIn()
    occurred_at: AwareDatetime | None = None


class RegisteredCard(Response):
    number: str
    status: str
    """``bound``: the card was bound by this registration."""


class RegisterResponse(Response):
    status: Literal["created", "already_exists", "updated"]
    """``created`` (201); ``already_exists``: the phone belongs to a verified customer and the
    request carried no confirmation token, nothing changed (200); ``updated``: an unverified account
    with this phone was completed, or a verified one whose owner proved the phone with a token had
    its missing fields filled in (200)."""
    customer: CustomerOut
    balance: BalanceOut
    card: RegisteredCard | None = None
    welcome_points: Points | None = None
    """The welcome bonus given by this registration, if any."""
    profile_points: Points | None = None
    """The program's bonus for completing the profile, if this registration gave it."""
    completed: list[str] = Field(default_factory=list)
    """Fields of an existing account this registration filled in (``email``, ``birth_date``,
    ``first_name``); never overwritten when already given."""
    server_time: AwareDatetime


# -- G. balance and history -----------------------------------------------------------------------
class AccountOut(Response):
    id: str
    available: SignedPoints
    pending: Points


class BalanceResponse(Response):
    available: SignedPoints
    pending: Points
    total: SignedPoints
    accounts: list[AccountOut]
    next_expiry: Expiry | None = None
    next_activation: Activation | None = None
    server_time: AwareDatetime


class HistoryItem(Response):
    id: str
    at: AwareDatetime
    kind: str
    """earn | redeem | return_restore | return_revoke | expire | adjust | welcome | birthday |
    profile | opening (may grow)."""
    amount: SignedPoints
    """Signed: ``"+58"`` adds points, ``"-200"`` takes them."""
    available_from: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    purchase_id: str | None = None
    store_id: str | None = None
    chain_id: str | None = None
    line_id: str | None = None


class HistoryResponse(Response):
    items: list[HistoryItem]
    next_cursor: str | None = None
    """Pass it as ``cursor`` for the next (older) page; null on the last page."""
    server_time: AwareDatetime


# -- H. coupons -----------------------------------------------------------------------------------
class CouponItem(Response):
    code: str
    title: str
    valid_from: AwareDatetime
    valid_till: AwareDatetime
    status: str
    """active | not_yet_active | expired | used | blocked (may grow)."""


class CouponsResponse(Response):
    items: list[CouponItem]
    server_time: AwareDatetime


__all__ = [
    "AccountOut",
    "BalanceOut",
    "BalanceResponse",
    "ConsentsIn",
    "CouponItem",
    "CouponsResponse",
    "HistoryItem",
    "HistoryResponse",
    "OtpSendRequest",
    "OtpSendResponse",
    "OtpVerifyRequest",
    "OtpVerifyResponse",
    "RegisterRequest",
    "RegisterResponse",
    "RegisteredCard",
]
