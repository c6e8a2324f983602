"""Secrets at rest: device tokens, enrolment codes and cashier PINs are stored hashed only.

PINs are hashed by :mod:`cashier.pins` (the till checks them offline with the same code).
"""

from __future__ import annotations

import hashlib
import secrets

from cashier.pins import hash_pin, verify_pin


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


__all__ = [
    "hash_pin",
    "hash_token",
    "new_enrolment_code",
    "new_token",
    "normalise_code",
    "verify_pin",
]
