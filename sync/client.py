"""The processing service over HTTP: :class:`HttpGateway` implements :class:`cashier.gateway.Gateway`.

Owns: the requests of docs/protocol.md v1 (``/api/v1`` routes, ``Authorization: Bearer``, an
``Idempotency-Key`` on mutations, a new ``X-Request-Id`` per attempt), the overall deadline of a
call, and the classification of what came back into the gateway's outcomes.

One call is one attempt: POSTs are never retried here (the caller retries with the same key and
its own backoff, docs/offline.md 9); the transport may retry connects that sent nothing.

The deadline is a true one: a call returns or raises within its ``timeout`` (seconds) whatever the
server does.  The attempt runs on a worker thread and the caller waits at most that long; each
phase's httpx timeout is capped by it too, the worker stops reading at it between chunks, and when
the caller gives up it shuts the attempt's socket down so the worker ends as well.  (httpx's read
timeout alone is per chunk: a server dripping a byte every 0.8 s would never trip it.)  One corner
remains for the worker, never for the caller: on a reused keep-alive connection the socket is known
only once the headers arrived, so a server dripping its headers there keeps that daemon thread
until it stops.

Outcomes (messages are shown to the cashier, so they are translated):

- connection refused, DNS, a connect timeout, 408, 503, or nothing sent by the deadline →
  :class:`Unreachable`;
- a timeout after the request was sent, a broken connection, 500/502/504 (any other 5xx),
  ``409 idempotency_in_progress`` → :class:`Ambiguous`;
- 429 → :class:`RateLimited` (``Retry-After``: whole seconds or an HTTP date, at most 300 s — the
  sender's longest backoff — so no answer can stall the queue; anything else, 1 s);
- any other 4xx with the error envelope, and 401/403 with or without it → :class:`Rejected`;
- an answer that is not understood (not the protocol's JSON: a proxy's page, truncated JSON,
  wrong types, a redirect) → :class:`Ambiguous` for mutations, :class:`Unreachable` for reads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from cashier.errors import UserFacingError
from cashier.gateway import (
    Ambiguous,
    GatewayError,
    Json,
    RateLimited,
    Rejected,
    Reply,
    Unreachable,
)
from cashier.i18n import _
from sync.protocol import (
    CalculateResponse,
    CancelResponse,
    ConfirmResponse,
    EnrollResponse,
    ErrorEnvelope,
    Health,
    IdentifyResponse,
    PurchaseCreated,
    PurchaseView,
    Response,
    ReturnResponse,
    RulesResponse,
    SyncCustomersResponse,
    SyncTransactionsResponse,
    TokenResponse,
)
from sync.protocol_accounts import (
    CouponsResponse,
    HistoryResponse,
    OtpSendResponse,
    OtpVerifyResponse,
    RegisterResponse,
)
from sync.protocol_desk import HandoffCreated, HandoffsResponse
from sync.protocol_sync import SyncCashiersResponse, SyncCatalogueResponse

log = logging.getLogger("sync.client")

DEFAULT_TIMEOUT = httpx.Timeout(connect=3, read=10, write=10, pool=2)
DEFAULT_DEADLINE = 15.0
MAX_ANSWER_BYTES = 32 * 1024 * 1024
MAX_RETRY_AFTER = 300.0
"""The longest wait a ``Retry-After`` may ask for: the sender's ``MAX_DELAY`` (``sync.sender``),
so a server (or a proxy) answering ``inf`` or a date years away cannot stall the till's queue."""
DEFAULT_RETRY_AFTER = 1.0
_DELTA_SECONDS = re.compile(r"[0-9]+")
API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class _Raw:
    status: int
    headers: httpx.Headers
    content: bytes


class _Expired(Exception):
    """The worker saw the deadline pass while the answer was still arriving."""


class _TooLarge(Exception):
    """The answer is larger than any answer of the protocol."""


class _Attempt:
    """One HTTP attempt on a worker thread: how far it got, its outcome, and how to cut it off."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: _Raw | Exception | None = None
        self.traced = False
        """httpcore reported its progress (not so with a custom transport)."""
        self.sent = False
        """Request bytes may have been written: from here on a failure is ambiguous."""
        self.cut_off = False
        self._streams: list[Any] = []
        self._lock = threading.Lock()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's ``trace`` extension, called on the worker thread at each phase."""
        self.traced = True
        if event.endswith(".send_request_headers.started"):
            self.sent = True
        elif event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            self.hold(info.get("return_value"))

    def hold(self, stream: Any) -> None:
        """Remember a network stream of this attempt, to shut it down if the caller gives up."""
        if stream is None:
            return
        with self._lock:
            self._streams.append(stream)
            cut = self.cut_off
        if cut:
            _shut(stream)

    def finish(self, outcome: _Raw | Exception) -> None:
        with self._lock:
            self.outcome = outcome
            self.done.set()

    def cut(self) -> bool:
        """Give up at the deadline: shut the attempt's sockets so its worker stops too.
        False when the attempt finished in the meantime (then its outcome stands)."""
        with self._lock:
            if self.done.is_set():
                return False
            self.cut_off = True
            streams = list(self._streams)
        for stream in streams:
            _shut(stream)
        return True


def _shut(stream: Any) -> None:
    sock = stream.get_extra_info("socket") if hasattr(stream, "get_extra_info") else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked on another thread


ENV_ALLOW_HTTP = "LOYALTY_ALLOW_HTTP"
"""``1``: let the till speak plain HTTP to another computer (a lab; logged at every start)."""


class InsecureServer(UserFacingError):
    """The service's address would send the till's key and customers' data in clear."""

    code = "insecure_server"


def check_server_url(url: str) -> None:
    """Refuse ``http://`` to anything but this computer: the key, personal data and the rules
    (with the wallet's public key) would cross the store's network in clear.  ``https://`` always
    goes; plain HTTP to loopback (the demo, tests, a reverse proxy on the same box) too; to another
    host only with ``LOYALTY_ALLOW_HTTP=1``, logged as a warning.

    Raises:
        InsecureServer: what is wrong and what to do.
    """
    parsed = urlsplit(url.strip())
    scheme, host = parsed.scheme.lower(), (parsed.hostname or "").lower()
    if scheme == "https":
        return
    if scheme != "http" or not host:
        raise InsecureServer(
            _(
                "The service address {url} is not an http(s) address: write it as "
                "https://host:port."
            ).format(url=url)
        )
    if _loopback(host):
        return
    if os.environ.get(ENV_ALLOW_HTTP) == "1":
        log.warning(
            "plain HTTP to %s allowed by %s=1: the till's key and customers' data travel in clear",
            host,
            ENV_ALLOW_HTTP,
        )
        return
    raise InsecureServer(
        _(
            "The service address {url} uses plain HTTP to another computer: the till's key and "
            "customers' data would travel in clear. Use https:// (the service's own certificate "
            "or a reverse proxy in front of it); for a lab only, set {env}=1."
        ).format(url=url, env=ENV_ALLOW_HTTP)
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HttpGateway:
    """The processing service at ``base_url`` (``http://host:port``; ``/api/v1`` is appended).

    ``token`` is the till's key from enrolment (None before it).  ``timeout`` holds httpx's
    per-phase timeouts; ``deadline`` is the overall time a call may take, in seconds, unless the
    call passes its own ``timeout`` (e.g. the in-sale budget of 1.5 s).  ``transport`` replaces
    httpx's (default: ``HTTPTransport(retries=2)``, which retries only connects that sent nothing).
    Thread-safe; close it (or use it as a context manager) to release its connections.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if deadline <= 0:
            raise ValueError(f"the deadline must be positive, not {deadline}")
        check_server_url(base_url)
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith(API_PREFIX) else root + API_PREFIX
        self.timeout = timeout
        self.deadline = deadline
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._headers_lock = threading.Lock()
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            transport=transport or httpx.HTTPTransport(retries=2),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpGateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the Gateway protocol ---------------------------------------------------------------------
    def health(self, *, timeout: float | None = None) -> Reply:
        return self._call("GET", "/health", Health, timeout=timeout)

    def enroll(self, code: str, name: str, *, timeout: float | None = None) -> Reply:
        body = {"code": code, "name": name}
        return self._call(
            "POST", "/devices/enroll", EnrollResponse, body=body, mutation=True, timeout=timeout
        )

    def renew_token(self, *, timeout: float | None = None) -> Reply:
        """A new key for this device (``POST /devices/token``): ``token``, ``token_expires_at``.
        The key sent keeps working until the new one is first used, so a lost answer is simply
        asked again.  Not keyed, never retried here; :meth:`use_token` switches to the new key."""
        return self._call("POST", "/devices/token", TokenResponse, mutation=True, timeout=timeout)

    def use_token(self, token: str) -> None:
        """Send ``token`` as the device's key from the next request on (after a rotation)."""
        with self._headers_lock:
            self._client.headers["Authorization"] = f"Bearer {token}"

    def identify(self, body: Json, *, timeout: float | None = None) -> Reply:
        return self._call(
            "POST", "/customers/identify", IdentifyResponse, body=body, timeout=timeout
        )

    def calculate(self, body: Json, *, timeout: float | None = None) -> Reply:
        return self._call("POST", "/carts/calculate", CalculateResponse, body=body, timeout=timeout)

    def create_purchase(self, body: Json, key: str, *, timeout: float | None = None) -> Reply:
        return self._mutate("/purchases", PurchaseCreated, body, key, timeout)

    def confirm_purchase(
        self, purchase_id: str, body: Json, key: str, *, timeout: float | None = None
    ) -> Reply:
        return self._mutate(
            f"/purchases/{_seg(purchase_id)}/confirm", ConfirmResponse, body, key, timeout
        )

    def cancel_purchase(
        self, purchase_id: str, body: Json, key: str, *, timeout: float | None = None
    ) -> Reply:
        return self._mutate(
            f"/purchases/{_seg(purchase_id)}/cancel", CancelResponse, body, key, timeout
        )

    def return_purchase(
        self, purchase_id: str, body: Json, key: str, *, timeout: float | None = None
    ) -> Reply:
        return self._mutate(
            f"/purchases/{_seg(purchase_id)}/returns", ReturnResponse, body, key, timeout
        )

    def get_purchase(self, purchase_id: str, *, timeout: float | None = None) -> Reply:
        return self._call("GET", f"/purchases/{_seg(purchase_id)}", PurchaseView, timeout=timeout)

    def send_otp(self, body: Json, key: str, *, timeout: float | None = None) -> Reply:
        return self._mutate("/otp/send", OtpSendResponse, body, key, timeout)

    def verify_otp(self, body: Json, key: str, *, timeout: float | None = None) -> Reply:
        return self._mutate("/otp/verify", OtpVerifyResponse, body, key, timeout)

    def register(self, body: Json, key: str, *, timeout: float | None = None) -> Reply:
        return self._mutate("/customers", RegisterResponse, body, key, timeout)

    def history(
        self, customer_id: str, cursor: str | None = None, *, timeout: float | None = None
    ) -> Reply:
        params = {"cursor": cursor} if cursor else None
        path = f"/customers/{_seg(customer_id)}/history"
        return self._call("GET", path, HistoryResponse, params=params, timeout=timeout)

    def coupons(self, customer_id: str, *, timeout: float | None = None) -> Reply:
        path = f"/customers/{_seg(customer_id)}/coupons"
        return self._call("GET", path, CouponsResponse, timeout=timeout)

    def push_batch(self, body: Json, *, timeout: float | None = None) -> Reply:
        """The batch carries a key per item, so the request itself carries none."""
        return self._call(
            "POST",
            "/sync/transactions",
            SyncTransactionsResponse,
            body=body,
            mutation=True,
            timeout=timeout,
        )

    def rules(
        self,
        since_version: str | None,
        *,
        keys_tag: str | None = None,
        timeout: float | None = None,
    ) -> Reply | None:
        """The rules, or None when ``since_version`` and the wallet keys (``keys_tag``) are
        current (304)."""
        params = {
            k: v for k, v in (("since_version", since_version), ("keys_tag", keys_tag)) if v
        } or None
        raw = self._send("GET", "/sync/rules", params=params, mutation=False, timeout=timeout)
        if raw.status == 304:
            return None
        return _answer(raw, RulesResponse, mutation=False)

    def customers(
        self, cursor: str | None, limit: int = 1000, *, timeout: float | None = None
    ) -> Reply:
        params = _page(cursor, limit)
        return self._call(
            "GET", "/sync/customers", SyncCustomersResponse, params=params, timeout=timeout
        )

    def catalogue(
        self, cursor: str | None, limit: int = 1000, *, timeout: float | None = None
    ) -> Reply:
        params = _page(cursor, limit)
        return self._call(
            "GET", "/sync/catalogue", SyncCatalogueResponse, params=params, timeout=timeout
        )

    def cashiers(self, *, timeout: float | None = None) -> Reply:
        return self._call("GET", "/sync/cashiers", SyncCashiersResponse, timeout=timeout)

    def create_handoff(self, body: Json, key: str, *, timeout: float | None = None) -> Reply:
        return self._mutate("/handoffs", HandoffCreated, body, key, timeout)

    def handoffs(self, after: int, wait: float, *, timeout: float | None = None) -> Reply:
        """A long poll: the service may hold the answer for ``wait`` seconds, so the call's
        deadline (and httpx's read timeout) is ``wait`` plus ``timeout`` (else the deadline)."""
        if wait < 0:
            raise ValueError(f"the wait must not be negative, not {wait}")
        budget = wait + (self.deadline if timeout is None else timeout)
        params: dict[str, str | int] = {"after": after, "wait": f"{wait:g}"}
        raw = self._send(
            "GET", "/handoffs", params=params, mutation=False, timeout=budget, long_read=True
        )
        return _answer(raw, HandoffsResponse, mutation=False)

    # -- one attempt ------------------------------------------------------------------------------
    def _mutate(
        self, path: str, model: type[Response], body: Json, key: str, timeout: float | None
    ) -> Reply:
        if not key:
            raise ValueError("a mutation needs the Idempotency-Key its caller keeps for retries")
        return self._call("POST", path, model, body=body, key=key, mutation=True, timeout=timeout)

    def _call(
        self,
        method: str,
        path: str,
        model: type[Response],
        *,
        body: Json | None = None,
        params: Mapping[str, str | int] | None = None,
        key: str | None = None,
        mutation: bool = False,
        timeout: float | None = None,
    ) -> Reply:
        raw = self._send(
            method, path, body=body, params=params, key=key, mutation=mutation, timeout=timeout
        )
        return _answer(raw, model, mutation=mutation)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Json | None = None,
        params: Mapping[str, str | int] | None = None,
        key: str | None = None,
        mutation: bool,
        timeout: float | None,
        long_read: bool = False,
    ) -> _Raw:
        """Run one attempt; return its answer, or raise the gateway's outcome by ``timeout``.
        ``long_read``: the server may stay silent for most of the budget (a long poll), so the read
        timeout is the whole budget instead of the usual per-chunk one."""
        budget = self.deadline if timeout is None else timeout
        if budget <= 0:
            raise ValueError(f"the timeout must be positive, not {budget}")
        deadline = time.monotonic() + budget
        request_id = str(uuid.uuid4())
        headers = {"X-Request-Id": request_id}
        if key:
            headers["Idempotency-Key"] = key
        attempt = _Attempt()
        limits = self._capped(budget)
        if long_read:
            limits = httpx.Timeout(
                connect=limits.connect, read=budget, write=limits.write, pool=limits.pool
            )
        with self._headers_lock:  # never half a key switch (use_token)
            request = self._client.build_request(
                method,
                path,
                json=body,
                params=dict(params) if params else None,
                headers=headers,
                timeout=limits,
                extensions={"trace": attempt.trace},
            )
        worker = threading.Thread(
            target=self._run, args=(request, attempt, deadline), name="gateway-http", daemon=True
        )
        worker.start()
        if not attempt.done.wait(budget) and attempt.cut():
            failure: GatewayError = _late(attempt.sent or not attempt.traced, budget)
            log.info("%s %s [%s]: no answer within %g s", method, path, request_id, budget)
            raise failure
        outcome = attempt.outcome
        if isinstance(outcome, _Raw):
            return outcome
        assert outcome is not None
        failure = _failure(outcome, attempt, limits, budget, mutation)
        log.info("%s %s [%s]: %r", method, path, request_id, outcome)
        raise failure from outcome

    def _capped(self, budget: float) -> httpx.Timeout:
        """httpx's per-phase timeouts, none longer than the call's whole budget."""
        t = self.timeout

        def cap(phase: float | None) -> float:
            return budget if phase is None else min(phase, budget)

        return httpx.Timeout(
            connect=cap(t.connect), read=cap(t.read), write=cap(t.write), pool=cap(t.pool)
        )

    def _run(self, request: httpx.Request, attempt: _Attempt, deadline: float) -> None:
        """The worker: send, read the whole answer, stop at the deadline between chunks."""
        try:
            response = self._client.send(request, stream=True)
            try:
                attempt.hold(response.extensions.get("network_stream"))
                content = bytearray()
                for chunk in response.iter_bytes():
                    content += chunk
                    if len(content) > MAX_ANSWER_BYTES:
                        raise _TooLarge
                    if attempt.cut_off or time.monotonic() >= deadline:
                        raise _Expired
                outcome: _Raw | Exception = _Raw(
                    response.status_code, response.headers, bytes(content)
                )
            finally:
                response.close()
        except Exception as exc:  # noqa: BLE001 - handed over to the caller's thread
            outcome = exc
        attempt.finish(outcome)


# -- outcomes -------------------------------------------------------------------------------------
def _late(sent: bool, seconds: float) -> GatewayError:
    if not sent:
        message = _("The processing service could not be reached within {seconds} s.")
        return Unreachable(message.format(seconds=f"{seconds:g}"))
    message = _("The processing service did not answer within {seconds} s.")
    return Ambiguous(message.format(seconds=f"{seconds:g}"))


_NOTHING_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)
_PHASES = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


def _failure(
    exc: Exception, attempt: _Attempt, limits: httpx.Timeout, budget: float, mutation: bool
) -> GatewayError:
    """The outcome of an attempt that got no complete answer."""
    if isinstance(exc, _TooLarge):
        return _not_understood(_("the answer is too large"), mutation)
    if isinstance(exc, httpx.DecodingError):
        return _not_understood(_("the answer cannot be decoded"), mutation)
    sent = not isinstance(exc, _NOTHING_SENT) and (attempt.sent or not attempt.traced)
    if isinstance(exc, _Expired):
        return _late(sent, budget)
    if isinstance(exc, httpx.TimeoutException):
        waited = getattr(limits, _PHASES.get(type(exc), ""), None)
        return _late(sent, waited if isinstance(waited, float) else budget)
    if not sent:
        return Unreachable(_("No connection to the processing service."))
    if isinstance(exc, httpx.TransportError):
        return Ambiguous(
            _("The connection to the processing service broke before its answer arrived.")
        )
    raise exc  # a bug, not an outcome


def _answer(raw: _Raw, model: type[Response], *, mutation: bool) -> Reply:
    """The reply for a complete answer, or the outcome it stands for."""
    if 200 <= raw.status < 300:
        data = _json(raw.content)
        if data is None:
            reason = _("HTTP {status}, not a JSON object").format(status=raw.status)
            raise _not_understood(reason, mutation)
        try:
            model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "/".join(str(p) for p in first["loc"]) or "/"
            reason = _("HTTP {status}, {field}: {problem}").format(
                status=raw.status, field=where, problem=first["msg"]
            )
            raise _not_understood(reason, mutation) from None
        server_time = data.get("server_time")
        return Reply(
            body=data,
            status=raw.status,
            replay=raw.headers.get("Idempotent-Replay"),
            server_time=server_time if isinstance(server_time, str) else None,
        )
    raise _refusal(raw, mutation)


def _refusal(raw: _Raw, mutation: bool) -> GatewayError:
    """The outcome of a non-2xx answer."""
    data = _json(raw.content)
    error = None
    if data is not None:
        try:
            error = ErrorEnvelope.model_validate(data).error
        except ValidationError:
            error = None
    status = raw.status
    if status == 429:
        wait = _retry_after(raw.headers.get("Retry-After"))
        message = _("The processing service asks to wait {seconds} s.")
        return RateLimited(wait, message.format(seconds=f"{wait:g}"))
    if status in (408, 503):
        generic = _("The processing service is unavailable for now.")
        return Unreachable(error.message if error else generic)
    if status >= 500:
        return Ambiguous(_("The processing service failed (HTTP {status}).").format(status=status))
    if error is not None and error.code == "idempotency_in_progress":
        return Ambiguous(error.message)
    if error is not None and 400 <= status < 500:
        assert data is not None
        details: list[Mapping[str, Any]] = list(data["error"].get("details") or [])
        return Rejected(status, error.code, error.message, details, data)
    if status in (401, 403):
        code = "unauthenticated" if status == 401 else "forbidden"
        message = _("The processing service refused this till (HTTP {status}).")
        return Rejected(status, code, message.format(status=status), [], data or {})
    return _not_understood(_("HTTP {status}").format(status=status), mutation)


def _not_understood(reason: str, mutation: bool) -> GatewayError:
    message = _("The answer of the processing service was not understood ({reason}).").format(
        reason=reason
    )
    return Ambiguous(message) if mutation else Unreachable(message)


def _json(content: bytes) -> Json | None:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _retry_after(value: str | None) -> float:
    """Seconds from a ``Retry-After`` header, within [0, :data:`MAX_RETRY_AFTER`].

    RFC 9110 10.2.3: whole seconds in ASCII digits, or an HTTP date (one in the past is 0).
    Anything else — absent, ``inf``, ``nan``, negative, fractional, an exponent, other scripts'
    digits, a date that does not parse — is :data:`DEFAULT_RETRY_AFTER`.
    """
    text = (value or "").strip()
    if not text:
        return DEFAULT_RETRY_AFTER
    if _DELTA_SECONDS.fullmatch(text):
        return MAX_RETRY_AFTER if len(text) > 9 else min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        seconds = (when - datetime.now(UTC)).total_seconds()
    except OverflowError:
        return DEFAULT_RETRY_AFTER
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _page(cursor: str | None, limit: int) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    return params


def clock_skew(answer: Reply | Health | Mapping[str, Any], local_now: datetime) -> float:
    """How far the till's clock is ahead of the service's, in seconds (negative: behind), from
    any answer's ``server_time`` (docs/protocol.md decision 6: warn above 300 s either way).

    Raises:
        ValueError: the answer carries no server time, or ``local_now`` has no time zone.
    """
    if local_now.tzinfo is None:
        raise ValueError("local_now must be an aware datetime")
    stamp: object
    if isinstance(answer, Reply):
        stamp = answer.server_time or answer.body.get("server_time")
    elif isinstance(answer, Health):
        stamp = answer.server_time
    else:
        stamp = answer.get("server_time")
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    if not isinstance(stamp, datetime) or stamp.tzinfo is None:
        raise ValueError("the answer carries no server time with a time zone")
    return (local_now - stamp).total_seconds()


__all__ = ["DEFAULT_DEADLINE", "DEFAULT_TIMEOUT", "MAX_RETRY_AFTER", "HttpGateway", "clock_skew"]
