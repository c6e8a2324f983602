"""What the till needs from the processing service, as an interface the domain can call.

Owns: the :class:`Gateway` protocol and the outcomes of a call.  The domain (``cashier``) never
speaks HTTP: ``sync.client.HttpGateway`` implements this protocol over the wire (docs/protocol.md), and
tests may pass any object with these methods.  Bodies and answers are the protocol's JSON objects
(``dict``), already checked against the protocol's models by the implementation.

Every call either returns the answer, or raises one of:

- :class:`Rejected` — a definite refusal (4xx with a code): do not retry the same action;
- :class:`Unreachable` — nothing was sent, or it certainly was not processed (connection refused,
  DNS, 503 ``unavailable``): safe to retry, or to go offline;
- :class:`Ambiguous` — it may have been processed (timeout after sending, connection reset, 5xx):
  retry with the **same** idempotency key, never a new one;
- :class:`RateLimited` — 429: wait ``retry_after`` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Json = dict[str, Any]


class GatewayError(Exception):
    """A call to the processing service did not give an answer to use."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(GatewayError):
    """The service could not be reached or refused service (go offline; retrying is safe)."""


class Ambiguous(GatewayError):
    """The request may have been processed: retry with the same idempotency key."""


@dataclass
class RateLimited(GatewayError):
    retry_after: float
    message: str = "The processing service asks to slow down."

    def __post_init__(self) -> None:
        super().__init__(self.message)


@dataclass
class Rejected(GatewayError):
    """A definite refusal: ``status`` and the protocol's error ``code`` say why."""

    status: int
    code: str
    message: str
    details: list[Mapping[str, Any]] = field(default_factory=list)
    body: Json = field(default_factory=dict)
    """The whole error answer (``price_changed`` carries a fresh ``calculation`` in it)."""

    def __post_init__(self) -> None:
        super().__init__(self.message)


@dataclass(frozen=True)
class Reply:
    """An answer: its JSON body, its HTTP status, whether it replays an earlier answer, and the
    server's clock (for the clock-skew warning)."""

    body: Json
    status: int = 200
    replay: str | None = None
    server_time: str | None = None


class Gateway(Protocol):
    """The processing service as the till sees it (see docs/protocol.md for each body)."""

    def health(self, *, timeout: float | None = None) -> Reply: ...

    def enroll(self, code: str, name: str, *, timeout: float | None = None) -> Reply: ...

    def identify(self, body: Json, *, timeout: float | None = None) -> Reply: ...

    def calculate(self, body: Json, *, timeout: float | None = None) -> Reply: ...

    def create_purchase(self, body: Json, key: str, *, timeout: float | None = None) -> Reply: ...

    def confirm_purchase(
        self, purchase_id: str, body: Json, key: str, *, timeout: float | None = None
    ) -> Reply: ...

    def cancel_purchase(
        self, purchase_id: str, body: Json, key: str, *, timeout: float | None = None
    ) -> Reply: ...

    def return_purchase(
        self, purchase_id: str, body: Json, key: str, *, timeout: float | None = None
    ) -> Reply: ...

    def get_purchase(self, purchase_id: str, *, timeout: float | None = None) -> Reply: ...

    def send_otp(self, body: Json, key: str, *, timeout: float | None = None) -> Reply: ...

    def verify_otp(self, body: Json, key: str, *, timeout: float | None = None) -> Reply: ...

    def register(self, body: Json, key: str, *, timeout: float | None = None) -> Reply: ...

    def history(
        self, customer_id: str, cursor: str | None = None, *, timeout: float | None = None
    ) -> Reply: ...

    def coupons(self, customer_id: str, *, timeout: float | None = None) -> Reply: ...

    def push_batch(self, body: Json, *, timeout: float | None = None) -> Reply: ...

    def rules(
        self,
        since_version: str | None,
        *,
        keys_tag: str | None = None,
        timeout: float | None = None,
    ) -> Reply | None:
        """The rules, or None when ``since_version`` and the wallet keys (``keys_tag``) are
        current (304)."""
        ...

    def customers(
        self, cursor: str | None, limit: int = 1000, *, timeout: float | None = None
    ) -> Reply: ...

    def catalogue(
        self, cursor: str | None, limit: int = 1000, *, timeout: float | None = None
    ) -> Reply: ...

    def cashiers(self, *, timeout: float | None = None) -> Reply: ...

    def create_handoff(self, body: Json, key: str, *, timeout: float) -> Reply:
        """Hand a customer off to the other tills of this till's store (``POST /handoffs``)."""
        ...

    def handoffs(self, after: int, wait: float, *, timeout: float) -> Reply:
        """Hand-offs for this till after id ``after`` (``GET /handoffs``), long-polled for up to
        ``wait`` seconds; the call may take ``wait + timeout`` seconds in all."""
        ...
