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
from tests.processing.conftest import _free_port, run_cli


def run(
    db: Path, *args: str, check: bool = True, lang: str | None = "en"
) -> subprocess.CompletedProcess[str]:
    """``processing --db DB ARGS`` in ``lang`` (None: the default language)."""
    return run_cli(db, *args, lang=lang, check=check)


def test_admin_commands_then_serve(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert "Created the database schema" in run(db, "migrate").stdout
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
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PROCESSING_SMS": "log"}
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
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PROCESSING_SMS": "log"},
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


def _head() -> str:
    from alembic.script import ScriptDirectory

    from processing.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    from alembic import command

    from processing.db import alembic_config
    from processing.models import Base

    head = _head()
    db = tmp_path / "m.db"
    created = run(db, "migrate").stdout
    assert created.startswith(
        f"Created the database schema at revision {head} ({len(Base.metadata.tables)} tables): "
    ), created
    assert str(db) in created
    assert run(db, "migrate").stdout.startswith(
        f"The database is already up to date, at revision {head}: "
    )

    old = tmp_path / "old.db"
    command.upgrade(alembic_config(f"sqlite:///{old}"), "0002")
    upgraded = run(old, "migrate").stdout
    assert upgraded.startswith(f"Upgraded the database from revision 0002 to {head}: "), upgraded

    russian = run(tmp_path / "ru.db", "migrate", lang="ru").stdout
    assert russian.startswith(f"Схема базы данных создана, ревизия {head} ("), russian


def test_migrate_hides_a_password_and_explains_a_database_it_cannot_open(tmp_path: Path) -> None:
    nowhere = tmp_path / "no" / "such" / "folder" / "p.db"
    refused = run(nowhere, "migrate", check=False)
    assert refused.returncode == 2
    assert "cannot be used" in refused.stderr and "--db" in refused.stderr
    assert "Traceback" not in refused.stderr
    from processing.cli import shown_url

    assert shown_url("postgresql://till:s3cret@db.local/loyalty") == (
        "postgresql://till:***@db.local/loyalty"
    )


ENGLISH = {
    "migrate": "Created the database schema",
    "program": "program NBclub is active",
    "import": "Nothing was imported (1 problem)",
    "help": "commands:",
}
RUSSIAN = {
    "migrate": "Схема базы данных создана",
    "program": "программа NBclub включена",
    "import": "Ничего не импортировано (1 ошибка)",
    "help": "команды:",
}


@pytest.mark.parametrize(
    ("env_lang", "flag", "expected"),
    [
        (None, [], RUSSIAN),  # the default: Russian, as the till's
        ("ru", [], RUSSIAN),
        ("en", [], ENGLISH),
        ("ru", ["--lang", "en"], ENGLISH),  # --lang wins over $LOYALTY_LANG
        ("en", ["--lang", "ru"], RUSSIAN),
    ],
)
def test_every_command_speaks_the_same_language(
    tmp_path: Path, env_lang: str | None, flag: list[str], expected: dict[str, str]
) -> None:
    db = tmp_path / "l.db"
    other = ENGLISH if expected is RUSSIAN else RUSSIAN
    migrated = run(db, *flag, "migrate", lang=env_lang).stdout
    program = run(db, "program", "set", "nbclub", *flag, lang=env_lang).stdout  # --lang after
    bad = tmp_path / "bad.csv"
    bad.write_text("phone,opening_points\n+79001234567,x\n", encoding="utf-8")
    imported = run(db, *flag, "import-customers", str(bad), lang=env_lang, check=False)
    assert imported.returncode == 2
    helped = run(db, *flag, "--help", lang=env_lang).stdout
    outputs = {
        "migrate": migrated,
        "program": program,
        "import": imported.stderr,
        "help": helped,
    }
    for key, text in outputs.items():
        assert expected[key] in text, (key, text)
        assert other[key] not in text, (key, text)
    assert ("строка 2" in imported.stderr) is (expected is RUSSIAN), imported.stderr


def test_an_unknown_language_is_refused(tmp_path: Path) -> None:
    refused = run(tmp_path / "x.db", "--lang", "de", "migrate", check=False)
    assert refused.returncode == 2 and "--lang" in refused.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_folder_with_its_own_resources_package_changes_nothing(tmp_path: Path) -> None:
    """``python -m`` puts the current folder first on sys.path: presets and translations are
    found beside the project's packages, not as whatever ``resources`` the folder has."""
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "__init__.py").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("LOYALTY_LANG", "PROCESSING_DB")}
    cli = [sys.executable, "-m", "processing.cli", "--db", str(tmp_path / "p.db")]
    done = subprocess.run(
        [*cli, "program", "set", "nbclub"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "NBclub" in done.stdout and "включена" in done.stdout  # the Russian catalogue was found
