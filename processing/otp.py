"""One-time codes by SMS and the confirmation tokens they buy (docs/protocol.md B).

Owns: issuing a code (:func:`issue`: the send limits, the code stored hashed, the ``sms_sent`` row
the limits count), checking it (:func:`verify`: life, attempts, a confirmation token), and spending
a token (:func:`consume_confirmation`, called by registration and by purchases for ``redeem``).

- A code has 4–6 digits from :mod:`secrets` (6 by default) and is stored as
  ``hmac-sha256$<salt>$<digest>`` with a salt per code; it lives 5 minutes and allows 5 attempts.
- Codes go only to numbers of the program's countries (``[sms] countries``, Russia by default).
- Limits (:class:`OtpLimits`): one SMS per phone number a minute and 10 a day, 30 per till and
  60 per client address per hour, counted in ``sms_sent``; 15 wrong codes for a number in a day
  lock it for the rest of that day.  A hit is ``429 rate_limited`` with ``Retry-After``.  The
  service's day total reaching ``alarm_per_day`` logs an error and lists an ``sms_alarm`` review.
- A confirmation token is random (``ct_…``), stored as a SHA-256 in ``otps.token_hash``, single
  use, bound to the phone, the purpose, the till and the customer (when the code was sent for one
  or the phone belonged to one), and lives 10 minutes from the verification.  Once a code is
  verified, ``otps.expires_at`` holds the *token's* end of life (there is no column of its own).
- A successful verification marks the phone of the customer who has it verified and gives the
  welcome bonus when it is due (:func:`processing.registration.grant_welcome_if_due`).

API error messages are plain English (the till shows its own texts by code); the SMS text is
translated.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from cashier.errors import InvalidPhone
from cashier.i18n import _
from cashier.identifiers import normalize_phone
from cashier.program import Program
from processing.deps import TillRef
from processing.errors import ApiError
from processing.models import Customer, Otp, ReviewItem, SmsSent
from processing.security import hash_token

log = logging.getLogger(__name__)

PURPOSES = ("register", "redeem", "bind_card", "identify")
_HASH_SCHEME = "hmac-sha256"


@dataclass(frozen=True)
class OtpLimits:
    """How codes behave and how often they may be sent; the defaults are the service's."""

    code_digits: int = 6
    code_ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    resend_after_s: int = 60
    token_ttl: timedelta = timedelta(minutes=10)
    per_phone: int = 1
    per_phone_window: timedelta = timedelta(seconds=60)
    """One SMS per number per this long: the same wait the answer's ``resend_after_s`` names."""
    per_phone_day: int = 10
    """At most this many SMS to one number in 24 hours, however they are spread."""
    lockout_failures: int = 15
    """Wrong codes entered for one number in 24 hours (over all its codes) that lock it: no new
    code is sent to it and none is accepted until the oldest of them is a day old."""
    alarm_per_day: int = 1000
    """SMS sent by the whole service in 24 hours that raise an alarm (an error in the log and a
    review item, once): an SMS-pumping attack costs the chain money by the message."""
    per_device: int = 30
    per_device_window: timedelta = timedelta(hours=1)
    per_address: int = 60
    per_address_window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not 4 <= self.code_digits <= 6:
            raise ValueError(f"a code has 4 to 6 digits, not {self.code_digits}")
        if self.max_attempts < 1:
            raise ValueError("a code allows at least one attempt")
        if self.resend_after_s * self.per_phone < self.per_phone_window.total_seconds():
            raise ValueError("resend_after_s must not promise a resend the limit refuses")
        for name in ("per_phone", "per_phone_day", "per_device", "per_address", "lockout_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must allow at least one SMS")
        for name in ("code_ttl", "token_ttl", "per_phone_window"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")


DEFAULT_LIMITS = OtpLimits()


@dataclass(frozen=True)
class Issued:
    """A code stored and an SMS reserved, to be sent once the transaction has committed."""

    otp: Otp
    phone: str
    code: str
    text: str
    sms_id: int


@dataclass(frozen=True)
class Verified:
    otp: Otp
    token: str
    expires_at: datetime
    customer: Customer | None


def parse_phone(text: str, field: str = "/phone") -> str:
    """``text`` as E.164, or ``400 validation_error`` saying what is wrong with it."""
    try:
        return normalize_phone(text)
    except InvalidPhone as exc:
        raise ApiError(
            400, "validation_error", exc.message, details=[{"field": field, "message": exc.message}]
        ) from None


def sms_text(purpose: str, program_name: str, code: str) -> str:
    """The SMS a customer reads (translated; Russian by default)."""
    if purpose == "redeem":
        message = _("Code to pay with {program} points: {code}. Tell it only to the cashier.")
    else:
        message = _("Code for {program}: {code}. Do not tell it to anyone.")
    return message.format(program=program_name, code=code)


def _hash_code(otp_id: str, code: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hmac.new(salt, f"{otp_id}:{code}".encode(), hashlib.sha256).hexdigest()
    return f"{_HASH_SCHEME}${salt.hex()}${digest}"


def _code_matches(otp: Otp, code: str) -> bool:
    try:
        scheme, salt_hex, _digest = otp.code_hash.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != _HASH_SCHEME:
        return False
    return hmac.compare_digest(_hash_code(otp.id, code, salt), otp.code_hash)


def _span(window: timedelta) -> str:
    minutes = int(window.total_seconds()) // 60
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes" if minutes != 1 else "minute"


def _lock_phone(session: Session, phone: str) -> None:
    """Serialise sends to one number (PostgreSQL; SQLite serialises every writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(b"otp:" + phone.encode()).digest()[:8], "big", signed=True
        )
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _check_limit(
    session: Session,
    column: InstrumentedAttribute[Any],
    value: str,
    cap: int,
    window: timedelta,
    now: datetime,
    message: str,
) -> None:
    times = list(
        session.scalars(
            select(SmsSent.sent_at)
            .where(column == value, SmsSent.sent_at > now - window)
            .order_by(SmsSent.sent_at)
        )
    )
    if len(times) < cap:
        return
    free_at = times[len(times) - cap] + window
    seconds = max(1, math.ceil((free_at - now).total_seconds()))
    raise ApiError(
        429,
        "rate_limited",
        message.format(seconds=seconds),
        retryable=True,
        headers={"Retry-After": str(seconds)},
    )


def check_limits(
    session: Session,
    phone: str,
    device_id: str | None,
    address: str | None,
    now: datetime,
    limits: OtpLimits = DEFAULT_LIMITS,
) -> None:
    """Raise ``429 rate_limited`` (with ``Retry-After``) when one more SMS is over a limit."""
    check_lockout(session, phone, now, limits)
    _check_limit(
        session,
        SmsSent.phone,
        phone,
        limits.per_phone_day,
        timedelta(days=1),
        now,
        f"{limits.per_phone_day} codes were sent to this number in the last 24 hours: "
        "try again in {seconds} s.",
    )
    _check_limit(
        session,
        SmsSent.phone,
        phone,
        limits.per_phone,
        limits.per_phone_window,
        now,
        f"A code was sent to this number less than {_span(limits.per_phone_window)} ago: "
        "use that code, or ask for a new one in {seconds} s.",
    )
    if device_id is not None:
        _check_limit(
            session,
            SmsSent.device_id,
            device_id,
            limits.per_device,
            limits.per_device_window,
            now,
            f"This till has sent {limits.per_device} codes in the last "
            f"{_span(limits.per_device_window)}: try again in {{seconds}} s.",
        )
    if address is not None:
        _check_limit(
            session,
            SmsSent.address,
            address,
            limits.per_address,
            limits.per_address_window,
            now,
            f"{limits.per_address} codes were sent from this network address in the last "
            f"{_span(limits.per_address_window)}: try again in {{seconds}} s.",
        )


def check_lockout(
    session: Session, phone: str, now: datetime, limits: OtpLimits = DEFAULT_LIMITS
) -> None:
    """``429 rate_limited`` while ``phone`` is locked: ``lockout_failures`` wrong codes were
    entered for it in the last 24 hours (over all its codes), so guessing cannot go on by asking
    for new codes."""
    rows = session.execute(
        select(Otp.created_at, Otp.attempts_left).where(
            Otp.phone == phone, Otp.created_at > now - timedelta(days=1)
        )
    ).all()
    failures = sum(max(0, limits.max_attempts - left) for _at, left in rows)
    if failures < limits.lockout_failures:
        return
    free_at = min(at for at, left in rows if left < limits.max_attempts) + timedelta(days=1)
    seconds = max(1, math.ceil((free_at - now).total_seconds()))
    raise ApiError(
        429,
        "rate_limited",
        f"Too many wrong codes were entered for this number today: it is locked for "
        f"{math.ceil(seconds / 3600)} h. The customer may sell without spending points.",
        retryable=True,
        headers={"Retry-After": str(seconds)},
    )


def _sms_alarm(session: Session, now: datetime, limits: OtpLimits) -> None:
    """When this SMS makes the day's count reach ``alarm_per_day``: an error in the log and a
    review item (once a day) — a flood of codes costs the chain money by the message."""
    today = session.scalar(
        select(func.count()).select_from(SmsSent).where(SmsSent.sent_at > now - timedelta(days=1))
    )
    if int(today or 0) + 1 != limits.alarm_per_day:
        return
    reason = (
        f"{limits.alarm_per_day} SMS codes were sent in the last 24 hours: check for SMS pumping "
        "(many numbers, one till or address) and lower the limits if needed."
    )
    log.error(reason)
    session.add(ReviewItem(kind="sms_alarm", reason=reason, created_at=now))


def _allowed_country(e164: str, countries: frozenset[str]) -> None:
    import phonenumbers

    code = str(phonenumbers.parse(e164).country_code)
    if code not in countries:
        allowed = ", ".join(f"+{c}" for c in sorted(countries))
        raise ApiError(
            422,
            "validation_error",
            f"Codes are sent only to numbers of {allowed} in this program, not +{code}.",
            details=[{"field": "/phone", "message": "country not allowed"}],
        )


def _live_customer_by_phone(session: Session, phone: str) -> Customer | None:
    return session.scalars(
        select(Customer).where(Customer.phone == phone, Customer.deleted.is_(False))
    ).first()


def issue(
    session: Session,
    *,
    phone: str,
    purpose: str,
    device_id: str | None,
    address: str | None,
    now: datetime,
    program_name: str,
    customer_id: str | None = None,
    limits: OtpLimits = DEFAULT_LIMITS,
    countries: frozenset[str] = frozenset({"7"}),
) -> Issued:
    """Store a new code for ``phone`` and reserve its SMS in ``sms_sent``; send it after commit.

    If the SMS cannot be sent, :func:`withdraw` takes both back (so it does not count).

    Raises:
        ApiError: 400 bad phone or purpose; 404 unknown customer; 422 the phone is not the
            customer's; 429 a send limit is reached.
    """
    if purpose not in PURPOSES:
        raise ApiError(
            400, "validation_error", f"Unknown purpose {purpose!r}: use one of {PURPOSES}."
        )
    e164 = parse_phone(phone)
    _allowed_country(e164, countries)
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.deleted:
            raise ApiError(
                404,
                "not_found",
                f"There is no customer {customer_id}: identify the customer again.",
            )
        if customer.phone != e164:
            raise ApiError(
                422,
                "validation_error",
                "This phone number is not the customer's: send the code to the number in the "
                "customer's account.",
                details=[{"field": "/phone", "message": "not the customer's phone"}],
            )
    _lock_phone(session, e164)
    check_limits(session, e164, device_id, address, now, limits)
    _sms_alarm(session, now, limits)
    otp_id = "o_" + secrets.token_hex(12)
    code = f"{secrets.randbelow(10**limits.code_digits):0{limits.code_digits}d}"
    row = Otp(
        id=otp_id,
        phone=e164,
        purpose=purpose,
        code_hash=_hash_code(otp_id, code),
        device_id=device_id,
        customer_id=customer_id,
        created_at=now,
        expires_at=now + limits.code_ttl,
        attempts_left=limits.max_attempts,
        verified_at=None,
        token_hash=None,
        token_used_at=None,
    )
    sms = SmsSent(phone=e164, device_id=device_id, address=address, sent_at=now)
    session.add_all([row, sms])
    session.flush()
    return Issued(row, e164, code, sms_text(purpose, program_name, code), sms.id)


def withdraw(session: Session, issued: Issued) -> None:
    """Take back a code whose SMS could not be sent: the code is gone and the SMS not counted."""
    session.execute(delete(Otp).where(Otp.id == issued.otp.id))
    session.execute(delete(SmsSent).where(SmsSent.id == issued.sms_id))


def _invalid(message: str) -> ApiError:
    return ApiError(422, "otp_invalid", message)


def verify(
    session: Session,
    otp_id: str,
    code: str,
    *,
    till: TillRef,
    program: Program,
    now: datetime,
    limits: OtpLimits = DEFAULT_LIMITS,
) -> Verified | ApiError:
    """Check ``code`` against the code ``otp_id``; the refusal is *returned*, not raised.

    A wrong attempt must be counted, so the caller commits the transaction whatever the outcome
    and raises the returned error afterwards.  A code verified again before its token is used
    gets a fresh token (the till lost the answer); the old token stops working.
    """
    otp = session.get(Otp, otp_id, with_for_update=True)
    if otp is None or otp.device_id != till.device_id:
        return _invalid("This code request is not known to the service: send a new code.")
    if otp.token_used_at is not None:
        return _invalid("This code has already been used: send a new code.")
    if otp.attempts_left <= 0:
        return ApiError(
            422, "otp_attempts_exceeded", "Too many wrong codes were entered: send a new code."
        )
    if now >= otp.expires_at:
        return ApiError(422, "otp_expired", "The code has expired: send a new code.")
    try:
        check_lockout(session, otp.phone, now, limits)
    except ApiError as locked:  # a right code does not unlock it either: guessing must stop
        return locked
    if not _code_matches(otp, code):
        otp.attempts_left -= 1
        if otp.attempts_left <= 0:
            return ApiError(
                422,
                "otp_attempts_exceeded",
                "The code is wrong and no attempts are left: send a new code.",
            )
        left = otp.attempts_left
        return _invalid(
            f"The code is wrong: {left} attempt{'s' if left != 1 else ''} left. "
            "Check the SMS and enter the code again."
        )
    token = "ct_" + secrets.token_urlsafe(24)
    if otp.verified_at is None:
        otp.verified_at = now
        otp.expires_at = now + limits.token_ttl
    otp.token_hash = hash_token(token)
    customer = _live_customer_by_phone(session, otp.phone)
    if customer is not None:
        if otp.customer_id is None:
            otp.customer_id = customer.id
        if not customer.phone_verified and otp.customer_id == customer.id:
            mark_phone_verified(session, program, customer, till, now)
    session.flush()
    return Verified(otp, token, otp.expires_at, customer)


def mark_phone_verified(
    session: Session, program: Program, customer: Customer, till: TillRef | None, now: datetime
) -> None:
    """The customer proved the phone is theirs: mark it and give the welcome bonus if due."""
    from processing import registration  # registration imports this module

    customer.phone_verified = True
    customer.updated_at = now
    session.flush()
    registration.grant_welcome_if_due(session, program, customer, till, now)


def consume_confirmation(
    session: Session,
    token: str | None,
    *,
    purpose: str | tuple[str, ...],
    device_id: str,
    phone: str | None = None,
    customer_id: str | None = None,
    now: datetime,
    spend: bool = True,
) -> Otp:
    """Spend a confirmation token: it must match the purpose (one of them, if several), the till,
    the phone and customer.  A token verified for a phone that had no account at the time (its
    ``customer_id`` is empty) counts for ``customer_id`` only together with that customer's
    ``phone``: it proves the phone, never a stranger's account.  With ``spend=False`` only check it (identify marks the customer
    verified without using the token up, so the sale can still spend it).

    Returns the verified code's row (``token_used_at`` set when spent).

    Raises:
        ApiError: 422 ``otp_required`` (no token), ``otp_invalid`` (unknown, used, or issued for
            another purpose, till, phone or customer), ``otp_expired``.
    """
    if not token:
        raise ApiError(
            422, "otp_required", "This needs the customer's SMS code: send a code and verify it."
        )
    otp = session.scalars(
        select(Otp).where(Otp.token_hash == hash_token(token)).with_for_update()
    ).first()
    if otp is None or otp.verified_at is None:
        raise _invalid("The confirmation token is not known: verify the SMS code again.")
    purposes = (purpose,) if isinstance(purpose, str) else purpose
    if otp.purpose not in purposes:
        raise _invalid(
            f"The confirmation token was issued for {otp.purpose!r}, not {purposes[0]!r}: "
            "send a code for this action."
        )
    if otp.device_id != device_id:
        raise _invalid("The confirmation token was issued to another till: verify a code here.")
    if phone is not None and otp.phone != phone:
        raise _invalid("The confirmation token was issued for another phone number.")
    # A code sent to a phone nobody had is this customer's only when it is their phone: the
    # caller must name it (a token for a stranger's phone never spends anyone's points).
    if (
        customer_id is not None
        and otp.customer_id != customer_id
        and (otp.customer_id is not None or phone is None)
    ):
        raise _invalid("The confirmation token was issued for another customer.")
    if otp.token_used_at is not None:
        raise _invalid("The confirmation token has already been used: verify a new code.")
    if now >= otp.expires_at:
        raise ApiError(
            422, "otp_expired", "The confirmation token has expired: send and verify a new code."
        )
    if spend:
        otp.token_used_at = now
        session.flush()
    return otp


def sms_count(session: Session, phone: str) -> int:
    """How many SMS were sent to ``phone`` (for reports and tests)."""
    return int(
        session.scalar(select(func.count()).select_from(SmsSent).where(SmsSent.phone == phone)) or 0
    )


__all__ = [
    "DEFAULT_LIMITS",
    "PURPOSES",
    "Issued",
    "OtpLimits",
    "Verified",
    "check_limits",
    "consume_confirmation",
    "issue",
    "mark_phone_verified",
    "parse_phone",
    "sms_text",
    "verify",
    "withdraw",
]
