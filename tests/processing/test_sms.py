"""SMS gateways: the demo log, and the HTTP provider against a real HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from processing.sms import HttpGateway, LogGateway, SmsError, gateway_from_config

PHONE = "+79001234567"
TEXT = "Код для NBclub: 4821. Никому его не сообщайте. 100% & more"


@dataclass
class Seen:
    method: str
    path: str
    body: bytes
    content_type: str | None


@dataclass
class Behaviour:
    status: int = 200
    delay_s: float = 0.0
    drip_s: float = 0.0
    answer: bytes = b'{"status":"queued"}'
    seen: list[Seen] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._record(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._record(self.rfile.read(length))

    def _record(self, body: bytes) -> None:
        how = self.server.behaviour
        how.seen.append(Seen(self.command, self.path, body, self.headers.get("Content-Type")))
        time.sleep(how.delay_s)
        self.send_response(how.status)
        if how.drip_s:
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(how.drip_s)
            return
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(how.answer)))
        self.end_headers()
        self.wfile.write(how.answer)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Behaviour

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (timeout tests) breaks the pipe: expected


@pytest.fixture
def gateway_server() -> Iterator[tuple[str, Behaviour]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.behaviour = Behaviour()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.behaviour
    finally:
        server.shutdown()
        server.server_close()


def test_http_get_fills_in_the_url_encoded_phone_and_text(
    gateway_server: tuple[str, Behaviour],
) -> None:
    base, how = gateway_server
    HttpGateway(f"{base}/send?to={{phone}}&msg={{text}}&sender=NB").send(PHONE, TEXT)
    assert len(how.seen) == 1
    seen = how.seen[0]
    assert seen.method == "GET"
    query = parse_qs(urlsplit(seen.path).query)
    assert query == {"to": [PHONE], "msg": [TEXT], "sender": ["NB"]}
    assert "%2B7900" in seen.path  # "+" encoded, not read back as a space


def test_http_post_sends_the_phone_and_text_as_a_form_too(
    gateway_server: tuple[str, Behaviour],
) -> None:
    base, how = gateway_server
    HttpGateway(f"{base}/sms/{{phone}}", "POST").send(PHONE, TEXT)
    seen = how.seen[0]
    assert seen.method == "POST"
    assert urlsplit(seen.path).path == "/sms/%2B79001234567"
    assert seen.content_type == "application/x-www-form-urlencoded"
    assert parse_qs(seen.body.decode()) == {"phone": [PHONE], "text": [TEXT]}


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503, 302])
def test_a_non_2xx_answer_is_an_sms_error(
    gateway_server: tuple[str, Behaviour], status: int
) -> None:
    base, how = gateway_server
    how.status, how.answer = status, b"balance too low"
    with pytest.raises(SmsError) as caught:
        HttpGateway(f"{base}/send?to={{phone}}&msg={{text}}").send(PHONE, TEXT)
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert "127.0.0.1" in message
    assert "4821" not in message  # the code never lands in an error message or a log


def test_2xx_answers_other_than_200_are_success(gateway_server: tuple[str, Behaviour]) -> None:
    base, how = gateway_server
    how.status = 202
    HttpGateway(f"{base}/send?to={{phone}}&msg={{text}}").send(PHONE, TEXT)


def test_a_slow_gateway_times_out_within_the_total(gateway_server: tuple[str, Behaviour]) -> None:
    base, how = gateway_server
    how.delay_s = 3.0
    gateway = HttpGateway(f"{base}/send?to={{phone}}&msg={{text}}", total_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SmsError, match=r"did not answer within 0\.5 s"):
        gateway.send(PHONE, TEXT)
    assert time.monotonic() - started < 1.5


def test_a_dripping_answer_cannot_hold_the_caller_past_the_total(
    gateway_server: tuple[str, Behaviour],
) -> None:
    base, how = gateway_server
    how.drip_s = 0.1  # 100 bytes over 10 s: each read is quick, the whole is not
    gateway = HttpGateway(f"{base}/send?to={{phone}}&msg={{text}}", total_timeout=0.6)
    started = time.monotonic()
    with pytest.raises(SmsError, match="did not answer"):
        gateway.send(PHONE, TEXT)
    assert time.monotonic() - started < 1.5


def test_default_timeouts_are_3_s_to_connect_and_10_s_in_all() -> None:
    gateway = HttpGateway("https://sms.example/send?to={phone}&msg={text}")
    assert (gateway.connect_timeout, gateway.total_timeout) == (3.0, 10.0)


def test_a_gateway_nobody_listens_on_is_an_sms_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = HttpGateway(f"http://127.0.0.1:{port}/send?to={{phone}}&msg={{text}}")
    with pytest.raises(SmsError, match="cannot be reached"):
        gateway.send(PHONE, TEXT)


def test_log_gateway_keeps_the_messages_and_appends_a_line_each(tmp_path: Path) -> None:
    path = tmp_path / "sms.log"
    gateway = LogGateway(path)
    gateway.send(PHONE, "first\nline")
    gateway.send("+79007654321", "second")
    assert gateway.sent == [(PHONE, "first\nline"), ("+79007654321", "second")]
    assert gateway.messages_to(PHONE) == ["first\nline"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"\t{PHONE}\tfirst line")


def test_log_gateway_is_thread_safe(tmp_path: Path) -> None:
    gateway = LogGateway(tmp_path / "sms.log")

    def burst(n: int) -> None:
        for i in range(50):
            gateway.send(f"+7900{n:03d}{i:04d}", f"{n}-{i}")

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(gateway.sent) == 400
    assert len(set(gateway.sent)) == 400
    assert len((tmp_path / "sms.log").read_text(encoding="utf-8").splitlines()) == 400


def test_log_gateway_that_cannot_write_raises_sms_error(tmp_path: Path) -> None:
    gateway = LogGateway(tmp_path / "missing-folder" / "sms.log")
    with pytest.raises(SmsError, match="cannot be written"):
        gateway.send(PHONE, "x")
    assert gateway.sent == []


def test_gateway_from_config_accepts_the_documented_forms(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROCESSING_SMS", raising=False)
    assert isinstance(gateway_from_config(None), LogGateway)
    assert isinstance(gateway_from_config("log"), LogGateway)
    logged = gateway_from_config(f"log:{tmp_path / 'sms.log'}")
    assert isinstance(logged, LogGateway) and logged.path == tmp_path / "sms.log"
    http = gateway_from_config("http:https://sms.example/send?to={phone}&msg={text}")
    assert isinstance(http, HttpGateway)
    assert (http.method, http.template) == ("GET", "https://sms.example/send?to={phone}&msg={text}")
    post = gateway_from_config("http-post:https://sms.example/send")
    assert isinstance(post, HttpGateway) and post.method == "POST"
    monkeypatch.setenv("PROCESSING_SMS", "http:http://10.0.0.5:8080/s?p={phone}&t={text}")
    from_env = gateway_from_config(None)
    assert isinstance(from_env, HttpGateway) and from_env.host == "10.0.0.5:8080"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("smtp:me@example.com", "'smtp' is not a known gateway"),
        ("carrier-pigeon", "is not a known gateway"),
        ("log:", "log file path"),
        ("http:", "URL after 'http:' is empty"),
        ("http:ftp://sms.example/{phone}/{text}", "not an http:// or https:// URL"),
        ("http:https://sms.example/send?to={phone}", "needs both {phone} and {text}"),
        ("http:https://sms.example/?to={phone}&m={text}&c={code}", "unknown placeholders {code}"),
        ("http:https://sms.example/?to={phone&m={text}", "stray brace"),
    ],
)
def test_a_bad_config_value_says_what_is_wrong_and_shows_the_forms(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match="is not valid") as caught:
        gateway_from_config(value)
    message = str(caught.value)
    assert reason in message
    for form in ("log:/path/to/sms.log", "http:https://", "http-post:https://"):
        assert form in message


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCESSING_SMS", "nope")
    with pytest.raises(ValueError, match="PROCESSING_SMS 'nope' is not valid"):
        gateway_from_config(None)
