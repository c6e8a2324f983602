"""The ``cashier`` command line as an installer uses it, as real processes against a real service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from processing.admin import create_enrolment_code
from processing.db import transaction
from sync.credentials import load_token, save_token
from tests.faults.proxy import FaultProxy
from tests.processing.conftest import NOW, Service


def cashier(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOYALTY_KEYRING": "file", "LOYALTY_LANG": "ru"}
    result = subprocess.run(
        [sys.executable, "-m", "sync.cli", "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_enroll_sell_online_and_offline_then_sync(
    till: Service, proxy: FaultProxy, tmp_path: Path
) -> None:
    data = tmp_path / "till"
    with transaction(till.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    enrolled = cashier(data, "enroll", code, "--server", proxy.url)
    assert "iPort" in enrolled.stdout and "покупатели: 1" in enrolled.stdout
    assert (data / "token").stat().st_mode & 0o077 == 0  # the fallback file is private

    online = cashier(
        data, "sell", "--customer", "+7 900 123-45-67", "--line", "phones:1000.00", "--pay", "card"
    )
    assert "Иван П." in online.stdout and online.stdout.strip().endswith("отправлена")
    proxy.down()
    offline = cashier(
        data,
        "sell",
        "--customer",
        "89001234567",
        "--line",
        "phones:1000.00",
        "--redeem",
        "100",
        "--pay",
        "cash",
    )
    assert "(нет связи)" in offline.stdout and offline.stdout.strip().endswith("в очереди")
    status = json.loads(cashier(data, "status", "--json").stdout)
    assert (status["online"], status["queue"]) == (False, 1)
    waiting = cashier(data, "queue").stdout.splitlines()
    assert waiting[0].split()[:2] == ["2", "purchase"] and waiting[-1] == "записей: 1"
    refused = cashier(data, "sync", "--once", check=False)
    assert refused.returncode == 2 and "недоступен" in refused.stderr
    proxy.up()
    synced = cashier(data, "sync", "--once")
    assert "принято 1" in synced.stdout
    status = json.loads(cashier(data, "status", "--json").stdout)
    assert (status["online"], status["queue"], status["review"]) == (True, 0, 0)


def test_bad_input_says_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "till"
    not_enrolled = cashier(data, "sync", "--once", check=False)
    assert not_enrolled.returncode == 2 and "cashier enroll" in not_enrolled.stderr
    nowhere = cashier(
        data, "enroll", "AAAA-BBBB-CCCC", "--server", "http://127.0.0.1:9", check=False
    )
    assert nowhere.returncode == 2 and "не ответил" in nowhere.stderr
    doctor = cashier(data, "doctor", check=False)
    assert (
        doctor.returncode == 1 and "ОШИБКА" in doctor.stdout and "cashier enroll" in doctor.stdout
    )


class MemoryKeyring(KeyringBackend):
    """The test backend: a dict instead of the OS keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


def test_the_key_goes_to_the_keyring_per_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOYALTY_KEYRING", raising=False)
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        save_token(tmp_path / "a", "secret-a")
        save_token(tmp_path / "b", "secret-b")
        assert load_token(tmp_path / "a") == "secret-a" and load_token(tmp_path / "b") == "secret-b"
        assert not (tmp_path / "a" / "token").exists()
        assert len(backend.store) == 2
    finally:
        keyring.set_keyring(previous)
