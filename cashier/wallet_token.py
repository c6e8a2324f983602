"""The signed wallet token of docs/protocol.md decision 5.

Two forms: ``LW2.<key id>.<customer_id>.<issued_unix>.<expires_unix>.<sig>`` (what the service
issues: the key id says which of the program's keys signed it, so keys can be rotated, and the
issue time lets a customer's older tokens be revoked) and the first form,
``LW1.<customer_id>.<expires_unix>.<sig>``, still accepted until it expires.

Owns: Ed25519 key pairs, their text form and key ids (sent to tills with the rules), key
endorsements (a new key signed by the one before it: how a till accepts a rotated key), signing a
token for a customer and verifying one offline.  Pure functions of their arguments (``now`` is passed in).
Failures a cashier can cause raise a translated :class:`~cashier.errors.WalletTokenRejected`;
programmer errors (a naive datetime, a key of the wrong size) raise ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cashier.errors import WalletKeyUntrusted, WalletTokenRejected
from cashier.i18n import N_, _

TOKEN_MALFORMED = N_("This loyalty QR code is damaged or incomplete. Scan it again.")
TOKEN_BAD_SIGNATURE = N_(
    "This QR code was not issued by this program. Ask for the phone number instead."
)
TOKEN_EXPIRED = N_("The QR code has expired: ask the customer to refresh it in the app.")
TOKEN_REVOKED = N_(
    "This QR code was withdrawn: ask the customer to refresh it in the app, or for the phone number."
)

WALLET_TOKEN_PREFIX = "LW1."
WALLET_TOKEN_PREFIXES = ("LW1.", "LW2.")
_CUSTOMER_ID = r"[A-Za-z0-9_-]{1,64}"
_CUSTOMER_ID_RE = re.compile(_CUSTOMER_ID)
# Expiry: canonical decimal (no sign, no leading zeros), at most 11 digits so it fits a datetime.
_EXPIRES_RE = re.compile(r"0|[1-9][0-9]{0,10}")
_WALLET_RE = re.compile(
    r"LW1\.(?P<cid>" + _CUSTOMER_ID + r")\.(?P<exp>[0-9]{1,11})\.(?P<sig>[A-Za-z0-9_-]{86})"
)
_WALLET2_RE = re.compile(
    r"LW2\.(?P<kid>[A-Za-z0-9_-]{8})\.(?P<cid>"
    + _CUSTOMER_ID
    + r")\.(?P<iat>[0-9]{1,11})\.(?P<exp>[0-9]{1,11})\.(?P<sig>[A-Za-z0-9_-]{86})"
)
_PUBLIC_KEY_TEXT_RE = re.compile(r"[A-Za-z0-9_-]{43}")
ENDORSEMENT_PREFIX = b"LWK1."


@dataclass(frozen=True)
class WalletToken:
    """A wallet token whose signature and expiry were checked."""

    customer_id: str
    expires_at: datetime  # aware, UTC
    key_id: str | None = None
    """The signing key's id (None: a first-form token, which names none)."""
    issued_at: datetime | None = None
    """When it was issued (None: a first-form token, which says not)."""


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


def key_id(public_key: bytes) -> str:
    """A public key's short id: the first 6 bytes of its SHA-256, base64url (8 characters)."""
    return _b64url_encode(hashlib.sha256(public_key).digest()[:6])


def endorse_key(private_key: bytes, new_public_key: bytes) -> str:
    """The old key's signature over a new public key (base64url): what makes a till accept it."""
    signed = ENDORSEMENT_PREFIX + public_key_to_text(new_public_key).encode("ascii")
    return _b64url_encode(Ed25519PrivateKey.from_private_bytes(private_key).sign(signed))


def endorsement_holds(old_public_key: bytes, new_public_key: bytes, endorsement: str) -> bool:
    """Whether ``endorsement`` is the old key's signature over the new one."""
    raw = _b64url_decode_canonical(endorsement)
    if raw is None or len(raw) != 64:
        return False
    signed = ENDORSEMENT_PREFIX + public_key_to_text(new_public_key).encode("ascii")
    try:
        Ed25519PublicKey.from_public_bytes(old_public_key).verify(raw, signed)
    except (InvalidSignature, ValueError):
        return False
    return True


def _unix_seconds(moment: datetime, name: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return math.floor(moment.timestamp())


def sign_wallet_token(
    private_key: bytes,
    customer_id: str,
    expires_at: datetime,
    *,
    issued_at: datetime | None = None,
) -> str:
    """Sign a wallet token: ``LW2.<key id>.<customer_id>.<issued>.<expires>.<signature>`` when
    ``issued_at`` is given (what the service issues), else the first form
    ``LW1.<customer_id>.<expires_unix>.<signature>``.

    Times are rounded down to the whole second.

    Raises:
        ValueError: bad key size, a customer id outside ``[A-Za-z0-9_-]{1,64}``, a naive or
            out-of-range time.
    """
    if not _CUSTOMER_ID_RE.fullmatch(customer_id):
        raise ValueError("customer_id must be 1-64 characters of A-Z a-z 0-9 _ -")
    expires = _unix_seconds(expires_at, "expires_at")
    if not _EXPIRES_RE.fullmatch(str(expires)):
        raise ValueError("expires_at is out of range")
    signer = Ed25519PrivateKey.from_private_bytes(private_key)
    if issued_at is None:
        signed = f"{WALLET_TOKEN_PREFIX}{customer_id}.{expires}"
    else:
        issued = _unix_seconds(issued_at, "issued_at")
        if not _EXPIRES_RE.fullmatch(str(issued)):
            raise ValueError("issued_at is out of range")
        kid = key_id(signer.public_key().public_bytes_raw())
        signed = f"LW2.{kid}.{customer_id}.{issued}.{expires}"
    return f"{signed}.{_b64url_encode(signer.sign(signed.encode('ascii')))}"


@dataclass(frozen=True)
class _Parsed:
    customer_id: str
    expires: int
    signature: bytes
    signed: bytes
    key_id: str | None = None
    issued: int | None = None


def _parse_wallet_structure(token: str) -> _Parsed:
    """Split a token of either form into its parts, or reject it."""
    second = token.startswith("LW2.")
    match = (_WALLET2_RE if second else _WALLET_RE).fullmatch(token)
    signature = _b64url_decode_canonical(match["sig"]) if match else None
    if (
        match is None
        or signature is None
        or not _EXPIRES_RE.fullmatch(match["exp"])
        or (second and not _EXPIRES_RE.fullmatch(match["iat"]))
    ):
        raise WalletTokenRejected(_(TOKEN_MALFORMED))
    signed = token[: match.start("sig") - 1].encode("ascii")
    if not second:
        return _Parsed(match["cid"], int(match["exp"]), signature, signed)
    return _Parsed(
        match["cid"], int(match["exp"]), signature, signed, match["kid"], int(match["iat"])
    )


def verify_wallet_token(
    token: str, public_key: bytes | Mapping[str, bytes], now: datetime, leeway_s: int = 60
) -> WalletToken:
    """Check a wallet token's structure, signature and expiry.

    Args:
        token: the scanned text, already cleaned (see :func:`classify`).
        public_key: the program's raw 32-byte Ed25519 public key, or its keys by key id (a
            second-form token must name one of them; a first-form one may match any).
        now: the current time, timezone-aware.
        leeway_s: clock tolerance between the customer's phone and this till, in seconds.

    Raises:
        WalletTokenRejected: malformed, not signed with these keys, issued in the future, or
            expired.
        ValueError: a public key of the wrong size or a naive ``now``.
    """
    keys = {key_id(public_key): public_key} if isinstance(public_key, bytes) else public_key
    verifiers = {kid: Ed25519PublicKey.from_public_bytes(raw) for kid, raw in keys.items()}
    now_unix = _unix_seconds(now, "now")
    parsed = _parse_wallet_structure(token)
    candidates = (
        [verifiers[parsed.key_id]]
        if parsed.key_id is not None and parsed.key_id in verifiers
        else []
        if parsed.key_id is not None
        else list(verifiers.values())
    )
    for verifier in candidates:
        try:
            verifier.verify(parsed.signature, parsed.signed)
            break
        except InvalidSignature:
            continue
    else:
        raise WalletTokenRejected(_(TOKEN_BAD_SIGNATURE))
    if now_unix > parsed.expires + leeway_s:
        raise WalletTokenRejected(_(TOKEN_EXPIRED))
    if parsed.issued is not None and parsed.issued > now_unix + leeway_s:
        raise WalletTokenRejected(_(TOKEN_MALFORMED))
    return WalletToken(
        parsed.customer_id,
        datetime.fromtimestamp(parsed.expires, tz=UTC),
        parsed.key_id,
        datetime.fromtimestamp(parsed.issued, tz=UTC) if parsed.issued is not None else None,
    )


def check_not_revoked(token: WalletToken, not_before: datetime | None) -> None:
    """Refuse a token issued before the customer's ``not_before`` (tokens withdrawn by the
    service); a first-form token, which has no issue time, is refused once any were withdrawn.

    Raises:
        WalletTokenRejected: the token was withdrawn.
    """
    if not_before is None:
        return
    if token.issued_at is None or token.issued_at < not_before:
        raise WalletTokenRejected(_(TOKEN_REVOKED))


KEY_UNTRUSTED = N_(
    "The service sent a wallet key this till cannot trust (not signed by a key it knows), so its "
    "new rules were not taken: ask IT to check the server address and enrol the till again."
)


@dataclass(frozen=True)
class OfferedKey:
    kid: str
    public_key: bytes
    endorsed_by: str | None = None
    endorsement: str | None = None


def accept_keys(
    trusted: Mapping[str, bytes],
    offered: Sequence[OfferedKey],
    retired: Collection[str] = (),
) -> dict[str, bytes]:
    """The offered keys, each either already trusted or endorsed by a trusted key that has not
    retired (in order, so a till that missed several rotations follows the chain).  A till that
    trusts nothing yet (enrolled before the service had a key) takes the first key it is sent,
    and the rest only endorsed.

    Raises:
        WalletKeyUntrusted: a key with no endorsed path, a known id with another key, or a list
            that drops every key the till trusts (empty included).
    """
    known = dict(trusted)
    if known and not offered:
        raise WalletKeyUntrusted(_(KEY_UNTRUSTED))
    for key in offered:
        if key_id(key.public_key) != key.kid:
            raise WalletKeyUntrusted(_(KEY_UNTRUSTED))
        if key.kid in known:
            if known[key.kid] != key.public_key:
                raise WalletKeyUntrusted(_(KEY_UNTRUSTED))
            continue
        endorser = known.get(key.endorsed_by or "") if key.endorsed_by not in retired else None
        if (
            endorser is not None
            and key.endorsement
            and endorsement_holds(endorser, key.public_key, key.endorsement)
        ) or not known:  # nothing trusted yet: the list's first key, the rest endorsed
            known[key.kid] = key.public_key
            continue
        raise WalletKeyUntrusted(_(KEY_UNTRUSTED))
    return {key.kid: key.public_key for key in offered}
