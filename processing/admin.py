"""Administration of the service: stores, enrolment of tills, device keys, cashiers.

Owns: the operations behind ``processing store add``, ``processing enroll``, ``processing device
list|disable|enable|rotate`` and ``processing cashier add``; the exchange of a one-time enrolment
code for a device token (``POST /api/v1/devices/enroll``); the device keys' life: which key a
request carries (the current one or the one a rotation replaced), their expiry, the till's own
rotation (``POST /api/v1/devices/token``).  Codes and tokens are stored hashed.

Messages for the admin (:class:`AdminError`) are in the language of the run (``cashier.i18n``); the
reasons of :class:`EnrolmentRefused` are the API's and stay English, as its other error messages.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cashier.i18n import N_, _
from processing.models import Cashier, Chain, Device, EnrolmentCode, Store
from processing.security import hash_pin, hash_token, new_enrolment_code, new_token, normalise_code

ENROLMENT_TTL = timedelta(hours=24)
TOKEN_TTL = timedelta(days=365)
"""How long a device key works: set at enrolment and at every rotation.  The till rotates its key
when it expires within 30 days (``sync.runtime.RENEW_BEFORE``); past it, ``401 token_expired``."""
ROTATION_OVERLAP = timedelta(seconds=60)
"""How long the key a till's rotation replaced still works once the new key has been used: for
the till's requests already on their way with the old key."""
LAST_SEEN_EVERY = timedelta(minutes=5)
"""``Device.last_seen_at`` is written at most this often per device (on a key cache miss)."""
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
    return _new_code(session, store_id, role, now, device_id=None)


