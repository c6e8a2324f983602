"""Opening the till's database: one process per data folder, checked, migrated, durable.

Owns: :func:`open_store` and :class:`Store`.  SQLite in WAL mode with ``synchronous=FULL`` (a
committed sale survives a power cut), foreign keys, a busy timeout, ``BEGIN IMMEDIATE`` for writes
(writers queue instead of failing halfway), Alembic migrations (a till upgraded with a full queue
keeps it), a lock so a second copy of the till on the same folder refuses to start (two senders on
one queue is how sales get doubled), and ``PRAGMA quick_check`` at start: a damaged database stops
loyalty operations with a message instead of guessing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from cashier.errors import UserFacingError
from cashier.i18n import _

DB_NAME = "till.db"
LOCK_NAME = "till.lock"
READ_ONLY = "till_read_only"


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
        """A write transaction: committed (durably) when the block ends, rolled back on error."""
        with self.factory() as session, session.begin():
            yield session

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
    lock = _lock(folder / LOCK_NAME)
    try:
        url = f"sqlite:///{folder / DB_NAME}"
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
        return store
    except BaseException:
        _unlock(lock)
        lock.close()
        raise


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


def _damaged(detail: str) -> str:
    return _(
        "The till's database failed its integrity check ({detail}). Loyalty operations are "
        "stopped so nothing is guessed: sell without loyalty and call support to restore the "
        "database from a backup."
    ).format(detail=detail[:200])


HEAD_REVISION = "0002"
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
