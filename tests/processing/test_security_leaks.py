"""Issue 12's audit findings on what the service leaks or lets in, each reproduced: SMS codes and
the SMS gateway's credentials in logs and in answers to the till, a world-readable SMS log file, a
service that starts without an SMS gateway, and a chunked body read whole past the 2 MB limit."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from processing import cli
from processing.admin import add_store, create_enrolment_code
from processing.app import MAX_BODY
from processing.db import make_engine, session_factory, transaction
from processing.sms import HttpGateway, LogGateway, SmsError, gateway_from_config
from processing.state import set_program
from tests.processing.conftest import NOW, Service, _free_port, serve

PHONE = "+79001234567"
OTHER_PHONE = "+79001234568"
USER, PASSWORD, KEY = "nbclub", "pa55-w0rd-secret", "KEY-0123456789abcdef"
SECRETS = (PASSWORD, KEY)
"""What must never reach a log line or an answer to a till."""


@pytest.fixture
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only: what is checked here is the same on PostgreSQL."""
    target = tmp_path / "processing.db"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
    return f"sqlite:///{target}"


# -- a fake SMS gateway -----------------------------------------------------------------------------
@dataclass
class Gateway:
    """An HTTP SMS gateway on loopback: answers ``status`` with ``answer`` after ``delay_s``."""

    status: int = 200
    answer: bytes = b"queued"
    delay_s: float = 0.0
    seen: list[str] = field(default_factory=list)
    port: int = 0

    def template(self, method: str = "GET") -> str:
        base = f"http://{USER}:{PASSWORD}@127.0.0.1:{self.port}/send?key={KEY}"
        return base + "&to={phone}&msg={text}"

    def codes(self) -> list[str]:
        found = []
        for path in self.seen:
            text = parse_qs(urlsplit(path).query).get("msg", [""])[0]
            match = re.search(r"\b(\d{4,8})\b", text)
            if match:
                found.append(match[1])
        return found


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append(self.path)
            time.sleep(state.delay_s)
            try:
                self.send_response(state.status)
                self.send_header("Content-Length", str(len(state.answer)))
                self.end_headers()
                self.wfile.write(state.answer)
            except OSError:
                pass  # the caller gave up (the time-out tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _prepare(url: str, now: datetime = NOW) -> str:
    """NBclub and one store in the database at ``url``; an enrolment code for a till."""
    engine = make_engine(url)
    try:
        text = (
            resources.files("resources")
            .joinpath("programs", "nbclub.toml")
            .read_text(encoding="utf-8")
        )
        with transaction(session_factory(engine)) as session:
            set_program(session, text, "nbclub.toml", now=NOW)
            add_store(session, "iport-msk-1", "iport", "iPort, Москва")
            code, _ = create_enrolment_code(session, "iport-msk-1", now - timedelta(hours=1))
    finally:
        engine.dispose()
    return code


@contextmanager
def _served(url: str, sms: Any) -> Iterator[httpx.Client]:
    """The service on loopback with the SMS gateway ``sms``; a client of an enrolled till."""
    with serve(url, sms=sms) as service, service.client() as client:
        yield client


