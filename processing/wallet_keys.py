"""The program's wallet-token keys: a public list in the database, the signing key in a file.

Owns: the wallet key list (``service_keys`` row ``wallet_keys``: every key's id, public key, the
endorsement by the key before it and, once replaced, when it stops being accepted), the key file
that holds the current private key, rotation and per-customer withdrawal of tokens.

* **The private key is not in the database.** A dump, a replica or a backup of the database
  carries only public keys.  The signing key is in a file readable by its owner only (0600):
  ``$PROCESSING_WALLET_KEY_FILE``, else beside a SQLite database (``processing.db.wallet-key``),
  else ``<user config dir>/loyalty-processing/wallet-<host>-<port>-<database>.key`` for PostgreSQL.
  Only the commands that sign (``processing wallet-token``, ``wallet-key rotate``) read it, and
  ``processing serve`` makes it before it starts when the database has no key; the processes
  that answer requests never read it.  A database made before keeps its key in ``service_keys`` until the
  first signing command moves it into the file.
* **Rotation.** ``processing wallet-key rotate`` makes a new key, has the current one sign it (the
  endorsement tills check before they accept it: docs/protocol.md I) and keeps the old one
  accepted for ``--keep-days`` days, so tokens already in wallets keep working.
* **Withdrawal.** ``processing wallet-token --revoke CUSTOMER`` refuses that customer's tokens
  issued until now (``customers.wallet_not_before``), online at once and offline after the next
  customer sync.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cashier.i18n import _
from cashier.wallet_token import (
    WalletToken,
    check_not_revoked,
    endorse_key,
    generate_wallet_keypair,
    key_id,
    public_key_from_text,
    public_key_to_text,
    verify_wallet_token,
)
from processing.db import normalise_url
from processing.models import Customer, ServiceKey

ENV_KEY_FILE = "PROCESSING_WALLET_KEY_FILE"
LIST_ROW = "wallet_keys"
LEGACY_PRIVATE, LEGACY_PUBLIC = "wallet_private", "wallet_public"
CACHE_S = 5.0
"""How long a serving process trusts its copy of the key list (a rotation is seen within this)."""


class WalletKeyError(Exception):
    """A signing key that cannot be used, with what to do (the CLI prints it)."""


@dataclass(frozen=True)
class WalletKey:
    kid: str
    public: bytes
    created_at: datetime
    endorsed_by: str | None = None
    endorsement: str | None = None
    retires_at: datetime | None = None
    """After this the key's tokens are refused (None: accepted; the newest key never retires)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "public_key": public_key_to_text(self.public),
            "created_at": self.created_at.isoformat(),
            "endorsed_by": self.endorsed_by,
            "endorsement": self.endorsement,
            "retires_at": self.retires_at.isoformat() if self.retires_at else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WalletKey:
        return cls(
            kid=raw["kid"],
            public=public_key_from_text(raw["public_key"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
            endorsed_by=raw.get("endorsed_by"),
            endorsement=raw.get("endorsement"),
            retires_at=datetime.fromisoformat(raw["retires_at"]) if raw.get("retires_at") else None,
        )


def tag(listed: tuple[WalletKey, ...]) -> str:
    """A short name of the list as tills see it (a rotation or a retirement changes it)."""
    text = "|".join(f"{k.kid}:{k.retires_at.isoformat() if k.retires_at else ''}" for k in listed)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def accepted(wallet_keys: tuple[WalletKey, ...], now: datetime) -> dict[str, bytes]:
    """The keys whose tokens are accepted at ``now``, by key id."""
    return {k.kid: k.public for k in wallet_keys if k.retires_at is None or now < k.retires_at}


def verify(session: Session, token: str, now: datetime) -> WalletToken:
    """A wallet token checked against the accepted keys and its customer's withdrawals.

    Raises:
        WalletTokenRejected: malformed, not signed by an accepted key, expired or withdrawn.
    """
    found = verify_wallet_token(token, accepted(wallet_keys(session), now), now)
    customer = session.get(Customer, found.customer_id)
    if customer is not None:
        check_not_revoked(found, customer.wallet_not_before)
    return found


def revoke(customer: Customer, now: datetime) -> None:
    """Withdraw the customer's tokens issued until ``now`` (the tills learn it with the customer).

    Kept to the whole second, as tokens carry their issue time: one issued in the second after
    is accepted, so a fresh token can be issued at once."""
    customer.wallet_not_before = now.replace(microsecond=0)
    customer.updated_at = now


_lock = threading.Lock()
_cache: dict[str, tuple[float, tuple[WalletKey, ...]]] = {}


def wallet_keys(session: Session) -> tuple[WalletKey, ...]:
    """The key list, oldest first (the last one signs); a legacy single key shows as one entry."""
    url = str(session.get_bind().engine.url)
    with _lock:
        cached = _cache.get(url)
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    found = _read(session)
    with _lock:
        _cache[url] = (time.monotonic(), found)
    return found


def forget_cache() -> None:
    with _lock:
        _cache.clear()


def _read(session: Session) -> tuple[WalletKey, ...]:
    rows = {
        r.name: r.value
        for r in session.scalars(
            select(ServiceKey).where(ServiceKey.name.in_([LIST_ROW, LEGACY_PUBLIC]))
        )
    }
    if LIST_ROW in rows:
        return tuple(WalletKey.from_json(item) for item in json.loads(rows[LIST_ROW]))
    if LEGACY_PUBLIC in rows:
        public = _unb64(rows[LEGACY_PUBLIC])
        return (WalletKey(key_id(public), public, datetime.fromtimestamp(0).astimezone()),)
    return ()


def _write(session: Session, keys: tuple[WalletKey, ...]) -> None:
    session.merge(ServiceKey(name=LIST_ROW, value=json.dumps([k.as_json() for k in keys])))
    session.flush()
    forget_cache()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the key file ---------------------------------------------------------------------------------
def default_key_file(url: str) -> Path:
    """Where the signing key of the database at ``url`` is kept (see the module's doc)."""
    if os.environ.get(ENV_KEY_FILE):
        return Path(os.environ[ENV_KEY_FILE]).expanduser()
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).with_name(Path(parsed.database).name + ".wallet-key")
    name = f"wallet-{parsed.host or 'local'}-{parsed.port or 5432}-{parsed.database or 'db'}.key"
    return Path(user_config_dir("loyalty-processing", appauthor=False)) / name


def _read_file(path: Path) -> dict[str, bytes]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {str(kid): _unb64(str(text)) for kid, text in raw["private_keys"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise WalletKeyError(
            _("The wallet key file {path} cannot be read: restore it from its backup.").format(
                path=path
            )
        ) from None


def _write_file(path: Path, private: dict[str, bytes]) -> None:
    """Write the key file readable by its owner only, atomically (a temporary file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    body = json.dumps({"private_keys": {kid: _b64(raw) for kid, raw in private.items()}})
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, body.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def signing_key(session: Session, key_file: Path, now: datetime) -> tuple[str, bytes]:
    """The current key's id and private key, for a command that signs.

    The first call on a database with no key makes one (the private key into ``key_file``, the
    public one into the list); a legacy key kept in the database is moved into the file.

    Raises:
        WalletKeyError: the file lacks the current key (another server made it: copy its file).
    """
    private = _read_file(key_file)
    legacy = session.get(ServiceKey, LEGACY_PRIVATE)
    listed = _read(session)
    if legacy is not None:
        public = listed[-1].public if listed else _unb64(_legacy_public(session))
        private[key_id(public)] = _unb64(legacy.value)
        _write_file(key_file, private)
        if not listed:
            listed = (WalletKey(key_id(public), public, now),)
        _write(session, listed)
        session.execute(
            delete(ServiceKey).where(ServiceKey.name.in_([LEGACY_PRIVATE, LEGACY_PUBLIC]))
        )
    if not listed:
        raw_private, raw_public = generate_wallet_keypair()
        kid = key_id(raw_public)
        private[kid] = raw_private
        _write_file(key_file, private)
        listed = (WalletKey(kid, raw_public, now),)
        _write(session, listed)
    current = listed[-1]
    if current.kid not in private:
        raise WalletKeyError(
            _(
                "The wallet signing key {kid} is not in {path}. Copy the key file from the server "
                "that made it (or set {env} to where it is)."
            ).format(kid=current.kid, path=key_file, env=ENV_KEY_FILE)
        )
    return current.kid, private[current.kid]


def _legacy_public(session: Session) -> str:
    row = session.get(ServiceKey, LEGACY_PUBLIC)
    if row is None:
        raise WalletKeyError(_("The database has a wallet private key without its public key."))
    return row.value


def rotate(session: Session, key_file: Path, now: datetime, keep: timedelta) -> WalletKey:
    """Make a new signing key endorsed by the current one; the current one is accepted for
    ``keep`` more, then refused.  Returns the new key."""
    kid, old_private = signing_key(session, key_file, now)
    listed = _read(session)
    raw_private, raw_public = generate_wallet_keypair()
    new = WalletKey(
        key_id(raw_public),
        raw_public,
        now,
        endorsed_by=kid,
        endorsement=endorse_key(old_private, raw_public),
    )
    kept = tuple(
        k if k.retires_at is not None or k.kid != kid else _retire(k, now + keep) for k in listed
    )
    _write_file(key_file, {kid: old_private, new.kid: raw_private})  # older ones are dropped
    _write(session, (*kept, new))
    return new


def _retire(key: WalletKey, at: datetime) -> WalletKey:
    return WalletKey(key.kid, key.public, key.created_at, key.endorsed_by, key.endorsement, at)
