"""Registering customers (docs/protocol.md C) and the one-off bonuses (welcome, birthday).

Owns: :func:`register` (``POST /customers`` and an offline registration pushed later in a batch),
:func:`grant_welcome_if_due` and :func:`grant_birthday_if_due`.

- The phone is the key: a live customer with a *verified* phone is answered ``already_exists``
  (nothing changes), unless the request carries a confirmation token for that phone: then its
  missing details are filled in and it is answered ``updated`` (:mod:`processing.profiles`);
  an *unverified* one is completed (missing fields filled, a card bound, the phone verified by a
  valid confirmation token) and answered ``updated``; otherwise a customer ``c_<12 hex>`` is
  created.  An offline registration carries no token: the account stays unverified, and a phone
  that is already known maps to its account (``already_exists``).
- A phone held by a *deleted* customer is released from that row (its ``phone`` set to null) so
  the number can register again; the welcome bonus still never comes twice (below).
- A card already bound to another live customer is ``422 card_already_bound``; a blocked card is
  ``422 card_blocked``.  A card of a deleted customer moves to the new one.
- Consents are stored as ``{"pd_processing", "sms", "email", "terms_version"}``; an online
  registration without ``pd_processing`` is ``422 validation_error``.  Without a token only the
  fields that are missing are filled in; with one (the owner of the phone) the consents given
  replace the stored ones.
- The welcome bonus is given once per phone number *ever* (``phone_welcomes``, keyed by phone: not
  again after delete, merge or a change of number) and, when the program says so, only once the
  phone is verified: at registration with a token, or later when a code is verified
  (:func:`processing.otp.verify` calls :func:`grant_welcome_if_due`).
- The profile bonus, when the program has one, comes once per customer ever when an e-mail or a
  birth date is first added to an account whose phone is verified (:mod:`processing.profiles`).
- Bonuses are ledger lots (``welcome`` / ``birthday`` / ``profile``): available now, expiring as
  earned points do, tied to the till's store, chain and device; each writes an ``audit`` row, as
  does every registration.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cashier.errors import InvalidCard
from cashier.identifiers import mask_phone, normalize_card
from cashier.ledger import welcome_bonus_due
from cashier.program import Program
from processing.bonuses import audit, bonus_lot
from processing.deps import TillRef
from processing.errors import ApiError
from processing.models import Card, Customer, LedgerEntry, PhoneWelcome
from processing.otp import consume_confirmation, parse_phone
from processing.profiles import (
    PROFILE_FIELDS,
    complete_verified,
    grant_profile_if_due,
    missing_fields,
)
from sync.protocol_accounts import RegisterRequest

Status = Literal["created", "already_exists", "updated"]
_EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True)
class Registration:
    """What :func:`register` did."""

    status: Status
    customer: Customer
    card: Card | None
    """The card this registration bound, if any."""
    welcome: LedgerEntry | None
    """The welcome bonus this registration gave, if any."""
    confirmed: bool
    """The phone was proved by a confirmation token in this request."""
    profile: LedgerEntry | None = None
    """The profile bonus this registration gave, if any."""
    completed: tuple[str, ...] = ()
    """Details of an existing account this registration filled in."""


def _validation(field: str, message: str) -> ApiError:
    return ApiError(
        400, "validation_error", message, details=[{"field": field, "message": message}]
    )


def _card_number(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return normalize_card(text)
    except InvalidCard as exc:
        raise _validation("/card_number", exc.message) from None


def _check_birth_date(birth: date | None, now: datetime) -> None:
    if birth is None:
        return
    if birth > now.astimezone(UTC).date():
        raise _validation("/birth_date", "The birth date is in the future: check it.")
    if birth < _EARLIEST_BIRTH:
        raise _validation("/birth_date", "The birth date is before 1900: check it.")


def _consents(body: RegisterRequest) -> dict[str, Any]:
    given = body.consents
    return {
        "pd_processing": given.pd_processing,
        "sms": given.sms,
        "email": given.email,
        "terms_version": given.terms_version or "",
    }


def _new_customer_id(session: Session) -> str:
    while True:
        candidate = "c_" + secrets.token_hex(6)
        if session.get(Customer, candidate) is None:
            return candidate


def _live_by_phone(session: Session, phone: str) -> Customer | None:
    return session.scalars(
        select(Customer)
        .where(Customer.phone == phone, Customer.deleted.is_(False))
        .with_for_update()
    ).first()


def _release_phone(session: Session, phone: str, now: datetime) -> None:
    """Free ``phone`` from deleted customers (the column is unique over all rows)."""
    for old in session.scalars(
        select(Customer).where(Customer.phone == phone, Customer.deleted.is_(True))
    ):
        old.phone = None
        old.phone_verified = False
        old.updated_at = now
        audit(session, "customer.phone_released", old.id, {"phone": mask_phone(phone)}, now)
    session.flush()


def _bind_card(session: Session, customer: Customer, number: str, now: datetime) -> Card:
    card = session.get(Card, number, with_for_update=True)
    if card is None:
        card = Card(number=number, customer_id=customer.id, status="active")
        session.add(card)
        session.flush()
        return card
    if card.status != "active":
        raise ApiError(
            422,
            "card_blocked",
            "This card is blocked: give the customer another card or register without one.",
            details=[{"field": "/card_number", "message": f"card status {card.status}"}],
        )
    if card.customer_id == customer.id:
        return card
    owner = session.get(Customer, card.customer_id)
    if owner is not None and not owner.deleted:
        raise ApiError(
            422,
            "card_already_bound",
            "This card belongs to another customer: give the customer another card "
            "or register without one.",
            details=[{"field": "/card_number", "message": "bound to another customer"}],
        )
    audit(
        session,
        "card.rebound",
        number,
        {"from": card.customer_id, "to": customer.id},
        now,
    )
    card.customer_id = customer.id
    session.flush()
    return card


def _fill_missing(customer: Customer, body: RegisterRequest, *, owner: bool) -> None:
    if customer.first_name is None and body.first_name:
        customer.first_name = body.first_name
    if customer.last_name is None and body.last_name:
        customer.last_name = body.last_name
    if customer.birth_date is None and body.birth_date:
        customer.birth_date = body.birth_date
    if customer.email is None and body.email:
        customer.email = body.email
    given = _consents(body)
    if owner:
        customer.consents = given
    else:
        stored = dict(customer.consents or {})
        customer.consents = {**given, **stored}


def _registration_audit(
    session: Session,
    result: Registration,
    till: TillRef,
    body: RegisterRequest,
    now: datetime,
    *,
    offline: bool,
) -> None:
    audit(
        session,
        "customer.register",
        result.customer.id,
        {
            "status": result.status,
            "offline": offline,
            "phone": mask_phone(result.customer.phone) if result.customer.phone else None,
            "verified": result.customer.phone_verified,
            "confirmed": result.confirmed,
            "card": result.card.number if result.card else None,
            "welcome": str(result.welcome.amount) if result.welcome else None,
            "profile": str(result.profile.amount) if result.profile else None,
            "completed": list(result.completed),
            "device_id": till.device_id,
            "store_id": till.store_id,
            "occurred_at": body.occurred_at.isoformat() if body.occurred_at else None,
        },
        now,
    )


def register(
    session: Session,
    program: Program,
    till: TillRef,
    body: RegisterRequest,
    now: datetime,
    *,
    offline: bool = False,
) -> Registration:
    """Register a customer by phone (see the module docstring for the rules).

    Runs inside the caller's transaction and flushes; the caller commits.

    Raises:
        ApiError: 400 bad phone, card or birth date; 422 no consent to personal-data processing
            (online), ``card_blocked``, ``card_already_bound``, or a bad confirmation token
            (``otp_invalid`` / ``otp_expired``).
    """
    phone = parse_phone(body.phone)
    card_number = _card_number(body.card_number)
    _check_birth_date(body.birth_date, now)
    token = None if offline else body.confirmation_token
    existing = _live_by_phone(session, phone)
    if existing is not None and existing.phone_verified and token is not None:
        done = complete_verified(session, program, till, existing, body, token, now)
        result = Registration("updated", existing, None, None, True, done.profile, done.completed)
        _registration_audit(session, result, till, body, now, offline=offline)
        return result
    if existing is not None and (offline or existing.phone_verified):
        result = Registration("already_exists", existing, None, None, False)
        _registration_audit(session, result, till, body, now, offline=offline)
        return result
    if not offline and not body.consents.pd_processing:
        raise ApiError(
            422,
            "validation_error",
            "The customer must consent to the processing of personal data to register.",
            details=[{"field": "/consents/pd_processing", "message": "must be true"}],
        )
    if existing is not None:
        result = _complete(session, program, till, existing, body, token, card_number, now)
    else:
        result = _create(session, program, till, phone, body, token, card_number, now, offline)
    _registration_audit(session, result, till, body, now, offline=offline)
    return result


def _complete(
    session: Session,
    program: Program,
    till: TillRef,
    customer: Customer,
    body: RegisterRequest,
    token: str | None,
    card_number: str | None,
    now: datetime,
) -> Registration:
    """An unverified account with this phone: fill it in, and verify it with a token."""
    confirmed = False
    if token is not None:
        consume_confirmation(
            session,
            token,
            purpose="register",
            device_id=till.device_id,
            phone=customer.phone,
            customer_id=customer.id,
            now=now,
        )
        confirmed = True
    before = _details(customer)
    _fill_missing(customer, body, owner=confirmed)
    completed = tuple(name for name, value in _details(customer).items() if value != before[name])
    card = _bind_card(session, customer, card_number, now) if card_number else None
    customer.updated_at = now
    if confirmed:
        customer.phone_verified = True
    session.flush()
    welcome = grant_welcome_if_due(session, program, customer, till, now)
    profile = grant_profile_if_due(session, program, customer, till, now, added=completed)
    return Registration("updated", customer, card, welcome, confirmed, profile, completed)


def _details(customer: Customer) -> dict[str, object]:
    return {
        "email": customer.email,
        "birth_date": customer.birth_date,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
    }


def _create(
    session: Session,
    program: Program,
    till: TillRef,
    phone: str,
    body: RegisterRequest,
    token: str | None,
    card_number: str | None,
    now: datetime,
    offline: bool,
) -> Registration:
    confirmed = False
    if token is not None:
        consume_confirmation(
            session, token, purpose="register", device_id=till.device_id, phone=phone, now=now
        )
        confirmed = True
    _release_phone(session, phone, now)
    created_at = now
    if offline and body.occurred_at is not None and body.occurred_at < now:
        created_at = body.occurred_at
    customer = Customer(
        id=_new_customer_id(session),
        phone=phone,
        phone_verified=confirmed,
        first_name=body.first_name,
        last_name=body.last_name,
        birth_date=body.birth_date,
        email=body.email,
        consents=_consents(body),
        tier_override=None,
        created_at=created_at,
        updated_at=now,
        deleted=False,
        merged_into=None,
        last_purchase_at=None,
        last_birthday_bonus=None,
        opening_spend=0,
        opening_spend_at=None,
    )
    session.add(customer)
    session.flush()
    card = _bind_card(session, customer, card_number, now) if card_number else None
    welcome = grant_welcome_if_due(session, program, customer, till, now)
    given = [name for name in PROFILE_FIELDS if name not in missing_fields(customer)]
    profile = grant_profile_if_due(session, program, customer, till, now, added=given)
    return Registration("created", customer, card, welcome, confirmed, profile)


def grant_welcome_if_due(
    session: Session, program: Program, customer: Customer, till: TillRef | None, now: datetime
) -> LedgerEntry | None:
    """Give the welcome bonus if the program has one, neither the phone nor the customer ever had
    it (not again after a change of number), and (when the program asks) the phone is verified.
    Returns the new ledger lot, or None."""
    if program.welcome_bonus is None or customer.deleted or not customer.phone:
        return None
    phone = customer.phone
    ever = (
        session.get(PhoneWelcome, phone) is not None
        or session.scalars(  # this customer had it on a number they have since changed
            select(PhoneWelcome.phone).where(PhoneWelcome.customer_id == customer.id).limit(1)
        ).first()
        is not None
    )
    points = welcome_bonus_due(
        program, phone_verified=customer.phone_verified, phone_ever_welcomed=ever
    )
    if points <= 0:
        return None
    try:
        with session.begin_nested():
            session.add(PhoneWelcome(phone=phone, customer_id=customer.id, given_at=now))
    except IntegrityError:  # a concurrent transaction welcomed this phone first
        return None
    return bonus_lot(
        session, program, customer, till, now, "welcome", points, f"welcome bonus, {program.code}"
    )


def grant_birthday_if_due(
    session: Session, program: Program, customer: Customer, till: TillRef | None, now: datetime
) -> LedgerEntry | None:
    """Give the program's birthday bonus if today (UTC) is in its window and it was not given
    for this birthday yet (at most once a year).  Returns the new ledger lot, or None."""
    bonus = program.birthday_bonus
    if bonus is None or customer.deleted or customer.birth_date is None:
        return None
    if bonus.requires_verified_phone and not customer.phone_verified:
        return None
    session.flush()
    session.refresh(customer, with_for_update=True)  # two tills at once: one bonus
    today = now.astimezone(UTC).date()
    if not program.birthday_bonus_due(customer.birth_date, today, customer.last_birthday_bonus):
        return None
    customer.last_birthday_bonus = today
    return bonus_lot(
        session,
        program,
        customer,
        till,
        now,
        "birthday",
        bonus.points,
        f"birthday bonus {today.year}, {program.code}",
    )


__all__ = [
    "Registration",
    "audit",
    "grant_birthday_if_due",
    "grant_welcome_if_due",
    "register",
]