def _new_code(
    session: Session, store_id: str, role: str, now: datetime, *, device_id: str | None
) -> tuple[str, datetime]:
    code = new_enrolment_code()
    expires = now + ENROLMENT_TTL
    session.add(
        EnrolmentCode(
            code_hash=hash_token(normalise_code(code)),
            store_id=store_id,
            created_at=now,
            expires_at=expires,
            role=role,
            device_id=device_id,
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
    """Exchange an enrolment code for a device and its token (returned once, stored hashed).

    A code from ``processing device rotate`` re-enrols the device it was made for: the same id,
    store, role, name and sequence numbers (``last_seq``), a new key; every other code makes a
    new device.
    """
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
    if row.device_id is not None:  # a rotation code: the same device, a new key
        device = session.get(Device, row.device_id, with_for_update=True)
        if device is None:
            raise EnrolmentRefused(
                "The device this code was made for no longer exists. Ask the admin for a new code."
            )
        _set_key(device, token, now)
        device.previous_token_hash = None
        device.previous_token_expires_at = None
    else:
        device = Device(
            id=f"t_{uuid.uuid4().hex[:12]}",
            store_id=row.store_id,
            token_hash=hash_token(token),
            token_expires_at=now + TOKEN_TTL,
            name=name,
            created_at=now,
            role=row.role,
        )
        session.add(device)
    row.used_at = now
    row.device_id = device.id
    session.flush()
    return device, token


def _set_key(device: Device, token: str, now: datetime) -> None:
    device.token_hash = hash_token(token)
    device.token_expires_at = now + TOKEN_TTL


# -- device keys ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceKey:
    """The device a key belongs to, and which of its keys it is."""

    device: Device
    which: Literal["current", "previous"]
    """``current``: the device's key; ``previous``: the one its last rotation replaced."""
    key_hash: str

    @property
    def expires_at(self) -> datetime:
        """Until when this key is accepted."""
        if self.which == "current":
            return self.device.token_expires_at
        assert self.device.previous_token_expires_at is not None  # set with the hash
        return self.device.previous_token_expires_at

    def needs_note(self, now: datetime) -> bool:
        """Whether :func:`note_device_use` has something to write: the device not seen for
        :data:`LAST_SEEN_EVERY`, or a rotated device's new key used for the first time."""
        seen = self.device.last_seen_at
        if seen is None or seen <= now - LAST_SEEN_EVERY:
            return True
        return self.which == "current" and _old_key_uncut(self.device, now)


def _old_key_uncut(device: Device, now: datetime) -> bool:
    until = device.previous_token_expires_at
    return device.previous_token_hash is not None and (
        until is None or until > now + ROTATION_OVERLAP
    )


def device_key(session: Session, token: str) -> DeviceKey | None:
    """The device whose current key, or whose replaced key still on record, is ``token``."""
    hashed = hash_token(token)
    device = session.scalars(
        select(Device).where(or_(Device.token_hash == hashed, Device.previous_token_hash == hashed))
    ).first()
    if device is None:
        return None
    return DeviceKey(device, "current" if device.token_hash == hashed else "previous", hashed)


def device_for_token(session: Session, token: str) -> Device | None:
    """The device whose current key is ``token`` (a replaced key does not count)."""
    found = device_key(session, token)
    return found.device if found is not None and found.which == "current" else None


def note_device_use(session: Session, device_id: str, key_hash: str, now: datetime) -> bool:
    """Record that ``device_id`` was authenticated with the key ``key_hash``: ``last_seen_at``
    (at most every :data:`LAST_SEEN_EVERY`), and, the first time a rotated device uses its new
    key, the old key is cut to :data:`ROTATION_OVERLAP` from now.  Whether the old key was cut
    (a process then forgets it: :meth:`processing.deps.AuthCache.forget`)."""
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        return False
    if device.last_seen_at is None or device.last_seen_at <= now - LAST_SEEN_EVERY:
        device.last_seen_at = now
    cut = False
    if key_hash == device.token_hash and _old_key_uncut(device, now):
        device.previous_token_expires_at = now + ROTATION_OVERLAP
        cut = True
    elif device.previous_token_hash is not None and (
        device.previous_token_expires_at is None or device.previous_token_expires_at <= now
    ):
        device.previous_token_hash = None  # past its overlap: nothing accepts it any more
        device.previous_token_expires_at = None
    return cut


class KeyRefused(Exception):
    """A rotation refused: ``reason`` is ``disabled`` (the device was disabled meanwhile) or
    ``replaced`` (the key it was asked with is no longer the device's: the admin rotated it)."""

    def __init__(self, reason: Literal["disabled", "replaced"]) -> None:
        super().__init__(reason)
        self.reason = reason


def rotate_device_key(
    session: Session, device_id: str, key_hash: str, now: datetime
) -> tuple[Device, str]:
    """A till's own rotation (``POST /devices/token``): a new key valid for :data:`TOKEN_TTL`,
    returned once; in the same transaction the key the till asked with becomes the replaced key,
    still accepted until the new key has been used (and :data:`ROTATION_OVERLAP` more), never
    past its own expiry.  Asked again with the replaced key (the answer with the new key was
    lost): another new key, the replaced key unchanged.

    Raises:
        KeyRefused: ``key_hash`` is neither the device's key nor its replaced key still accepted.
    """
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        raise KeyRefused("replaced")
    if device.disabled:
        raise KeyRefused("disabled")
    if key_hash == device.token_hash:
        device.previous_token_hash = device.token_hash
        device.previous_token_expires_at = device.token_expires_at
    elif not (
        key_hash == device.previous_token_hash
        and device.previous_token_expires_at is not None
        and device.previous_token_expires_at > now
    ):
        raise KeyRefused("replaced")
    token = new_token()
    _set_key(device, token, now)
    session.flush()
    return device, token


# -- processing device list | disable | enable | rotate -------------------------------------
_DEVICE_ROLE_LABELS = {"till": N_("till"), "kiosk": N_("kiosk"), "desk": N_("desk")}


def device_role_label(role: str) -> str:
    """A device's role as printed for an admin ("kiosk" → "планшет" in Russian)."""
    label = _DEVICE_ROLE_LABELS.get(role)
    return _(label) if label else role


def list_devices(session: Session, store_id: str | None = None) -> list[Device]:
    """The devices, of one store or all, by store then enrolment."""
    stmt = select(Device).order_by(Device.store_id, Device.created_at, Device.id)
    if store_id is not None:
        if session.get(Store, store_id) is None:
            raise AdminError(_no_store(store_id))
        stmt = stmt.where(Device.store_id == store_id)
    return list(session.scalars(stmt))


def _device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        raise AdminError(
            _("There is no device {device}: see processing device list.").format(device=device_id)
        )
    return device


def set_device_disabled(session: Session, device_id: str, disabled: bool) -> Device:
    """Disable a device (refused at once for every mutation, within the key cache's seconds for
    reads: docs/protocol.md §1) or enable it again."""
    device = _device(session, device_id)
    device.disabled = disabled
    session.flush()
    return device


def rotate_device(session: Session, device_id: str, now: datetime) -> tuple[Device, str, datetime]:
    """The admin's rotation: the device's key (and a replaced key still accepted) stop working
    now; a one-time code, valid 24 hours, re-enrols that same device (``cashier enroll CODE``):
    its id, store, role and sequence numbers stay.  An earlier rotation code not yet used for it
    is void.  Returns the device, the code and when the code expires."""
    device = _device(session, device_id)
    device.token_hash = hash_token(new_token())  # a key nobody is given
    device.previous_token_hash = None
    device.previous_token_expires_at = None
    session.execute(
        update(EnrolmentCode)
        .where(
            EnrolmentCode.device_id == device_id,
            EnrolmentCode.used_at.is_(None),
            EnrolmentCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    code, expires = _new_code(session, device.store_id, device.role, now, device_id=device.id)
    return device, code, expires


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
