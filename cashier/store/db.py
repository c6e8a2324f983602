"""Opening the till's database: one process per data folder, checked, migrated, durable.

Owns: :func:`open_store` and :class:`Store`.  SQLite in WAL mode with ``synchronous=FULL`` (a
committed sale survives a power cut), foreign keys, a busy timeout, ``BEGIN IMMEDIATE`` for writes
(writers queue instead of failing halfway), Alembic migrations (a till upgraded with a full queue
keeps it), a lock so a second copy of the till on the same folder refuses to start (two senders on
one queue is how sales get doubled), and ``PRAGMA quick_check`` at start: a damaged database stops
loyalty operations with a message instead of guessing.

Two more checks guard against what SQLite cannot see by itself:

- a write the disk refuses (full, I/O error, read-only) surfaces as
  :class:`cashier.errors.StoreWriteFailed` with a message the cashier can act on, never as a raw
  ``OperationalError``; the transaction is rolled back whole, and the till writes again as soon as
  there is space;
- a hot ``-wal`` deleted after a crash (the ``-shm`` index left behind still counts committed frames
  that were never copied into the database) loses committed sales without any damage
  ``quick_check`` could find: the store opens unhealthy, and stays so (a marker file) until
  support restores the database.  A database file copied *without* its ``-wal`` to another folder
  leaves no such trace here; the service notices it (the till's sequence numbers are reused and
  refused as ``seq_reused``).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from cashier.errors import StoreWriteFailed, UserFacingError
from cashier.i18n import _

DB_NAME = "till.db"
LOCK_NAME = "till.lock"
READ_ONLY = "till_read_only"
WAL_LOST_NAME = "till.wal-lost"
"""A marker left when a hot ``-wal`` was found deleted: the store opens unhealthy while it exists."""


class StoreLocked(UserFacingError):
    code = "store_locked"


class StoreDamaged(UserFacingError):
    code = "store_damaged"


@dataclass
class Store:
    """The open database of one till."""

    folder: Path
    engine: Engine
    factory: sessionmaker[Session]
    reader: sessionmaker[Session]
    healthy: bool = True
    problem: str | None = None
    _lock_file: IO[bytes] | None = field(default=None, repr=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed (durably) when the block ends, rolled back on error.

        Raises:
            StoreWriteFailed: the disk is full, failed or is read-only (nothing was written).
        """
        try:
            with self.factory() as session, session.begin():
                yield session
        except DBAPIError as exc:
            kind = write_failure(exc)
            if kind is None:
                raise
            raise StoreWriteFailed(_write_failed_message(kind, self.folder), kind=kind) from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.reader() as session, session.begin():
            yield session

    def check_healthy(self) -> None:
        """Raise before a loyalty operation if the database failed its check at start."""
        if not self.healthy:
            raise StoreDamaged(self.problem or _("The till's database is damaged."))

    def close(self) -> None:
        self.engine.dispose()
        if self._lock_file is not None:
            _unlock(self._lock_file)
            self._lock_file.close()
            self._lock_file = None


