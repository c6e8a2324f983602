"""The signed wallet token of docs/protocol.md decision 5: ``LW1.<customer_id>.<expires_unix>.<sig>``.

Owns: Ed25519 key pairs, their text form (sent to tills with the rules), signing a token for a
customer and verifying one offline.  Pure functions of their arguments (``now`` is passed in).
Failures a cashier can cause raise a translated :class:`~cashier.errors.WalletTokenRejected`;
programmer errors (a naive datetime, a key of the wrong size) raise ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cashier.errors import WalletTokenRejected
from cashier.i18n import N_, _

TOKEN_MALFORMED = N_("This loyalty QR code is damaged or incomplete. Scan it again.")
TOKEN_BAD_SIGNATURE = N_(
    "This QR code was not issued by this program. Ask for the phone number instead."
)
TOKEN_EXPIRED = N_("The QR code has expired: ask the customer to refresh it in the app.")

WALLET_TOKEN_PREFIX = "LW1."
_CUSTOMER_ID = r"[A-Za-z0-9_-]{1,64}"
_CUSTOMER_ID_RE = re.compile(_CUSTOMER_ID)
# Expiry: canonical decimal (no sign, no leading zeros), at most 11 digits so it fits a datetime.
_EXPIRES_RE = re.compile(r"0|[1-9][0-9]{0,10}")
_WALLET_RE = re.compile(
    r"LW1\.(?P<cid>" + _CUSTOMER_ID + r")\.(?P<exp>[0-9]{1,11})\.(?P<sig>[A-Za-z0-9_-]{86})"
)
_PUBLIC_KEY_TEXT_RE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class WalletToken:
    """A wallet token whose signature and expiry were checked."""

    customer_id: str
    expires_at: datetime  # aware, UTC


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode_canonical(text: str) -> bytes | None:
    """Decode unpadded base64url; None unless ``text`` is the one canonical encoding."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _b64url_encode(raw) == text else None


def generate_wallet_keypair() -> tuple[bytes, bytes]:
    """Return a new Ed25519 key pair as (raw 32-byte private key, raw 32-byte public key)."""
    private = Ed25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def public_key_to_text(raw: bytes) -> str:
    """Encode a raw 32-byte public key as base64url without padding (as in the program rules).

    Raises:
        ValueError: ``raw`` is not 32 bytes.
    """
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return _b64url_encode(raw)


def public_key_from_text(s: str) -> bytes:
    """Decode the base64url (no padding) text of a public key into its raw 32 bytes.

    Raises:
        ValueError: the text is not a canonical base64url encoding of a 32-byte Ed25519 key.
    """
    text = s.strip()
    raw = _b64url_decode_canonical(text) if _PUBLIC_KEY_TEXT_RE.fullmatch(text) else None
    if raw is None or len(raw) != 32:
        raise ValueError("not a base64url (no padding) Ed25519 public key of 32 bytes")
    Ed25519PublicKey.from_public_bytes(raw)  # raises ValueError if the library refuses it
    return raw


def _unix_seconds(moment: datetime, name: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return math.floor(moment.timestamp())


def sign_wallet_token(private_key: bytes, customer_id: str, expires_at: datetime) -> str:
    """Sign a wallet token ``LW1.<customer_id>.<expires_unix>.<signature>``.

    ``expires_at`` is rounded down to the whole second.

    Raises:
        ValueError: bad key size, a customer id outside ``[A-Za-z0-9_-]{1,64}``, a naive or
            out-of-range ``expires_at``.
    """
    if not _CUSTOMER_ID_RE.fullmatch(customer_id):
        raise ValueError("customer_id must be 1-64 characters of A-Z a-z 0-9 _ -")
    expires = _unix_seconds(expires_at, "expires_at")
    if not _EXPIRES_RE.fullmatch(str(expires)):
        raise ValueError("expires_at is out of range")
    signed = f"{WALLET_TOKEN_PREFIX}{customer_id}.{expires}"
    signature = Ed25519PrivateKey.from_private_bytes(private_key).sign(signed.encode("ascii"))
    return f"{signed}.{_b64url_encode(signature)}"


def _parse_wallet_structure(token: str) -> tuple[str, int, bytes, bytes]:
    """Split a token into (customer id, expiry, signature, signed bytes) or reject it."""
    match = _WALLET_RE.fullmatch(token)
    signature = _b64url_decode_canonical(match["sig"]) if match else None
    if match is None or signature is None or not _EXPIRES_RE.fullmatch(match["exp"]):
        raise WalletTokenRejected(_(TOKEN_MALFORMED))
    signed = token[: match.start("sig") - 1].encode("ascii")
    return match["cid"], int(match["exp"]), signature, signed


def verify_wallet_token(
    token: str, public_key: bytes, now: datetime, leeway_s: int = 60
) -> WalletToken:
    """Check a wallet token's structure, signature and expiry.

    Args:
        token: the scanned text, already cleaned (see :func:`classify`).
        public_key: the program's raw 32-byte Ed25519 public key.
        now: the current time, timezone-aware.
        leeway_s: clock tolerance between the customer's phone and this till, in seconds.

    Raises:
        WalletTokenRejected: malformed, not signed with this key, or expired.
        ValueError: a public key of the wrong size or a naive ``now``.
    """
    verifier = Ed25519PublicKey.from_public_bytes(public_key)
    now_unix = _unix_seconds(now, "now")
    customer_id, expires, signature, signed = _parse_wallet_structure(token)
    try:
        verifier.verify(signature, signed)
    except InvalidSignature:
        raise WalletTokenRejected(_(TOKEN_BAD_SIGNATURE)) from None
    if now_unix > expires + leeway_s:
        raise WalletTokenRejected(_(TOKEN_EXPIRED))
    return WalletToken(customer_id, datetime.fromtimestamp(expires, tz=UTC))