def _send_code(client: httpx.Client, phone: str = PHONE) -> httpx.Response:
    return client.post(
        "/otp/send",
        json={"phone": phone, "purpose": "register"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


def _assert_clean(text: str, gateway: Gateway, where: str) -> None:
    """No secret, no code the gateway was asked to send, no whole phone number in ``text``."""
    for secret in (*SECRETS, f"{USER}:", *gateway.codes(), PHONE[2:], OTHER_PHONE[2:]):
        assert secret not in text, f"{secret!r} leaked into {where}:\n{text[-3000:]}"


# -- 1. SMS codes and the gateway's credentials -----------------------------------------------------
def test_a_gateway_that_times_out_leaks_no_credentials_to_the_till_or_the_log(
    migrated_url: str, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.delay_s = 3.0
    sms = HttpGateway(gateway.template(), total_timeout=0.5)
    with _served(migrated_url, sms) as client:
        reply = _send_code(client)
    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert (error["code"], error["retryable"]) == ("unavailable", True)
    assert "did not answer" in error["message"]
    assert len(gateway.seen) == 1  # the SMS went out (with the code) and no answer came
    _assert_clean(reply.text, gateway, "the answer to the till")
    _assert_clean(caplog.text, gateway, "the log")
    assert f"127.0.0.1:{gateway.port}" in caplog.text  # the log names the gateway's host


def test_a_gateway_refusal_echoing_secrets_reaches_neither_the_till_nor_the_log(
    migrated_url: str, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.status = 401
    gateway.answer = f"bad key {KEY} for {USER}:{PASSWORD}, to {PHONE}".encode()
    with _served(migrated_url, HttpGateway(gateway.template())) as client:
        reply = _send_code(client)
    assert reply.status_code == 503, reply.text
    assert "HTTP 401" in reply.json()["error"]["message"]
    _assert_clean(reply.text, gateway, "the answer to the till")
    _assert_clean(caplog.text, gateway, "the log")


def test_a_sent_sms_logs_no_code_and_no_gateway_url(
    migrated_url: str, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with _served(migrated_url, HttpGateway(gateway.template())) as client:
        assert _send_code(client).status_code == 200
    assert len(gateway.codes()) == 1
    _assert_clean(caplog.text, gateway, "the log")


@pytest.mark.parametrize(
    "value",
    [
        f"http:http://{USER}:{PASSWORD}@sms.example/send?key={KEY}&to={{phone}}",
        f"http:http://sms.example/send?to={{phone}}&msg={{text}}&key={KEY}&pass={PASSWORD}&x={{code}}",
        f"http:ftp://{USER}:{PASSWORD}@sms.example/send?key={KEY}&to={{phone}}&msg={{text}}",
        f"http:https://{USER}:{PASSWORD}@sms.example/?to={{phone&m={{text}}&key={KEY}",
        f"http-post:https://{USER}:{PASSWORD}@sms.example/send?key={KEY}&c={{code}}",
    ],
)
def test_a_bad_gateway_setting_names_no_credentials(value: str) -> None:
    with pytest.raises(ValueError, match="is not valid") as caught:
        gateway_from_config(value)
    message = str(caught.value)
    for secret in SECRETS:
        assert secret not in message
    assert "sms.example" in message  # still says which gateway


def test_sms_errors_carry_no_credentials() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    template = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/send?key={KEY}&to={{phone}}&msg={{text}}"
    sms = HttpGateway(template)
    assert sms.host == f"127.0.0.1:{port}"
    with pytest.raises(SmsError, match="cannot be reached") as caught:
        sms.send(PHONE, "Code 4821")
    for secret in (*SECRETS, USER, "4821", PHONE):
        assert secret not in str(caught.value)


def test_the_sms_log_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sms.log"
    before = os.umask(0)  # whatever the umask, the file holds codes: 0600
    try:
        gateway = gateway_from_config(f"log:{path}")
        assert isinstance(gateway, LogGateway)
        gateway.send(PHONE, "Code 4821")
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8").endswith(f"\t{PHONE}\tCode 4821\n")


@pytest.fixture
def served_with(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """``processing.serving.serve`` replaced: what it would have served with, per call."""
    from cashier import i18n

    calls: list[dict[str, Any]] = []

    def fake_serve(url: str, host: str, port: int, workers: int = 1, **kwargs: Any) -> None:
        calls.append({"url": url, "workers": workers, **kwargs})

    monkeypatch.setattr("processing.serving.serve", fake_serve)
    monkeypatch.setenv("LOYALTY_LANG", "en")
    monkeypatch.setenv("PROCESSING_SMS", "")
    monkeypatch.delenv("PROCESSING_SMS")
    before = i18n.get_language()
    yield calls
    i18n.set_language(before)


def test_serve_refuses_to_start_without_an_sms_gateway(
    migrated_url: str, served_with: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--lang", "en", "--db", migrated_url, "serve"]) == 2
    assert served_with == []
    error = capsys.readouterr().err
    assert "PROCESSING_SMS" in error and "--sms" in error
    assert "log:" in error and "http:" in error


def test_serve_takes_an_explicit_sms_gateway(
    migrated_url: str,
    served_with: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    gateway: Gateway,
) -> None:
    monkeypatch.setenv("PROCESSING_SMS", "log")
    assert cli.main(["--lang", "en", "--db", migrated_url, "serve"]) == 0
    monkeypatch.setenv("PROCESSING_SMS", "http:" + gateway.template())
    assert cli.main(["--lang", "en", "--db", migrated_url, "serve"]) == 0
    monkeypatch.delenv("PROCESSING_SMS")
    log = tmp_path / "sms.log"
    assert cli.main(["--db", migrated_url, "serve", "--sms", f"log:{log}", "--lang", "en"]) == 0
    first, second, third = served_with
    assert isinstance(first["sms"], LogGateway) and first["sms"].path is None
    assert isinstance(second["sms"], HttpGateway)
    assert isinstance(third["sms"], LogGateway) and third["sms"].path == log
    # several workers build their gateway from the environment: --sms is passed on there
    assert cli.main(["--db", migrated_url, "serve", "--workers", "2", "--sms", f"log:{log}"]) == 0
    assert served_with[-1]["workers"] == 2
    assert os.environ["PROCESSING_SMS"] == f"log:{log}"


def test_a_bad_sms_setting_stops_serve_and_names_no_credentials(
    migrated_url: str, served_with: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = f"http:http://{USER}:{PASSWORD}@sms.example/send?key={KEY}&to={{phone}}"
    assert cli.main(["--lang", "en", "--db", migrated_url, "serve", "--sms", bad]) == 2
    assert served_with == []
    error = capsys.readouterr().err
    assert "needs both {phone} and {text}" in error
    for secret in SECRETS:
        assert secret not in error


def test_the_demo_serves_with_the_log_gateway(
    tmp_path: Path, served_with: list[dict[str, Any]]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert cli.main(["--lang", "en", "demo", "--db", url, "--customers", "4"]) == 0
    (call,) = served_with
    assert isinstance(call["sms"], LogGateway)


def test_processing_serve_logs_no_code_and_no_gateway_secret(
    tmp_path: Path, migrated_url: str, gateway: Gateway
) -> None:
    """``processing serve`` logs at INFO: httpx logged each SMS's URL (key, phone and code)."""
    code = _prepare(migrated_url, datetime.now(UTC))
    port = _free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOYALTY_LANG": "en"}
    env["PROCESSING_SMS"] = "http:" + gateway.template()
    command = [sys.executable, "-m", "processing.cli", "--db", migrated_url, "serve"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "serve did not answer in 30 s"
            time.sleep(0.1)
        enrolled = httpx.post(f"{base}/devices/enroll", json={"code": code}, timeout=10)
        assert enrolled.status_code == 201, enrolled.text
        headers = {"Authorization": f"Bearer {enrolled.json()['token']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=20) as client:
            assert _send_code(client).status_code == 200
            gateway.status, gateway.answer = 500, f"no such key {KEY}".encode()
            failed = _send_code(client, OTHER_PHONE)
        assert failed.status_code == 503
        _assert_clean(failed.text, gateway, "the answer to the till")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert len(gateway.codes()) == 2
    text = log_path.read_text(encoding="utf-8", errors="replace")
    _assert_clean(text, gateway, "the service's log")


# -- 2. the body limit ----------------------------------------------------------------------------
def _chunks(total: int, counter: list[int], size: int = 64 * 1024) -> Iterator[bytes]:
    chunk = b" " * size
    while counter[0] < total:
        counter[0] += size
        yield chunk


@pytest.mark.parametrize("with_token", [False, True])
def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(
    service: Service, with_token: bool
) -> None:
    sent = [0]
    headers = {"Content-Type": "application/json"}
    if with_token:
        headers["Authorization"] = f"Bearer {service.token}"
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        reply = client.post(
            f"{service.base_url}/api/v1/sync/transactions",
            content=_chunks(200 * 1024 * 1024, sent),
            headers=headers,
        )
    assert "content-length" not in {k.lower() for k in headers}
    assert reply.status_code == 413, reply.text[:500]
    error = reply.json()["error"]
    assert error["code"] == "validation_error"
    assert "2 MB" in error["message"]
    assert reply.headers.get("X-Request-Id")
    assert sent[0] < 40 * 1024 * 1024, f"the client sent {sent[0] >> 20} MB before the 413"
    assert time.monotonic() - started < 20


def test_a_chunked_body_under_the_limit_still_works(service: Service) -> None:
    body = (
        b'{"items": [{"seq": 1, "idempotency_key": "k-0000001", "kind": "cancel", '
        b'"occurred_at": "2026-11-23T12:00:00+00:00", "body": {"purchase_id": "p_1"}}]'
        + b" " * (MAX_BODY - 400)
        + b"}"
    )
    assert len(body) <= MAX_BODY

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 50_000):
            yield body[start : start + 50_000]

    with service.client() as client:
        reply = client.post(
            "/sync/transactions", content=pieces(), headers={"Content-Type": "application/json"}
        )
    assert reply.status_code == 200, reply.text[:500]
    assert reply.json()["results"][0]["seq"] == 1


def test_a_declared_length_over_the_limit_is_refused_unread(service: Service) -> None:
    with service.client() as client:
        reply = client.post(
            "/sync/transactions",
            content=b" " * (MAX_BODY + 1),
            headers={"Content-Type": "application/json"},
        )
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "validation_error"
