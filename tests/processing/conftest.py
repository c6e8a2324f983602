"""A real processing service on loopback (uvicorn in a thread), on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from processing import wallet_keys
from processing.admin import add_store, create_enrolment_code
from processing.app import create_app
from processing.db import make_engine, migrate, session_factory, transaction
from processing.models import Card, Customer, LedgerEntry
from processing.sms import LogGateway
from processing.state import set_program

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Service:
    base_url: str
    token: str
    factory: sessionmaker[Session]
    url: str
    sms: LogGateway
    """The service's SMS gateway: every SMS it sent is in ``sms.sent``."""
    key_file: Path
    """Where the wallet signing key of its database is kept (a folder of its own)."""

    def wallet_private(self) -> bytes:
        """The wallet signing key (made on first use, as ``processing wallet-token`` does)."""
        with transaction(self.factory) as session:
            return wallet_keys.signing_key(session, self.key_file, NOW)[1]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.base_url + "/api/v1", headers=headers, timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_customer(
    factory: sessionmaker[Session],
    customer_id: str,
    phone: str,
    *,
    points: int = 0,
    verified: bool = True,
    card: str | None = None,
    first_name: str = "Иван",
    last_name: str = "Петров",
) -> None:
    with transaction(factory) as session:
        session.add(
            Customer(
                id=customer_id,
                phone=phone,
                phone_verified=verified,
                first_name=first_name,
                last_name=last_name,
                created_at=NOW,
                updated_at=NOW,
                consents={},
            )
        )
        session.flush()
        if card:
            session.add(Card(number=card, customer_id=customer_id, status="active"))
        if points:
            session.add(
                LedgerEntry(
                    customer_id=customer_id,
                    kind="opening",
                    amount=Decimal(points),
                    is_lot=True,
                    available_from=NOW - timedelta(days=30),
                    occurred_at=NOW - timedelta(days=30),
                    created_at=NOW,
                )
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'processing.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest schema, made once per run and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "processing.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database already at the newest schema (a copy of a migrated template)."""
    if request.param == "sqlite":
        target = tmp_path / "processing.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        return f"sqlite:///{target}"
    return str(request.getfixturevalue("migrated_postgres_url"))


@contextmanager
def serve(database_url: str, *, sms: Any = None) -> Iterator[Service]:
    """The processing service on loopback over a migrated database: NBclub, one store, one
    enrolled till, a fixed clock, a log SMS gateway unless ``sms`` names another (also used by
    benchmarks)."""
    engine = make_engine(database_url)
    factory = session_factory(engine)
    text = (
        resources.files("resources").joinpath("programs", "nbclub.toml").read_text(encoding="utf-8")
    )
    with transaction(factory) as session:
        set_program(session, text, "nbclub.toml", now=NOW)
        add_store(session, "iport-msk-1", "iport", "iPort, Москва")
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW - timedelta(hours=1))
    port = _free_port()
    gateway = sms if sms is not None else LogGateway()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(database_url, clock=lambda: NOW, engine=engine, sms=gateway),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the processing service did not start")
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        reply = httpx.post(
            f"{base}/api/v1/devices/enroll", json={"code": code, "name": "till 1"}, timeout=10
        )
        if reply.status_code != 201:
            raise RuntimeError(f"enrolment failed: {reply.status_code} {reply.text}")
        keys = Path(tempfile.mkdtemp(prefix="wallet-key-"))
        try:
            yield Service(
                base, reply.json()["token"], factory, database_url, gateway, keys / "wallet.key"
            )
        finally:
            shutil.rmtree(keys, ignore_errors=True)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


@pytest.fixture
def service(migrated_url: str) -> Iterator[Service]:
    with serve(migrated_url) as started:
        yield started


def run_cli(
    db: str | Path, *args: str, lang: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """``processing --db DB [--lang LANG] ARGS`` as an admin runs it: a process of its own, from a
    folder outside the project (presets and migrations come from the package, not the cwd), with
    ``$LOYALTY_LANG`` and ``$PROCESSING_DB`` unset; ``check``: it must exit 0."""
    env = {k: v for k, v in os.environ.items() if k not in ("LOYALTY_LANG", "PROCESSING_DB")}
    flag = ["--lang", lang] if lang else []
    result = subprocess.run(
        [sys.executable, "-m", "processing.cli", "--db", str(db), *flag, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        env={**env, "PYTHONIOENCODING": "utf-8"},
        cwd=tempfile.gettempdir(),
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result
