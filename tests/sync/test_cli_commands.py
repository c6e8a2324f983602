"""The ``cashier`` command as a new user runs it from the README: real processes (the ``cashier``
entry point, ``ui.app``) against a real processing service on loopback.

Spending above the program's threshold (NBclub: 500 points) with ``--sms-code`` (the code read
from stdin, or given on a second run) or ``--wallet-qr``; ``--lang`` before and after every command
and ``$LOYALTY_LANG``; ``doctor`` with the key in the file store but the file store not selected;
and a data folder never enrolled, which no command may create anything in.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from cashier.identifiers import sign_wallet_token
from processing.admin import create_enrolment_code
from processing.db import transaction
from processing.models import Otp
from tests.processing.conftest import NOW, Service, add_customer

PHONE = "+79001234567"
SELL = [
    "sell",
    "--customer",
    "+7 900 123-45-67",
    "--line",
    "phones:1500.00",
    "--pay",
    "sbp",
    "--redeem",
    "max",
]


def _env(**extra: str | None) -> dict[str, str]:
    env = {**os.environ, "LOYALTY_KEYRING": "file", "LOYALTY_LANG": "ru"}
    env.pop("LOYALTY_TILL_DATA", None)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def cashier(
    data: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ui.app", "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env or _env(),
        stdin=stdin,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def enrolled(service: Service, tmp_path: Path) -> Path:
    """A till enrolled with its key in the file store; customers c_1 (+79001234567, 1 000 points)
    and c_2."""
    add_customer(service.factory, "c_1", PHONE, points=1000)
    add_customer(service.factory, "c_2", "+79001112233", points=10, first_name="Пётр")
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    data = tmp_path / "till"
    cashier(data, "enroll", code, "--server", service.base_url)
    return data


def _balance(service: Service, customer: str = "c_1") -> Decimal:
    with service.client() as client:
        return Decimal(client.get(f"/customers/{customer}/balance").json()["available"])


def _code(service: Service, count: int = 1) -> str:
    """The code in the ``count``-th SMS to the customer (the service's log gateway keeps them)."""
    deadline = time.monotonic() + 30
    while len(service.sms.messages_to(PHONE)) < count:
        assert time.monotonic() < deadline, "no SMS was sent"
        time.sleep(0.05)
    found = re.search(r"\b(\d{4,6})\b", service.sms.messages_to(PHONE)[count - 1])
    assert found is not None
    return found.group(1)


def _queue_is_empty(data: Path) -> None:
    assert cashier(data, "queue").stdout.strip().splitlines() == ["записей: 0"]


# -- 1. spending above the threshold --------------------------------------------------------------


def _settled(data: Path, out: str) -> None:
    """The sale was done: sent at once, or (a loaded machine past the 1.5 s in-sale budget)
    queued — then one ``sync --once`` sends it, as the till's loop would."""
    last = out.strip().splitlines()[-1]
    assert last.endswith(("отправлена", "в очереди")), out
    if last.endswith("в очереди"):
        synced = cashier(data, "sync", "--once")
        assert "осталось 0" in synced.stdout, synced.stdout


def test_sell_above_the_threshold_reads_the_sms_code_from_stdin(
    service: Service, enrolled: Path
) -> None:
    refused = cashier(enrolled, *SELL, check=False)
    assert refused.returncode == 2
    assert "--sms-code" in refused.stderr and "--wallet-qr" in refused.stderr
    assert service.sms.messages_to(PHONE) == []  # nothing sent without the option
    _queue_is_empty(enrolled)

    sale = subprocess.Popen(
        [sys.executable, "-m", "ui.app", "--data", str(enrolled), *SELL, "--sms-code"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        out, err = sale.communicate(_code(service) + "\n", timeout=120)
    finally:
        if sale.poll() is None:
            sale.kill()
    assert sale.returncode == 0, err + out
    assert "SMS-код отправлен на" in err and "Введите код" not in err  # no prompt on a pipe
    _settled(enrolled, out)
    assert _balance(service) == 250  # 1 000 − 750 (at most half of 1 500.00)


def test_sms_code_given_on_a_second_run_wrong_then_right(service: Service, enrolled: Path) -> None:
    sent = cashier(enrolled, *SELL, "--sms-code", check=False)  # stdin empty: send, then stop
    assert sent.returncode == 2 and "--sms-code КОД" in sent.stderr
    code = _code(service)
    wrong = "0000" if code != "0000" else "1111"
    refused = cashier(enrolled, *SELL, "--sms-code", wrong, check=False)
    assert refused.returncode == 2 and "SMS-код неверный" in refused.stderr
    assert "ничего не продано" in refused.stderr
    _queue_is_empty(enrolled)
    assert _balance(service) == 1000
    sold = cashier(enrolled, *SELL, "--sms-code", code)
    _settled(enrolled, sold.stdout)
    assert len(service.sms.messages_to(PHONE)) == 1  # the second run checked the first code
    assert _balance(service) == 250  # 1 000 − 750 (at most half of 1 500.00)


def test_an_expired_sms_code_sells_nothing(service: Service, enrolled: Path) -> None:
    cashier(enrolled, *SELL, "--sms-code", check=False)
    code = _code(service)
    with transaction(service.factory) as session:
        session.execute(update(Otp).values(expires_at=NOW - timedelta(seconds=1)))
    expired = cashier(enrolled, "--lang", "en", *SELL, "--sms-code", code, check=False)
    assert expired.returncode == 2
    assert "The SMS code has expired: nothing was sold" in expired.stderr
    assert "bare --sms-code" in expired.stderr
    _queue_is_empty(enrolled)
    assert _balance(service) == 1000


def test_the_wallet_qr_proves_presence(service: Service, enrolled: Path) -> None:
    private = service.wallet_private()
    until = max(NOW, datetime.now(UTC)) + timedelta(days=30)
    mine, theirs = (sign_wallet_token(private, c, until) for c in ("c_1", "c_2"))
    other = cashier(enrolled, *SELL, "--wallet-qr", theirs, check=False)
    assert other.returncode == 2 and "принадлежит не покупателю" in other.stderr
    junk = cashier(enrolled, *SELL, "--wallet-qr", "hello", check=False)
    assert junk.returncode == 2 and "LW1." in junk.stderr
    _queue_is_empty(enrolled)
    sold = cashier(enrolled, *SELL, "--wallet-qr", mine)
    _settled(enrolled, sold.stdout)
    assert service.sms.messages_to(PHONE) == []
    assert _balance(service) == 250  # 1 000 − 750 (at most half of 1 500.00)


# -- 2 and 5. one language per setting, for every command -----------------------------------------
@pytest.mark.parametrize("where", ["before", "after"])
def test_lang_goes_before_or_after_the_command(enrolled: Path, where: str) -> None:
    for command in (["status"], ["queue"], ["sync", "--once"], ["doctor"]):
        args = ["--lang", "en", *command] if where == "before" else [*command, "--lang", "en"]
        english = cashier(enrolled, *args, check=command != ["doctor"])
        assert not re.search("[а-яА-ЯёЁ]", english.stdout + english.stderr), english.stdout
    status = cashier(enrolled, "status", "--lang", "en").stdout
    assert status.startswith("online;") and "last synced" in status
    sold = cashier(enrolled, "sell", "--line", "phones:100.00", "--lang=en").stdout
    assert not re.search("[а-яА-ЯёЁ]", sold) and sold.strip().endswith("sent online")


def test_the_default_is_russian_and_loyalty_lang_is_honoured(enrolled: Path) -> None:
    russian = cashier(enrolled, "status").stdout
    assert russian.startswith("на связи;") and "online" not in russian
    english = cashier(enrolled, "status", env=_env(LOYALTY_LANG="en")).stdout
    assert english.startswith("online;")
    bad = cashier(enrolled, "status", "--lang", "de", check=False)
    assert bad.returncode == 2 and "недопустимое значение: 'de'" in bad.stderr
    help_en = cashier(enrolled, "--lang", "en", "sell", "--help").stdout
    assert "--sms-code [CODE]" in help_en and "options" in help_en
    assert not re.search("[а-яА-ЯёЁ]", help_en)
    help_ru = cashier(enrolled, "sell", "--help").stdout
    assert "параметры" in help_ru and "SMS-кодом" in help_ru


# -- 3. the key in the file store, the file store not selected --------------------------------------
def test_doctor_finds_the_key_in_the_file_store(enrolled: Path) -> None:
    no_keyring = _env(LOYALTY_KEYRING=None, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    doctor = cashier(enrolled, "doctor", "--lang", "en", env=no_keyring, check=False)
    out = doctor.stdout
    assert doctor.returncode == 1
    assert f"till key present in the file store ({enrolled / 'token'})" in out
    assert "export LOYALTY_KEYRING=file" in out
    assert "run `cashier enroll" not in out  # the key is there: enrolling again is not the fix
    assert "see the message above" not in out
    keyring_line = out.splitlines()[1]
    assert "→" in keyring_line and "LOYALTY_KEYRING=file" in keyring_line
    status = cashier(enrolled, "status", "--lang", "en", env=no_keyring, check=False)
    assert status.returncode == 2 and "export LOYALTY_KEYRING=file" in status.stderr
    selected = cashier(enrolled, "doctor", "--lang", "en", check=False).stdout
    assert any(
        line.startswith("ok") and "till key present (in the file store" in line
        for line in selected.splitlines()
    )


# -- 4. a data folder never enrolled ------------------------------------------------------------
def test_commands_in_a_folder_never_enrolled_create_nothing(tmp_path: Path) -> None:
    data = tmp_path / "never"
    for command in (
        ["status"],
        ["status", "--json"],
        ["sync", "--once"],
        ["queue"],
        ["queue", "--review"],
        ["sell", "--line", "phones:100.00"],
    ):
        result = cashier(data, *command, check=False)
        assert result.returncode == 2, command
        assert "cashier enroll КОД --server URL" in result.stderr, command
        assert not data.exists(), command
    english = cashier(data, "--lang", "en", "status", check=False)
    assert "not enrolled" in english.stderr and "cashier enroll CODE --server URL" in english.stderr
    doctor = cashier(data, "doctor", check=False)
    assert doctor.returncode == 1 and "касса не подключена" in doctor.stdout
    assert "cashier enroll" in doctor.stdout
    assert not data.exists()
    data.mkdir()
    cashier(data, "status", check=False)
    cashier(data, "doctor", check=False)
    assert list(data.iterdir()) == []
