"""Database engines and sessions for the processing service (SQLite by default, PostgreSQL by URL).

Owns: the URL default (a file in the platform's user data dir), engine set-up (SQLite: WAL,
``synchronous=FULL``, foreign keys, busy timeout, ``BEGIN IMMEDIATE`` so writers serialise instead
of failing on upgrade; read-only sessions begin deferred), and running Alembic migrations.  One code path for both databases.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from platformdirs import user_data_dir
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

ENV_DB = "PROCESSING_DB"


def default_url() -> str:
    """``$PROCESSING_DB``, else a SQLite file in the user data dir."""
    if os.environ.get(ENV_DB):
        return os.environ[ENV_DB]
    folder = Path(user_data_dir("loyalty-processing", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'processing.db'}"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` as psycopg 3, and plain file paths as SQLite."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _sqlite_setup(engine)
        return engine
    # As many pooled connections as requests a worker runs at once (its thread pool), so that
    # connections are reused instead of opened and closed under load.
    kwargs.setdefault("pool_size", 25)
    kwargs.setdefault("max_overflow", 15)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # Writers of this process queue on a lock before SQLite's own: a waiting thread is woken the
    # moment the writer before it commits, instead of polling the busy handler with growing sleeps
    # (which let some requests wait seconds under load).  Other processes still meet busy_timeout.
    writers = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN")
            return
        if not writers.acquire(timeout=30):
            raise TimeoutError("the database stayed busy for 30 s")
        conn.info["holds_write_lock"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            conn.info.pop("holds_write_lock", None)
            writers.release()
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        if conn.info.pop("holds_write_lock", False):
            writers.release()


READ_ONLY = "loyalty_read_only"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads: on SQLite they take no write lock (plain ``BEGIN``), so lookups run
    beside a write instead of queueing behind it.  Never write through them."""
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside one transaction: committed on success, rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    script_location = str(resources.files("processing").joinpath("migrations"))
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (creates it when empty)."""
    command.upgrade(alembic_config(url), "head")
