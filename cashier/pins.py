"""Cashier PINs, hashed with scrypt and a per-PIN salt: ``scrypt$<salt hex>$<hash hex>``.

Owns: :func:`hash_pin` and :func:`verify_pin`, used by the service (``processing cashier add``)
and by the till, which checks a PIN offline against the hash it synced.  A 4–8 digit PIN can be
guessed from its hash whatever the hashing, so the till limits attempts and its database stays on
the till.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P)
    return hmac.compare_digest(digest.hex(), digest_hex)
