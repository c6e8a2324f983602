"""Secrets at rest: device tokens, enrolment codes and cashier PINs are stored hashed only."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def hash_token(token: str) -> str:
    """High-entropy secrets (device tokens, enrolment codes): a plain SHA-256 is enough."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_enrolment_code() -> str:
    """A code an admin can read out over the phone: ``K7QM-4XWD-9PRT`` (no 0/O, 1/I)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_code(code: str) -> str:
    return code.strip().upper().replace(" ", "").replace("-", "")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """A cashier PIN, hashed with scrypt and a per-PIN salt: ``scrypt$<salt>$<hash>``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)