def open_store(folder: Path | str, *, migrate: bool = True) -> Store:
    """Open (creating and migrating when needed) the till database in ``folder``.

    Raises:
        StoreLocked: another copy of the till already uses this folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _owner_only(folder, 0o700)
    lock = _lock(folder / LOCK_NAME)
    try:
        lost = _lost_wal(folder)  # before any connection rebuilds the index
        url = f"sqlite:///{folder / DB_NAME}"
        (folder / DB_NAME).touch(mode=0o600, exist_ok=True)  # SQLite gives -wal/-shm its mode
        for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", LOCK_NAME):
            _owner_only(folder / name, 0o600)
        engine = make_engine(url)
        if migrate and _revision(engine) != HEAD_REVISION:
            from alembic import command  # only when there is something to migrate: ~200 ms

            command.upgrade(_alembic_config(url), "head")
        store = Store(
            folder,
            engine,
            sessionmaker(engine, expire_on_commit=False),
            sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False),
            _lock_file=lock,
        )
        store.healthy, store.problem = _quick_check(engine)
        if store.healthy and lost is not None:
            store.healthy, store.problem = False, lost
        return store
    except BaseException:
        _unlock(lock)
        lock.close()
        raise


def _owner_only(path: Path, mode: int) -> None:
    """The till's folder and files are its user's alone (customers' names, phones' hashes,
    balances, the key's file): ``0700`` / ``0600`` on POSIX, whatever the umask made them.  A
    file another user owns (a folder shared on purpose) is left as it is."""
    if sys.platform == "win32" or not path.exists():  # pragma: no cover - Windows: ACLs
        return
    try:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except PermissionError:
        pass


def make_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 5, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        if sys.platform == "darwin":
            cursor.execute("PRAGMA fullfsync=ON")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _quick_check(engine: Engine) -> tuple[bool, str | None]:
    try:
        with engine.connect() as conn:
            rows = [r[0] for r in conn.execute(text("PRAGMA quick_check")).fetchall()]
            conn.rollback()
    except DatabaseError as exc:  # a file that is not a database at all
        return False, _damaged(str(exc))
    if rows == ["ok"]:
        return True, None
    return False, _damaged("; ".join(str(r) for r in rows[:3]))


def write_failure(exc: BaseException) -> str | None:
    """``"full"``, ``"io"`` or ``"read_only"`` when ``exc`` is the disk refusing a write."""
    orig = getattr(exc, "orig", exc)
    name = str(getattr(orig, "sqlite_errorname", "") or "")
    said = str(orig).lower()
    if name == "SQLITE_FULL" or "database or disk is full" in said:
        return "full"
    if name.startswith("SQLITE_READONLY") or "readonly database" in said:
        return "read_only"
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in said:
        return "io"
    return None


def _write_failed_message(kind: str, folder: Path) -> str:
    if kind == "full":
        said = _(
            "The till's disk is full: nothing was saved. Free space on the disk that holds "
            "{folder} (or call support), then try again."
        )
    elif kind == "read_only":
        said = _(
            "The till's disk is read-only: nothing was saved. Make {folder} writable again "
            "(or call support), then try again."
        )
    else:
        said = _(
            "The till could not write to its disk (an I/O error): nothing was saved. Check the "
            "disk that holds {folder} (or call support), then try again."
        )
    return said.format(folder=folder)


def _lost_wal(folder: Path) -> str | None:
    """Why the database cannot be trusted because its hot ``-wal`` was deleted, or ``None``.

    After a crash SQLite leaves ``till.db-wal`` (committed frames not yet copied into the
    database) and ``till.db-shm`` (their index); a clean close removes both.  An index whose
    header counts more frames (``mxFrame``) than were copied back (``nBackfill``), with no
    ``-wal`` beside it, means committed transactions were thrown away: the database file alone
    looks perfectly healthy, so only this trace tells.  The verdict is kept in a marker file,
    because the first connection rebuilds the index and the trace is gone.
    """
    marker = folder / WAL_LOST_NAME
    if marker.exists():
        return marker.read_text(encoding="utf-8") or _wal_lost_message(folder)
    shm, wal = folder / (DB_NAME + "-shm"), folder / (DB_NAME + "-wal")
    if not shm.exists() or wal.exists() or not (folder / DB_NAME).exists():
        return None
    try:
        header = shm.read_bytes()[:136]
    except OSError:
        return None
    if len(header) < 100:
        return None
    max_frame = struct.unpack_from("=I", header, 16)[0]  # WalIndexHdr.mxFrame (native order)
    backfilled = struct.unpack_from("=I", header, 96)[0]  # WalCkptInfo.nBackfill
    if max_frame <= backfilled:
        return None  # everything committed was already in the database: nothing was lost
    message = _wal_lost_message(folder)
    marker.write_text(message, encoding="utf-8")
    return message


def _wal_lost_message(folder: Path) -> str:
    return _(
        "The till's database lost its journal (till.db-wal was deleted after the till stopped "
        "abnormally): the last sales may be missing from it. Loyalty operations are stopped so "
        "nothing diverges: sell without loyalty and call support to restore {folder} from a "
        "backup (then delete the file till.wal-lost)."
    ).format(folder=folder)


def _damaged(detail: str) -> str:
    return _(
        "The till's database failed its integrity check ({detail}). Loyalty operations are "
        "stopped so nothing is guessed: sell without loyalty and call support to restore the "
        "database from a backup."
    ).format(detail=detail[:200])


HEAD_REVISION = "0004"
"""The newest migration of the till's store (a test checks it against the migrations folder):
a store already there opens without loading Alembic."""


def _revision(engine: Engine) -> str | None:
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            conn.rollback()
    except DatabaseError:
        return None  # a new file (no table yet), or not a database: Alembic says which
    return str(found) if found is not None else None


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("cashier.store").joinpath("migrations"))
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _lock(path: Path) -> IO[bytes]:
    handle = path.open("a+b")
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreLocked(
            _(
                "Another copy of the till is already running on this computer ({folder}). "
                "Use that window, or close it first."
            ).format(folder=path.parent)
        ) from None
    return handle


def _unlock(handle: IO[bytes]) -> None:
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass
