"""Sending SMS: the gateway interface and its providers (the demo log, a plain HTTP gateway).

Owns: :class:`SmsGateway` (``send(phone, text)``, raising :class:`SmsError` with a clear message),
:class:`LogGateway` (the demo: a log line per SMS, and the messages kept in memory),
:class:`HttpGateway` (a URL template with ``{phone}`` and ``{text}``; GET or POST) and
:func:`gateway_from_config`, which reads ``$PROCESSING_SMS``:

- ``log`` (the default): log each SMS;
- ``log:/path/sms.log``: log each SMS and append a line per SMS to the file;
- ``http:https://sms.example/send?to={phone}&msg={text}``: GET that URL, placeholders URL-encoded;
- ``http-post:https://sms.example/send?to={phone}&msg={text}``: POST it, with the phone and the
  text also as a form body (``phone=…&text=…``), so the placeholders are optional there.

The HTTP provider connects within 3 s and gives up on the whole exchange after 10 s; any answer
other than 2xx is an :class:`SmsError`.  Nothing here knows about codes or limits (``otp.py``).

Secrets stay out of logs and answers (issue 12): a gateway URL may carry a password or an API key,
and the filled-in URL carries the phone and the text with its code.  So an :class:`SmsError`'s
message names the gateway by its host only (it reaches the till); the details of a failure are
logged here, host only, with the URL's credentials, its query values, the phone and the text
scrubbed; a bad setting is shown with its password and query values as ``***``; creating an
:class:`HttpGateway` quiets httpx's and httpcore's own request logs below WARNING (httpx logs
every request's whole URL at INFO).  The ``log`` gateway writes the texts on purpose: its file is
created readable by its owner only (0600).
"""

from __future__ import annotations

import logging
import os
import re
import string
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import quote, unquote, unquote_plus, urlsplit

import httpx

from cashier.errors import InvalidPhone
from cashier.identifiers import mask_phone

log = logging.getLogger("processing.sms")

ENV_SMS = "PROCESSING_SMS"
CONNECT_TIMEOUT_S = 3.0
TOTAL_TIMEOUT_S = 10.0
_MAX_ANSWER_BYTES = 64 * 1024
ACCEPTED_FORMS = (
    "log",
    "log:/path/to/sms.log",
    "http:https://sms.example/send?to={phone}&msg={text}",
    "http-post:https://sms.example/send?to={phone}&msg={text}",
)

Method = Literal["GET", "POST"]
QUIET_LOGGERS = ("httpx", "httpcore")
"""HTTP client libraries whose INFO/DEBUG records name whole request URLs."""
_PLACEHOLDERS = ("{phone}", "{text}")
_USERINFO = re.compile(r"(?<=//)[^/?#]*@")
_QUERY_VALUE = re.compile(r"(?<=[?&;])([^=&#;]*=)([^&#;]*)")
_CODE_LIKE = re.compile(r"\d{4,}")


class SmsError(Exception):
    """An SMS could not be sent; the message says why (never the text of the SMS, nor the
    gateway's credentials: it is shown to the till)."""


def quiet_http_client_logs() -> None:
    """Raise httpx's and httpcore's loggers to WARNING: their INFO and DEBUG records carry whole
    request URLs, which for an SMS gateway hold its key, the phone and the code."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET (inherits) or chattier than WARNING
            logger.setLevel(logging.WARNING)


def redact_setting(value: str) -> str:
    """``value`` (an SMS gateway setting or URL) fit to show: the user and password of a URL as
    ``***``, and every query value but a placeholder (``{phone}``, ``{text}``, or a wrong one:
    the error names it) as ``***``."""
    shown = _USERINFO.sub("***@", value)
    return _QUERY_VALUE.sub(lambda m: m[1] + (m[2] if _shown_as_is(m[2]) else "***"), shown)


def _shown_as_is(query_value: str) -> bool:
    return not query_value or query_value.startswith("{")


def host_of(url: str) -> str:
    """The host (and port) of ``url``, without any user or password."""
    return urlsplit(url).netloc.rpartition("@")[2]


class SmsGateway(Protocol):
    """Something that sends one SMS or raises :class:`SmsError`."""

    def send(self, phone: str, text: str) -> None: ...


def _masked(phone: str) -> str:
    try:
        return mask_phone(phone)
    except InvalidPhone:
        return "<phone>"


class LogGateway:
    """The demo gateway: logs every SMS (and appends it to ``path`` when given).

    ``sent`` holds ``(phone, text)`` of every SMS sent by this object, oldest first; it is
    appended to under a lock, so tests and the demo may read it while requests are served.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        one_line = " ".join(text.split())
        with self._lock:
            if self.path is not None:
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                try:
                    self._append(f"{stamp}\t{phone}\t{one_line}\n")
                except OSError as exc:
                    log.warning(
                        "the SMS log %s cannot be written: %s", self.path, exc.strerror or exc
                    )
                    raise SmsError(
                        f"The SMS log cannot be written ({exc.strerror or type(exc).__name__}): "
                        "check the path of PROCESSING_SMS and its permissions."
                    ) from None
            self.sent.append((phone, text))
        log.info("SMS to %s: %s", _masked(phone), one_line)

    def _append(self, line: str) -> None:
        """Append ``line``; the file, when created here, is readable by its owner only (0600):
        it holds every code sent."""
        assert self.path is not None
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)

    def messages_to(self, phone: str) -> list[str]:
        """The texts sent to ``phone``, oldest first."""
        with self._lock:
            return [text for to, text in self.sent if to == phone]


def _check_template(template: str, method: Method) -> None:
    parts = urlsplit(template)
    shown = redact_setting(template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"the SMS gateway URL {shown!r} is not an http:// or https:// URL with a host"
        )
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(
            f"the SMS gateway URL {shown!r} has a stray brace ({exc}); "
            "only {phone} and {text} may appear in braces"
        ) from None
    unknown = fields - {"phone", "text"}
    if unknown:
        names = ", ".join("{" + name + "}" for name in sorted(unknown))
        raise ValueError(
            f"the SMS gateway URL {shown!r} has unknown placeholders {names}; "
            "only {phone} and {text} are filled in"
        )
    if method == "GET" and fields != {"phone", "text"}:
        raise ValueError(
            f"the SMS gateway URL {shown!r} needs both {{phone}} and {{text}} placeholders "
            "(a GET request carries nothing else)"
        )


class HttpGateway:
    """An HTTP SMS gateway: a URL template with ``{phone}`` and ``{text}`` (URL-encoded).

    GET requests the filled-in URL; POST sends it with ``phone`` and ``text`` as a form body too.
    Connecting may take ``connect_timeout`` seconds and the whole exchange ``total_timeout``;
    a slower gateway, a refused connection or a non-2xx answer raises :class:`SmsError`.

    Raises:
        ValueError: the template is not an http(s) URL or has placeholders other than those two.
    """

    def __init__(
        self,
        template: str,
        method: Method = "GET",
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        total_timeout: float = TOTAL_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if method not in ("GET", "POST"):
            raise ValueError(f"the SMS gateway method {method!r} is not GET or POST")
        _check_template(template, method)
        self.template = template
        self.method: Method = method
        self.connect_timeout = min(connect_timeout, total_timeout)
        self.total_timeout = total_timeout
        self._transport = transport
        self.host = host_of(template)
        """Host and port only: what messages and logs name the gateway by."""
        self._secrets = _template_secrets(template)
        quiet_http_client_logs()

    def url_for(self, phone: str, text: str) -> str:
        return self.template.format(phone=quote(phone, safe=""), text=quote(text, safe=""))

    def send(self, phone: str, text: str) -> None:
        """Send one SMS; the caller waits at most ``total_timeout`` seconds."""
        deadline = time.monotonic() + self.total_timeout
        outcome: list[BaseException | tuple[int, bytes]] = []
        done = threading.Event()

        def exchange() -> None:
            try:
                outcome.append(self._exchange(phone, text, deadline))
            except BaseException as exc:  # noqa: BLE001 - handed over to the caller's thread
                outcome.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=exchange, name="sms-http", daemon=True)
        worker.start()
        if not done.wait(self.total_timeout):
            raise self._failed(self._timed_out(), "no answer in time")
        result = outcome[0]
        if isinstance(result, SmsError):
            raise self._failed(str(result), "no answer in time")
        if isinstance(result, httpx.TimeoutException):
            raise self._failed(self._timed_out(), type(result).__name__)
        if isinstance(result, httpx.HTTPError):
            raise self._failed(
                f"The SMS gateway {self.host} cannot be reached ({type(result).__name__}); "
                "check PROCESSING_SMS and the network.",
                f"{type(result).__name__}: {self._scrub(str(result), phone, text)}",
            )
        if isinstance(result, BaseException):
            raise self._failed(
                f"Sending an SMS through {self.host} failed ({type(result).__name__}).",
                f"{type(result).__name__}: {self._scrub(str(result), phone, text)}",
            )
        status, answer = result
        if not 200 <= status < 300:
            snippet = answer[:200].decode("utf-8", "replace").strip()
            raise self._failed(
                f"The SMS gateway {self.host} refused the SMS with HTTP {status}.",
                f"HTTP {status}" + (f": {self._scrub(snippet, phone, text)}" if snippet else ""),
            )

    def _timed_out(self) -> str:
        return f"The SMS gateway {self.host} did not answer within {self.total_timeout:g} s."

    def _failed(self, message: str, detail: str) -> SmsError:
        """The error for the caller (and the till); the scrubbed detail goes to the log."""
        log.warning("SMS gateway %s failed: %s", self.host, " ".join(detail.split()))
        return SmsError(message)

    def _scrub(self, text: str, phone: str, sms: str) -> str:
        """``text`` (an error or the gateway's answer) without the gateway's credentials and
        query values, the phone, the SMS text, or anything that looks like a code."""
        hidden = {*self._secrets, phone, phone.lstrip("+"), sms, quote(sms, safe="")}
        for secret in sorted((h for h in hidden if h), key=len, reverse=True):
            text = text.replace(secret, "***")
        text = re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", "<url>", text, flags=re.IGNORECASE)
        return _CODE_LIKE.sub("***", text)

    def _exchange(self, phone: str, text: str, deadline: float) -> tuple[int, bytes]:
        timeout = httpx.Timeout(self.total_timeout, connect=self.connect_timeout)
        with httpx.Client(
            timeout=timeout, transport=self._transport, follow_redirects=False
        ) as client:
            url = self.url_for(phone, text)
            form = {"phone": phone, "text": text} if self.method == "POST" else None
            with client.stream(self.method, url, data=form) as response:
                answer = b""
                for chunk in response.iter_bytes():
                    if time.monotonic() > deadline:
                        raise SmsError(self._timed_out())
                    answer += chunk
                    if len(answer) > _MAX_ANSWER_BYTES:
                        break
                return response.status_code, answer


def _template_secrets(template: str) -> set[str]:
    """What in ``template`` must never be shown: its user and password, its query values other
    than the placeholders (raw and decoded)."""
    parts = urlsplit(template)
    found = {parts.username or "", parts.password or ""}
    found |= {unquote(found_value) for found_value in found}
    for _name, value in _QUERY_VALUE.findall("?" + parts.query):
        if not _shown_as_is(value):
            found |= {value, unquote(value), unquote_plus(value)}
    return {secret for secret in found if len(secret) >= 3}


def _bad_config(value: str, source: str, reason: str) -> ValueError:
    forms = "; ".join(ACCEPTED_FORMS)
    shown = redact_setting(value)
    return ValueError(f"{source} {shown!r} is not valid: {reason}. Use one of: {forms}")


def gateway_from_config(value: str | None) -> SmsGateway:
    """The gateway ``value`` names (``$PROCESSING_SMS`` when None; ``log`` when that is unset).

    Raises:
        ValueError: the value is not one of the accepted forms; the message shows them.
    """
    source = "the SMS gateway setting"
    if value is None:
        value = os.environ.get(ENV_SMS, "")
        source = ENV_SMS
    text = value.strip()
    if text in ("", "log"):
        return LogGateway()
    kind, sep, rest = text.partition(":")
    if not sep:
        raise _bad_config(value, source, f"{text!r} is not a known gateway")
    if kind == "log":
        if not rest.strip():
            raise _bad_config(value, source, "the log file path after 'log:' is empty")
        return LogGateway(Path(rest.strip()).expanduser())
    if kind in ("http", "http-post"):
        if not rest.strip():
            raise _bad_config(value, source, f"the URL after '{kind}:' is empty")
        try:
            return HttpGateway(rest.strip(), "POST" if kind == "http-post" else "GET")
        except ValueError as exc:
            raise _bad_config(value, source, str(exc)) from None
    raise _bad_config(value, source, f"{kind!r} is not a known gateway")


__all__ = [
    "ACCEPTED_FORMS",
    "ENV_SMS",
    "HttpGateway",
    "LogGateway",
    "SmsError",
    "SmsGateway",
    "gateway_from_config",
    "host_of",
    "quiet_http_client_logs",
    "redact_setting",
]
