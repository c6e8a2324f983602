"""A customer's profile: which details are missing, completing it, and the profile bonus.

Owns: :func:`missing_fields` (what identify and registration answers offer to add),
:func:`complete_verified` (``POST /customers`` for a phone that already belongs to a live verified
customer, with a confirmation token) and :func:`grant_profile_if_due`.

- Completion fills in only what is **missing** (``email``, ``birth_date``, ``first_name``): a
  detail already given is never overwritten.  The consents given are recorded: ``sms``, ``email``
  and ``terms_version`` as sent (when the request has ``consents`` at all); ``pd_processing`` is
  only ever turned on here, never off.
- The token is one from ``/otp/verify`` for this phone, this till and this customer, of purpose
  ``register`` (spent, as a registration spends it) or ``identify`` (checked but not spent, as
  identify does, so the sale can still spend it to pay with points: a new SMS to the same number
  could only be sent five minutes later).
- The profile bonus (``[bonuses.profile]`` of the program) is given once per customer *ever*
  (``profile_bonuses``, keyed by customer), when an e-mail or a birth date is first added to an
  account whose phone is verified: at a registration with a token, or at a completion.  A ledger lot
  of kind ``profile``.  Details added without a verified phone (offline, no token) earn nothing,
  also not later when the phone gets verified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cashier.program import Program
from processing.bonuses import audit, bonus_lot
from processing.deps import TillRef
from processing.models import Customer, LedgerEntry, ProfileBonus
from processing.otp import consume_confirmation
from sync.protocol_accounts import RegisterRequest

PROFILE_FIELDS = ("email", "birth_date")
"""Details a customer is asked to add; adding one earns the profile bonus."""
COMPLETED_FIELDS = ("email", "birth_date", "first_name")
"""Details a completion of a verified account fills in when they are missing."""


@dataclass(frozen=True)
class Completion:
    """What :func:`complete_verified` did."""

    completed: tuple[str, ...]
    profile: LedgerEntry | None


def missing_fields(customer: Customer) -> list[str]:
    """Which of ``email`` and ``birth_date`` the customer has not given."""
    missing = []
    if not customer.email:
        missing.append("email")
    if customer.birth_date is None:
        missing.append("birth_date")
    return missing


def _fill(customer: Customer, body: RegisterRequest) -> tuple[str, ...]:
    filled = []
    if not customer.email and body.email:
        customer.email = body.email
        filled.append("email")
    if customer.birth_date is None and body.birth_date:
        customer.birth_date = body.birth_date
        filled.append("birth_date")
    if not customer.first_name and body.first_name:
        customer.first_name = body.first_name
        filled.append("first_name")
    return tuple(filled)


def _record_consents(customer: Customer, body: RegisterRequest) -> None:
    if "consents" not in body.model_fields_set:
        return
    given = body.consents
    stored = dict(customer.consents or {})
    stored.update(sms=given.sms, email=given.email)
    if given.terms_version:
        stored["terms_version"] = given.terms_version
    stored.setdefault("terms_version", "")
    stored["pd_processing"] = bool(stored.get("pd_processing")) or given.pd_processing
    customer.consents = stored


def complete_verified(
    session: Session,
    program: Program,
    till: TillRef,
    customer: Customer,
    body: RegisterRequest,
    token: str,
    now: datetime,
) -> Completion:
    """Fill in the missing details of a live verified ``customer`` whose owner proved the phone
    with ``token`` (see the module docstring).  Runs in the caller's transaction and flushes.

    Raises:
        ApiError: 422 ``otp_invalid`` / ``otp_expired`` for a bad token.
    """
    otp = consume_confirmation(
        session,
        token,
        purpose=("register", "identify"),
        device_id=till.device_id,
        phone=customer.phone,
        customer_id=customer.id,
        now=now,
        spend=False,
    )
    if otp.purpose == "register":
        otp.token_used_at = now
    completed = _fill(customer, body)
    _record_consents(customer, body)
    customer.updated_at = now
    session.flush()
    profile = grant_profile_if_due(session, program, customer, till, now, added=completed)
    audit(
        session,
        "customer.profile_completed",
        customer.id,
        {
            "completed": list(completed),
            "token_purpose": otp.purpose,
            "profile_bonus": str(profile.amount) if profile else None,
            "device_id": till.device_id,
            "store_id": till.store_id,
        },
        now,
    )
    return Completion(completed, profile)


def grant_profile_if_due(
    session: Session,
    program: Program,
    customer: Customer,
    till: TillRef | None,
    now: datetime,
    *,
    added: Iterable[str],
) -> LedgerEntry | None:
    """Give the profile bonus if the program has one, ``added`` names an e-mail or a birth date
    just added, the phone is verified and this customer never had it.  Returns the new lot."""
    bonus = program.profile_bonus
    if bonus is None or customer.deleted or not customer.phone_verified:
        return None
    if not any(name in PROFILE_FIELDS for name in added):
        return None
    if session.get(ProfileBonus, customer.id) is not None:
        return None
    try:
        with session.begin_nested():
            session.add(ProfileBonus(customer_id=customer.id, given_at=now))
    except IntegrityError:  # a concurrent transaction gave it first
        return None
    return bonus_lot(
        session,
        program,
        customer,
        till,
        now,
        "profile",
        bonus.points,
        f"profile bonus, {program.code}",
    )


__all__ = [
    "COMPLETED_FIELDS",
    "PROFILE_FIELDS",
    "Completion",
    "complete_verified",
    "grant_profile_if_due",
    "missing_fields",
]
