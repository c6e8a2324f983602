"""Service-wide state kept in the database: generated keys and the active program.

Owns: the offline lookup key (generated once, on first use), and the
active program version (``processing program set``).  Both are read often, so they are cached per
process and database: the keys for good, parsed programs by version (a version's text never
changes), and which version is active for ``ACTIVE_TTL_S`` seconds.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cashier.i18n import _
from cashier.program import Program, parse_program
from processing.models import ProgramVersion, ServiceKey


@dataclass(frozen=True)
class Keys:
    phone_hash_key: bytes
    """The key of the offline lookups (:mod:`cashier.lookup`); the wallet keys are in
    :mod:`processing.wallet_keys`."""


@dataclass(frozen=True)
class ActiveProgram:
    program: Program
    version: str
    toml: str
    activated_at: datetime


_lock = threading.Lock()
_keys_cache: dict[str, Keys] = {}
_program_cache: dict[tuple[str, str], ActiveProgram] = {}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keys(session: Session) -> Keys:
    """The service's lookup key, created in this transaction if the database has none yet."""
    url = str(session.get_bind().engine.url)
    with _lock:
        cached = _keys_cache.get(url)
    if cached is not None:
        return cached
    row = session.get(ServiceKey, "phone_hash")
    if row is None:
        row = ServiceKey(name="phone_hash", value=_b64(secrets.token_bytes(32)))
        session.merge(row)
        session.flush()
    result = Keys(_unb64(row.value))
    with _lock:
        _keys_cache[url] = result
    return result


class NoProgram(LookupError):
    """No program has been set on this service yet."""


ACTIVE_TTL_S = 2.0
"""How long a process trusts its idea of the active program (a new one is seen within this)."""
_active_cache: dict[str, tuple[float, ActiveProgram]] = {}


def _db_key(session: Session) -> str:
    return str(session.get_bind().engine.url)


def _parsed(session: Session, row: ProgramVersion) -> ActiveProgram:
    """The parsed program of a stored version (versions never change text within a database)."""
    key = (_db_key(session), row.version)
    with _lock:
        cached = _program_cache.get(key)
    if cached is None:
        cached = ActiveProgram(
            parse_program(row.toml, source=_("program {version}").format(version=row.version)),
            row.version,
            row.toml,
            row.activated_at,
        )
        with _lock:
            _program_cache[key] = cached
    return cached


def active_program(session: Session) -> ActiveProgram:
    """The active program, re-read from the database at most every ``ACTIVE_TTL_S`` seconds."""
    db, now = _db_key(session), time.monotonic()
    with _lock:
        hit = _active_cache.get(db)
    if hit is not None and now - hit[0] < ACTIVE_TTL_S:
        return hit[1]
    row = session.scalars(
        select(ProgramVersion)
        .where(ProgramVersion.active.is_(True))
        .order_by(ProgramVersion.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NoProgram(_("no program is set: run `processing program set nbclub`"))
    found = _parsed(session, row)
    with _lock:
        _active_cache[db] = (now, found)
    return found


def program_by_version(session: Session, version: str | None) -> Program:
    """The program of a given version (a purchase is confirmed under the rules it was priced by)."""
    if version is None:
        return active_program(session).program
    with _lock:
        cached = _program_cache.get((_db_key(session), version))
    if cached is not None:
        return cached.program
    row = session.scalars(select(ProgramVersion).where(ProgramVersion.version == version)).first()
    if row is None:
        return active_program(session).program
    return _parsed(session, row).program


def set_program(
    session: Session, toml_text: str, source: str, now: datetime | None = None
) -> ActiveProgram:
    """Validate and activate a program; the version is the file's ``program.version``.

    Re-setting the same version with the same text is a no-op; with other text it gets a suffix so
    tills always see a new version when the rules change.
    """
    program = parse_program(toml_text, source=source)
    now = now or datetime.now(UTC)
    version = program.version
    existing = session.scalars(
        select(ProgramVersion).where(ProgramVersion.version.like(f"{version}%"))
    ).all()
    same = [row for row in existing if row.toml == toml_text]
    if same:
        row = same[-1]
    else:
        if existing:
            version = f"{version}+{len(existing)}"
        row = ProgramVersion(
            code=program.code, version=version, toml=toml_text, activated_at=now, active=True
        )
        session.add(row)
    session.execute(
        update(ProgramVersion).where(ProgramVersion.version != row.version).values(active=False)
    )
    row.active = True
    session.flush()
    with _lock:
        _active_cache.pop(_db_key(session), None)
    return ActiveProgram(program, row.version, row.toml, row.activated_at)
