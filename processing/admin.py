"""Administration of the service: stores, enrolment of tills, cashiers.

Owns: the operations behind ``processing store add``, ``processing enroll`` and ``processing
cashier add``, and the exchange of a one-time enrolment code for a device token
(``POST /api/v1/devices/enroll``).  Codes and tokens are stored hashed.

Messages for the admin (:class:`AdminError`) are in the language of the run (``cashier.i18n``); the
reasons of :class:`EnrolmentRefused` are the API's and stay English, as its other error messages.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cashier.i18n import N_, _
from processing.models import Cashier, Chain, Device, EnrolmentCode, Store
from processing.security import hash_pin, hash_token, new_enrolment_code, new_token, normalise_code

ENROLMENT_TTL = timedelta(hours=24)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ROLES = ("cashier", "senior")
_ROLE_LABELS = {"cashier": N_("cashier"), "senior": N_("senior")}


def role_label(role: str) -> str:
    """A cashier's role as printed for an admin ("senior" → "старший кассир" in Russian)."""
    label = _ROLE_LABELS.get(role)
    return _(label) if label else role


class AdminError(ValueError):
    """An admin command that cannot be carried out; the message says why and what to do."""


def add_store(
    session: Session, store_id: str, chain_id: str, name: str, chain_name: str | None = None
) -> Store:
    if not _ID_RE.match(store_id):
        raise AdminError(
            _(
                "The store id {value} is not valid: use lowercase letters, digits, '-' or '_'."
            ).format(value=repr(store_id))
        )
    if not _ID_RE.match(chain_id):
        raise AdminError(
            _(
                "The chain id {value} is not valid: use lowercase letters, digits, '-' or '_'."
            ).format(value=repr(chain_id))
        )
    chain = session.get(Chain, chain_id)
    if chain is None:
        session.add(Chain(id=chain_id, name=chain_name or chain_id))
    elif chain_name:
        chain.name = chain_name
    store = session.get(Store, store_id)
    if store is not None:
        if store.chain_id != chain_id:
            raise AdminError(
                _("The store {store} already belongs to the chain {chain}.").format(
                    store=store_id, chain=store.chain_id
                )
            )
        store.name = name
    else:
        store = Store(id=store_id, chain_id=chain_id, name=name)
        session.add(store)
    session.flush()
    return store


DEVICE_ROLES = ("till", "kiosk", "desk")
"""A till sells; a store tablet (kiosk) lets customers register themselves; a consultant's desk
identifies customers and issues offer sheets.  The role is chosen when the enrolment code is made
(``processing enroll --role``) and decides which routes the device reaches
(:data:`processing.deps.ROUTES_BY_ROLE`)."""


def create_enrolment_code(
    session: Session, store_id: str, now: datetime, role: str = "till"
) -> tuple[str, datetime]:
    """A one-time code a device exchanges for its token; valid for 24 hours.  ``role``: what
    the device will be (``till``, ``kiosk``, ``desk``) and so which routes it reaches."""
    if session.get(Store, store_id) is None:
        raise AdminError(_no_store(store_id))
    if role not in DEVICE_ROLES:
        raise AdminError(
            _("A device is a till, a kiosk or a desk (--role till|kiosk|desk), not {role}.").format(
                role=role
            )
        )
    code = new_enrolment_code()
    expires = now + ENROLMENT_TTL
    session.add(
        EnrolmentCode(
            code_hash=hash_token(normalise_code(code)),
            store_id=store_id,
            created_at=now,
            expires_at=expires,
            role=role,
        )
    )
    session.flush()
    return code, expires


def _no_store(store_id: str) -> str:
    return _(
        "There is no store {store}. Add it first: processing store add --id {store} ..."
    ).format(store=store_id)


class EnrolmentRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def enroll_device(session: Session, code: str, name: str, now: datetime) -> tuple[Device, str]:
    """Exchange an enrolment code for a new device and its token (returned once, stored hashed)."""
    row = session.get(EnrolmentCode, hash_token(normalise_code(code)), with_for_update=True)
    if row is None:
        raise EnrolmentRefused(
            "The enrolment code is not known. Check it, or ask the admin for a new one."
        )
    if row.used_at is not None:
        raise EnrolmentRefused("This enrolment code was already used. Ask the admin for a new one.")
    if row.expires_at <= now:
        raise EnrolmentRefused("This enrolment code has expired. Ask the admin for a new one.")
    token = new_token()
    device = Device(
        id=f"t_{uuid.uuid4().hex[:12]}",
        store_id=row.store_id,
        token_hash=hash_token(token),
        name=name,
        created_at=now,
        role=row.role,
    )
    session.add(device)
    row.used_at = now
    row.device_id = device.id
    session.flush()
    return device, token


def device_for_token(session: Session, token: str) -> Device | None:
    device = session.scalars(select(Device).where(Device.token_hash == hash_token(token))).first()
    return device


def add_cashier(
    session: Session, store_id: str, name: str, pin: str, role: str = "cashier"
) -> Cashier:
    if session.get(Store, store_id) is None:
        raise AdminError(_no_store(store_id))
    if not re.fullmatch(r"[0-9]{4,8}", pin):  # ASCII digits: what a keypad sends
        raise AdminError(_("A PIN is 4 to 8 digits."))
    if role not in ROLES:
        raise AdminError(_("The role is cashier or senior."))
    cashier = Cashier(
        id=f"k_{uuid.uuid4().hex[:8]}",
        store_id=store_id,
        name=name,
        pin_hash=hash_pin(pin),
        role=role,
    )
    session.add(cashier)
    session.flush()
    return cashier
