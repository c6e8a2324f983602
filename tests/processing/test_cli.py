"""The ``processing`` command line, run as a real process the way an admin runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cashier.identifiers import public_key_from_text, verify_wallet_token
from tests.processing.conftest import _free_port


def run(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "processing.cli", "--db", str(db), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_admin_commands_then_serve(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert "up to date" in run(db, "migrate").stdout
    assert "version 2026-11-01" in run(db, "program", "set", "nbclub").stdout
    assert (
        "iport-msk-1"
        in run(
            db, "store", "add", "--id", "iport-msk-1", "--chain", "iport", "--name", "iPort"
        ).stdout
    )
    code = run(db, "enroll", "--store", "iport-msk-1").stdout.strip()
    assert len(code) == 14
    assert (
        "senior"
        in run(
            db,
            "cashier",
            "add",
            "--store",
            "iport-msk-1",
            "--name",
            "Анна",
            "--pin",
            "1234",
            "--role",
            "senior",
        ).stdout
    )
    bad = run(
        db, "cashier", "add", "--store", "iport-msk-1", "--name", "Б", "--pin", "12", check=False
    )
    assert bad.returncode == 2 and "PIN" in bad.stderr
    missing = run(db, "enroll", "--store", "nowhere", check=False)
    assert missing.returncode == 2 and "store add" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('[program]\ncode = "x"\n', encoding="utf-8")
    refused = run(db, "program", "set", str(broken), check=False)
    assert refused.returncode == 2 and "broken.toml" in refused.stderr

    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "processing.cli", "--db", str(db), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).json()["status"] == "ok":
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve did not answer in 30 s"
            time.sleep(0.1)
        enrolled = httpx.post(
            f"{base}/devices/enroll", json={"code": code, "name": "till"}, timeout=5
        )
        assert enrolled.status_code == 201
        token = enrolled.json()["token"]
        rules = httpx.get(
            f"{base}/sync/rules", headers={"Authorization": f"Bearer {token}"}, timeout=5
        ).json()
        assert rules["version"].startswith("2026-11-01")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    assert proc.returncode in (0, 130, -signal.SIGINT)

    # a wallet token for an existing customer verifies with the key the service publishes
    import sqlite3
    from datetime import UTC, datetime

    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO customers (id, phone, phone_verified, consents, created_at, updated_at, deleted, "
            "opening_spend) VALUES ('c_1', '+79001234567', 1, '{}', '2026-01-01', '2026-01-01', 0, 0)"
        )
    token_text = run(db, "wallet-token", "c_1", "--qr", str(tmp_path / "qr.png")).stdout.strip()
    assert (tmp_path / "qr.png").stat().st_size > 100
    wallet = verify_wallet_token(
        token_text, public_key_from_text(rules["wallet_public_key"]), datetime.now(UTC)
    )
    assert wallet.customer_id == "c_1"
    assert run(db, "wallet-token", "c_404", check=False).returncode == 2


@pytest.mark.parametrize("argv", [["--help"], ["program", "set", "--help"]])
def test_help_documents_the_commands(argv: list[str], tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "processing.cli", *argv], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0
    assert "processing" in out.stdout


def test_serve_with_workers_takes_the_database_after_the_command(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "processing.cli",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve --workers 2 did not answer in 60 s"
            time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"  # migrated, but no program set yet
        assert db.exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
