"""A fault-injecting HTTP/1.1 proxy for reliability tests (docs/offline.md, "Reliability tests").

It sits between a till's HTTP client and a real processing service on loopback, and acts per
request according to a plan::

    with FaultProxy(upstream=("127.0.0.1", port)) as proxy:
        proxy.plan(Fault.LOSE_REPLY, match="/purchases", method="POST")
        client = httpx.Client(base_url=proxy.url + "/api/v1")
        ...
        proxy.down()  # a partition: new connections are refused, open ones are reset
        proxy.up()

Stdlib only (``socket``, ``threading``, ``selectors``).  It understands just enough HTTP/1.1:
each client request is read whole (head, then a ``Content-Length`` or chunked body), sent to the
upstream over a fresh connection with ``Connection: close``, and the upstream answer is read to
EOF before the proxy acts on it.  Client connections are kept alive (several requests each), so
it behaves like the reverse proxy in front of the service would, not like a socket relay: a
client never sees half of an answer unless a fault says so.

Faults (see ``Fault``) match by path substring and/or method, each rule ``times`` times (or
forever), the first matching rule in plan order wins.  Every request is logged in ``requests``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import selectors
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BufferedReader
from types import TracebackType
from typing import Literal, Self

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "upgrade", "trailer"}
_REASONS = {
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_Action = Literal["up", "down", "stop"]
_CODES = {429: "rate_limited", 500: "internal"}
"""Error codes of the canned envelope; other 5xx are ``unavailable`` (docs/protocol.md §2)."""


class Fault(enum.Enum):
    """What the proxy does to a matching request."""

    LOSE_REPLY = "lose_reply"
    """Forward, read the whole upstream answer, then reset the client connection (RST) without
    sending it: the server committed, the client saw a connection error (scenario 3)."""
    DELAY_REQUEST = "delay_request"
    """Hold the request ``seconds``, then forward it and send the answer (if the client is still
    there): the client may time out while the server still processes it later (scenario 4)."""
    DELAY_REPLY = "delay_reply"
    """Forward at once, hold the answer ``seconds``: the server commits before the client's
    deadline, the client sees nothing until after it."""
    STATUS = "status"
    """Answer ``status`` with the protocol's error envelope (or ``body``) without forwarding; with
    ``after_upstream=True`` forward first, so the server committed and the client sees the
    error (scenario 5)."""
    RATE_LIMIT = "rate_limit"
    """``STATUS`` 429 ``rate_limited`` with ``Retry-After: retry_after`` (default 1 s)."""
    DRIP = "drip"
    """Forward, then send the whole upstream answer (head and body) one byte every
    ``byte_interval`` seconds (scenario 9)."""
    REFUSE = "refuse"
    """Read the request and reset the connection at once (RST); nothing is forwarded."""
    HANG = "hang"
    """Read the request and never answer (until the client gives up or the proxy stops)."""


@dataclass
class Rule:
    """One planned fault; ``applied`` counts the requests it was applied to."""

    fault: Fault
    match: str | None = None
    method: str | None = None
    times: int | None = 1
    seconds: float = 0.0
    status: int = 503
    retry_after: int | None = None
    after_upstream: bool = False
    body: bytes | None = None
    byte_interval: float = 0.0
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.match is None or self.match in path


@dataclass(frozen=True)
class Exchange:
    """One request as the proxy saw it."""

    method: str
    path: str
    fault: Fault | None
    upstream_status: int | None
    """The upstream's status code; ``None`` when the request was not forwarded (or the upstream
    gave no answer)."""
    connection: int
    """The ordinal of the client connection it came on (1, 2, …): a keep-alive check."""
    answer_bytes: int
    """The size of the answer the client is sent (head and body; 0 when it is sent none).  It is
    logged before the answer is written, so this is what the proxy set out to send."""


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


@dataclass
class _Conn:
    sock: socket.socket
    reader: BufferedReader
    number: int
    dropped: bool = False
    """Set by ``down()``: reset instead of answering, take no further request."""
    busy: bool = False
    """Between reading a request and having answered it."""
    closed: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Control:
    action: _Action
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class _BadRequest(Exception):
    pass


class FaultProxy:
    """A threaded fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of ``upstream``."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        port: int = 0,
        upstream_timeout: float = 30.0,
    ) -> None:
        self.upstream = upstream
        self.upstream_timeout = upstream_timeout
        self._port = port
        self._lock = threading.Lock()
        self._logged = threading.Condition(self._lock)
        self._rules: list[Rule] = []
        self._log: list[Exchange] = []
        self._conns: dict[int, _Conn] = {}
        self._upstreams: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._accepted = 0
        self._stopping = threading.Event()
        self._controls: list[_Control] = []
        self._listener: socket.socket | None = None
        self._parked: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._server: threading.Thread | None = None
        self._flapper: threading.Thread | None = None
        self._flapping = threading.Event()

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("the proxy is already started")
        self._listener = self._bind()
        self._listener.listen(64)
        self._wake_r, self._wake_w = socket.socketpair()
        self._port = int(self._listener.getsockname()[1])
        self._server = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut every open connection (client and upstream) and join threads."""
        if self._server is None or self._stopping.is_set():
            return
        self.steady()
        self._stopping.set()
        self._control("stop")
        self._server.join(5)
        with self._lock:
            conns = list(self._conns.values())
            upstreams = list(self._upstreams)
            threads = list(self._threads)
        for conn in conns:
            _shutdown(conn.sock, socket.SHUT_RDWR)
        for sock in upstreams:
            _shutdown(sock, socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)
        for wake in (self._wake_r, self._wake_w):
            if wake is not None:
                wake.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the base URL to give the client instead of the service's."""
        return f"http://127.0.0.1:{self._port}"

    # -- the plan ------------------------------------------------------------------------

    def plan(
        self,
        fault: Fault,
        *,
        match: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        seconds: float = 0.0,
        status: int | None = None,
        retry_after: int | None = None,
        after_upstream: bool = False,
        body: bytes | None = None,
        byte_interval: float = 0.0,
    ) -> Rule:
        """Add a rule after the others; ``times=None`` applies it forever.

        ``match`` is a substring of the request target (path and query), ``method`` is compared
        case-insensitively; both ``None`` match every request.  ``seconds`` is the hold of the
        ``DELAY_*`` faults, ``status``/``retry_after``/``after_upstream``/``body`` shape a
        ``STATUS`` answer (``body`` replaces the JSON envelope, sent as ``text/html`` like a
        gateway's page), ``byte_interval`` paces ``DRIP``.
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None: forever)")
        if fault in (Fault.DELAY_REQUEST, Fault.DELAY_REPLY) and seconds <= 0:
            raise ValueError(f"{fault.name} needs seconds > 0")
        if fault is Fault.DRIP and byte_interval <= 0:
            raise ValueError("DRIP needs byte_interval > 0")
        if fault is Fault.RATE_LIMIT:
            if status not in (None, 429):
                raise ValueError("RATE_LIMIT is always 429; use STATUS for other codes")
            status, retry_after = 429, 1 if retry_after is None else retry_after
        elif fault is Fault.STATUS and status is None:
            raise ValueError("STATUS needs a status")
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be an error status (400–599)")
        rule = Rule(
            fault=fault,
            match=match,
            method=method,
            times=times,
            seconds=seconds,
            status=status or 503,
            retry_after=retry_after,
            after_upstream=after_upstream,
            body=body,
            byte_interval=byte_interval,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Forget every rule: from now on requests pass through."""
        with self._lock:
            self._rules.clear()

    @property
    def requests(self) -> list[Exchange]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._log)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Exchange]:
        """Wait until at least ``count`` requests are logged (a request is logged once the proxy
        is done with the upstream: after the late forward of ``DELAY_REQUEST``, for instance)."""
        with self._logged:
            if not self._logged.wait_for(lambda: len(self._log) >= count, timeout):
                raise TimeoutError(f"{len(self._log)} of {count} requests logged in {timeout} s")
            return list(self._log)

    @property
    def accepted(self) -> int:
        """Client connections accepted so far."""
        with self._lock:
            return self._accepted

    # -- partitions ----------------------------------------------------------------------

    def down(self, *, drop_open: bool = True) -> None:
        """A partition: new connections are refused (the port stays reserved, not listening);
        with ``drop_open`` open client connections are reset too (an answer on its way is lost;
        a request already forwarded still completes upstream).  Idle connections are reset
        before it returns; one in the middle of a request is reset once the upstream is done."""
        self._control("down")
        if not drop_open:
            return
        with self._lock:
            conns = list(self._conns.values())
            for conn in conns:
                conn.dropped = True
        for conn in conns:
            _shutdown(conn.sock, socket.SHUT_RD)  # wakes a handler waiting for a request
        for conn in conns:
            with self._lock:
                busy = conn.busy
            if not busy and not conn.closed.wait(5):
                raise RuntimeError(f"connection {conn.number} was not reset in 5 s")

    def up(self) -> None:
        """Accept connections again, on the same port."""
        self._control("up")

    def flap(self, up_for: float, down_for: float) -> None:
        """Go down and up in a loop (a flapping link) until ``steady()`` or ``stop()``; it starts
        with ``up_for`` seconds up."""
        self.steady()
        self._flapping.clear()

        def run() -> None:
            while True:
                if self._flapping.wait(up_for):
                    return
                self.down()
                if self._flapping.wait(down_for):
                    return
                self.up()

        self._flapper = threading.Thread(target=run, name="fault-proxy-flap", daemon=True)
        self._flapper.start()

    def steady(self) -> None:
        """Stop flapping and leave the proxy up."""
        if self._flapper is None:
            return
        self._flapping.set()
        self._flapper.join(5)
        self._flapper = None
        self.up()

    # -- the accept loop -----------------------------------------------------------------

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        return sock

    def _control(self, action: _Action) -> None:
        if action != "stop" and self._stopping.is_set():
            raise RuntimeError("the proxy is stopped")
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        control = _Control(action)
        with self._lock:
            self._controls.append(control)
        assert self._wake_w is not None
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if not control.done.wait(5):
            raise RuntimeError(f"the proxy did not {action} in 5 s")
        if control.error is not None:
            raise control.error

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        assert self._wake_r is not None and self._listener is not None
        selector.register(self._wake_r, selectors.EVENT_READ)
        selector.register(self._listener, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        if not self._apply_controls(selector):
                            return
                    elif key.fileobj is self._listener:
                        self._accept()
        finally:
            selector.close()
            for sock in (self._listener, self._parked):
                if sock is not None:
                    sock.close()

    def _apply_controls(self, selector: selectors.BaseSelector) -> bool:
        """Run the pending ``up``/``down``/``stop`` requests; ``False`` after ``stop``."""
        assert self._wake_r is not None
        self._wake_r.recv(1024)
        with self._lock:
            controls, self._controls = self._controls, []
        for control in controls:
            try:
                if control.action == "down" and self._listener is not None:
                    selector.unregister(self._listener)
                    self._listener.close()  # pending, unaccepted connections are reset
                    self._listener = None
                    self._parked = self._bind()  # holds the port; not listening: refused
                elif control.action == "up" and self._listener is None:
                    listener = self._parked or self._bind()
                    self._parked = None
                    listener.listen(64)
                    self._listener = listener
                    selector.register(listener, selectors.EVENT_READ)
            except OSError as exc:
                control.error = exc
            control.done.set()
            if control.action == "stop":
                return False
        return True

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._accepted += 1
            conn = _Conn(sock, sock.makefile("rb"), self._accepted)
            self._conns[conn.number] = conn
            thread = threading.Thread(
                target=self._handle, args=(conn,), name=f"fault-proxy-{conn.number}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    # -- one client connection -----------------------------------------------------------

    def _handle(self, conn: _Conn) -> None:
        reset = False
        try:
            while not self._stopping.is_set() and not conn.dropped:
                try:
                    request = _read_request(conn.reader)
                except _BadRequest as exc:
                    self._send(conn, _canned(400, None, None, None, str(exc), keep_alive=False))
                    return
                with self._lock:
                    if request is None or conn.dropped:
                        break  # a request read as the link went down is lost with it
                    conn.busy = True
                keep, reset = self._exchange(conn, request)
                with self._lock:
                    conn.busy = False
                if not keep:
                    break
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.pop(conn.number, None)
            _close(conn, reset=reset or conn.dropped)
            conn.closed.set()

    def _take(self, request: _Request) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(request.method, request.target):
                    rule.applied += 1
                    return rule
        return None

    def _exchange(self, conn: _Conn, request: _Request) -> tuple[bool, bool]:
        """Answer one request; returns (keep the connection, reset it).  The exchange is logged
        before the client is sent anything, so a client holding an answer finds it in the log."""
        rule = self._take(request)
        fault = rule.fault if rule else None
        keep_alive = request.keep_alive

        def log(upstream_status: int | None, answer: bytes = b"") -> None:
            size = 0 if conn.dropped else len(answer)
            self._record(
                Exchange(request.method, request.target, fault, upstream_status, conn.number, size)
            )

        if rule is None:
            status, answer = self._forward(request, keep_alive)
            log(status, answer)
            return self._send(conn, answer) and keep_alive, False
        if fault is Fault.REFUSE:
            log(None)
            return False, True
        if fault is Fault.HANG:
            log(None)
            _drain_until_closed(conn.reader)
            return False, False
        if fault is Fault.DELAY_REQUEST and self._stopping.wait(rule.seconds):
            log(None)  # stopped while holding it: never forwarded
            return False, True
        if fault in (Fault.STATUS, Fault.RATE_LIMIT):
            status = None
            if rule.after_upstream:
                status, _ = self._forward(request, keep_alive)
            request_id = request.header("x-request-id")
            message = "Injected by the fault proxy."
            answer = _canned(
                rule.status, rule.retry_after, request_id, rule.body, message, keep_alive=keep_alive
            )
            log(status, answer)
            return self._send(conn, answer) and keep_alive, False
        status, answer = self._forward(request, keep_alive)
        if fault is Fault.LOSE_REPLY:
            log(status)
            return False, True
        log(status, answer)
        if fault is Fault.DRIP:
            return self._drip(conn, answer, rule.byte_interval) and keep_alive, False
        if fault is Fault.DELAY_REPLY:
            self._stopping.wait(rule.seconds)
        return self._send(conn, answer) and keep_alive, False  # DELAY_REQUEST, DELAY_REPLY

    def _record(self, exchange: Exchange) -> None:
        with self._logged:
            self._log.append(exchange)
            self._logged.notify_all()

    def _send(self, conn: _Conn, data: bytes) -> bool:
        """Write ``data`` to the client; ``False`` when it is gone or was dropped by ``down()``."""
        if conn.dropped:
            return False
        try:
            conn.sock.sendall(data)
        except OSError:
            return False
        return True

    def _drip(self, conn: _Conn, data: bytes, interval: float) -> bool:
        """Send ``data`` one byte per ``interval`` (each byte after its interval); ``False`` when
        the client went away or the proxy stops."""
        start = time.monotonic()
        for i in range(len(data)):
            due = start + (i + 1) * interval
            while (left := due - time.monotonic()) > 0:
                if self._stopping.wait(left):
                    return False
            if not self._send(conn, data[i : i + 1]):
                return False
        return True

    # -- the upstream --------------------------------------------------------------------

    def _forward(self, request: _Request, keep_alive: bool) -> tuple[int | None, bytes]:
        """Send ``request`` upstream over a fresh connection; its status and the answer framed
        for the client (a 502 envelope when the upstream cannot be reached or answers junk)."""
        head = [f"{request.method} {request.target} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
        head.append("Connection: close")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body
        try:
            sock = socket.create_connection(self.upstream, timeout=self.upstream_timeout)
        except OSError as exc:
            return None, _canned(502, None, None, None, f"upstream: {exc}", keep_alive=keep_alive)
        with self._lock:
            self._upstreams.add(sock)
        try:
            sock.sendall(raw)
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        except OSError as exc:
            return None, _canned(502, None, None, None, f"upstream: {exc}", keep_alive=keep_alive)
        finally:
            with self._lock:
                self._upstreams.discard(sock)
            sock.close()
        try:
            return _reframe(answer, request.method, keep_alive)
        except _BadRequest as exc:
            return None, _canned(502, None, None, None, str(exc), keep_alive=keep_alive)


# -- HTTP bits -------------------------------------------------------------------------------


def _read_request(reader: BufferedReader) -> _Request | None:
    """The next request on a connection; ``None`` at a clean EOF between requests."""
    lines = list(_head_lines(reader))
    if not lines:
        return None
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise _BadRequest(f"bad request line {lines[0]!r}") from None
    if not version.startswith("HTTP/1."):
        raise _BadRequest(f"unsupported version {version!r}")
    if target.startswith(("http://", "https://")):  # absolute form: used as an HTTP proxy
        rest = target.split("://", 1)[1]
        target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    headers = _parse_headers(lines[1:])
    request = _Request(method, target, version, headers, b"")
    if "chunked" in (request.header("transfer-encoding") or "").lower():
        request.body = _read_chunked(reader)
    elif (length := request.header("content-length")) is not None:
        if not length.strip().isdigit() or int(length) > _MAX_BODY:
            raise _BadRequest(f"bad Content-Length {length!r}")
        request.body = _read_exact(reader, int(length))
    return request


def _head_lines(reader: BufferedReader) -> Iterator[str]:
    """The lines of a message head up to the empty line; nothing at EOF before the first byte."""
    size = 0
    first = True
    while True:
        line = reader.readline(_MAX_HEAD + 1)
        if not line:
            if first:
                return
            raise _BadRequest("the connection closed inside a message head")
        size += len(line)
        if size > _MAX_HEAD:
            raise _BadRequest("the message head is too large")
        if first and line in (b"\r\n", b"\n"):
            continue  # tolerated between keep-alive requests (RFC 9112 §2.2)
        first = False
        text = line.rstrip(b"\r\n").decode("latin-1")
        if not text:
            return
        yield text


def _parse_headers(lines: list[str]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(f"bad header line {line!r}")
        headers.append((name, value.strip()))
    return headers


def _read_exact(reader: BufferedReader, n: int) -> bytes:
    data = reader.read(n)
    if len(data) != n:
        raise _BadRequest("the connection closed inside a body")
    return data


def _read_chunked(reader: BufferedReader) -> bytes:
    """A chunked body, as it came (chunk sizes, trailers and all): forwarded as is."""
    parts = []
    total = 0
    while True:
        line = reader.readline(1024)
        parts.append(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(f"bad chunk size {line!r}") from None
        total += size
        if total > _MAX_BODY:
            raise _BadRequest("the body is too large")
        if size == 0:
            break
        parts.append(_read_exact(reader, size + 2))
    while True:  # trailers, up to the empty line
        line = reader.readline(_MAX_HEAD)
        if not line:
            raise _BadRequest("the connection closed inside a body")
        parts.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(parts)


def _reframe(answer: bytes, method: str, keep_alive: bool) -> tuple[int, bytes]:
    """An upstream answer (read to EOF) as the client gets it: our own ``Connection`` header,
    and a ``Content-Length`` when the upstream delimited the body by closing."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        raise _BadRequest("the upstream answer has no complete head")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise _BadRequest(f"bad upstream status line {lines[0]!r}")
    status = int(parts[1])
    headers = [(k, v) for k, v in _parse_headers(lines[1:]) if k.lower() not in _HOP_BY_HOP]
    names = {k.lower() for k, _ in headers}
    bodiless = method == "HEAD" or status in (204, 304) or status < 200
    if not bodiless and not names & {"content-length", "transfer-encoding"}:
        headers.append(("Content-Length", str(len(body))))
    headers.append(("Connection", "keep-alive" if keep_alive else "close"))
    out = [lines[0]] + [f"{k}: {v}" for k, v in headers]
    return status, ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body


def _canned(
    status: int,
    retry_after: int | None,
    request_id: str | None,
    body: bytes | None,
    message: str,
    *,
    keep_alive: bool,
) -> bytes:
    """An error answer: the protocol's envelope (docs/protocol.md §2), or ``body`` as a page."""
    request_id = request_id or str(uuid.uuid4())
    if body is None:
        code = _CODES.get(status, "unavailable" if status >= 500 else "validation_error")
        error = {
            "code": code,
            "message": message,
            "retryable": status >= 500 or status == 429,
            "details": [],
            "request_id": request_id,
        }
        body, content_type = json.dumps({"error": error}).encode(), "application/json"
    else:
        content_type = "text/html; charset=utf-8"
    headers = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        f"X-Request-Id: {request_id}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    if retry_after is not None:
        headers.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


def _drain_until_closed(reader: BufferedReader) -> None:
    """Read and discard until the client closes (or the proxy shuts the socket down)."""
    with contextlib.suppress(OSError):
        while reader.read1(65536):
            pass


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _close(conn: _Conn, *, reset: bool) -> None:
    """Close a client connection; with ``reset`` abortively (SO_LINGER 0: the peer gets RST)."""
    with contextlib.suppress(OSError):
        if reset:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.reader.close()
        conn.sock.close()
