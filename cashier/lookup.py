"""Offline lookup keys: how a till finds a cached customer by phone or card without holding either.

Owns: the *bucket* and the *digest* the service sends with each cached customer
(docs/protocol.md I) and the till recomputes from what the cashier typed or scanned.

* The bucket is the first ``bucket_bits`` bits of HMAC-SHA256(key, "phone:+7…"): fast, and
  deliberately short (16 bits by default), so one bucket holds some fifteen thousand of the
  possible mobile numbers and says next to nothing about which one a customer has.
* The digest is scrypt(value, salt = key ‖ the customer's id), memory-hard and salted *per
  customer*: a till compares it only with the few customers in the typed number's bucket.

Someone who copies a till's data and its key can still test numbers, but only customer by
customer: every customer costs a search of their whole bucket at a few milliseconds a guess
(about a CPU-minute and a half per customer with the defaults, months for a chain), where a plain
keyed hash of all customers fell to one pass over the numbering plan in under a second.  The
parameters travel with the rules (``lookup`` in ``GET /sync/rules``), so the service can raise
them without a new till.

Must not: touch a database, the network or Qt (pure functions; the same on the till and the
server).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["phone", "card"]

__all__ = [
    "DEFAULT_PARAMS",
    "LookupKey",
    "LookupParams",
    "bucket",
    "digest",
    "key_from_rules",
    "matches",
]


@dataclass(frozen=True)
class LookupParams:
    """The lookup scheme's cost and bucket width (bounded: a bad server answer is refused)."""

    bucket_bits: int = 16
    n: int = 4096
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not 8 <= self.bucket_bits <= 24:
            raise ValueError(f"lookup bucket_bits must be 8..24, not {self.bucket_bits}")
        if self.n < 1024 or self.n > 65536 or self.n & (self.n - 1):
            raise ValueError(f"lookup n must be a power of two in 1024..65536, not {self.n}")
        if not 1 <= self.r <= 16 or not 1 <= self.p <= 4:
            raise ValueError(f"lookup r must be 1..16 and p 1..4, not r={self.r}, p={self.p}")

    @property
    def scheme(self) -> str:
        """A short name of the scheme, stored with cached digests (a change recomputes them)."""
        return f"scrypt-n{self.n}-r{self.r}-p{self.p}-b{self.bucket_bits}"

    def as_json(self) -> dict[str, Any]:
        return {"bucket_bits": self.bucket_bits, "n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_json(cls, raw: object) -> LookupParams:
        """The parameters of a rules answer; ``ValueError`` naming the problem when malformed."""
        if raw is None:
            return DEFAULT_PARAMS
        if not isinstance(raw, dict):
            raise ValueError("lookup parameters must be an object")  # noqa: TRY004 - bad input
        values = {}
        for name in ("bucket_bits", "n", "r", "p"):
            value = raw.get(name, getattr(DEFAULT_PARAMS, name))
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"lookup {name} must be an integer")  # noqa: TRY004 - bad input
            values[name] = value
        return cls(**values)


DEFAULT_PARAMS = LookupParams()


@dataclass(frozen=True)
class LookupKey:
    """The key and the parameters, as a till holds them from the rules."""

    key: bytes
    params: LookupParams = DEFAULT_PARAMS

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the lookup key must be at least 16 bytes")


def _text(kind: Kind, value: str) -> bytes:
    return f"{kind}:{value}".encode()


def bucket(kind: Kind, value: str, key: LookupKey) -> int:
    """The value's bucket: the top ``bucket_bits`` bits of HMAC-SHA256(key, kind:value)."""
    mac = hmac.new(key.key, _text(kind, value), hashlib.sha256).digest()
    return int.from_bytes(mac[:4], "big") >> (32 - key.params.bucket_bits)


def digest(kind: Kind, value: str, key: LookupKey, salt: str) -> str:
    """scrypt of ``kind:value`` salted with the key and ``salt`` (the customer's id), in hex."""
    p = key.params
    raw = hashlib.scrypt(
        _text(kind, value),
        salt=key.key + b"\x00" + salt.encode(),
        n=p.n,
        r=p.r,
        p=p.p,
        maxmem=256 * p.n * p.r * p.p + (1 << 20),
        dklen=16,
    )
    return raw.hex()


def matches(kind: Kind, value: str, key: LookupKey, salt: str, expected: str) -> bool:
    """Whether ``value`` is the one whose digest (salted with ``salt``) is ``expected``."""
    return hmac.compare_digest(digest(kind, value, key, salt), expected)


def key_from_rules(key_text: str, params: object) -> LookupKey:
    """The lookup key of a rules answer: the base64url key and its parameters (None: defaults).

    Raises:
        ValueError: the key is not base64url or too short, or the parameters are out of bounds.
    """
    try:
        padded = key_text + "=" * (-len(key_text) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the lookup key is not base64url") from None
    return LookupKey(raw, LookupParams.from_json(params))
