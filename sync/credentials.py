"""Where the till keeps its key: the operating system's keyring, or a documented fallback file.

Owns: :func:`save_token`, :func:`load_token`, :func:`keyring_status`, :func:`keyring_fix` and
:func:`locate_token` (where a key is, even when the current setting does not select that place).  The key is stored under the
service name ``loyalty-till`` with the data folder as the user name (several tills may share one
computer in a training room).  Where no keyring backend exists (a headless Linux box without a
Secret Service), the till says so and what to do; with ``LOYALTY_KEYRING=file`` it keeps the key in
``token`` inside the data folder instead, readable by this user only (mode 0600).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keyring
import keyring.errors
from keyring.backends import fail

from cashier.errors import UserFacingError
from cashier.i18n import _

SERVICE = "loyalty-till"
ENV = "LOYALTY_KEYRING"
FILE_NAME = "token"


class NoKeyring(UserFacingError):
    code = "no_keyring"


def _use_file() -> bool:
    return os.environ.get(ENV, "").lower() == "file"


def keyring_status() -> tuple[bool, str]:
    """(usable, description) of where the key goes."""
    if _use_file():
        return True, _("a file in the data folder (LOYALTY_KEYRING=file)")
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return False, _(
            "no keyring backend: install and unlock one (e.g. GNOME Keyring / KWallet), "
            "or set LOYALTY_KEYRING=file to keep the key in a file only this user can read"
        )
    return True, type(backend).__module__ + "." + type(backend).__name__


def keyring_fix(folder: Path) -> str:
    """What to do when :func:`keyring_status` says no keyring is usable."""
    return _(
        "install and unlock a keyring (GNOME Keyring or KWallet, with a desktop session), or "
        "set LOYALTY_KEYRING=file (e.g. `export LOYALTY_KEYRING=file`) to keep the key in "
        "{path}, readable by this user only"
    ).format(path=folder / FILE_NAME)


@dataclass(frozen=True)
class KeyPlace:
    """Where the till's key was found (``store`` is None when nowhere)."""

    store: Literal["keyring", "file"] | None
    selected: bool
    """Whether the current ``LOYALTY_KEYRING`` setting reads the key from that place."""
    path: Path


def locate_token(folder: Path) -> KeyPlace:
    """Look for the key in the selected store first, then in the other one."""
    path = folder / FILE_NAME
    if _use_file():
        if path.is_file():
            return KeyPlace("file", True, path)
        return KeyPlace("keyring" if _keyring_has(folder) else None, False, path)
    if _keyring_has(folder):
        return KeyPlace("keyring", True, path)
    return KeyPlace("file" if path.is_file() else None, False, path)


def _keyring_has(folder: Path) -> bool:
    try:
        return keyring.get_password(SERVICE, str(folder.resolve())) is not None
    except keyring.errors.KeyringError:
        return False


def unselected_key_advice(place: KeyPlace) -> str | None:
    """What to do when the key is in the store the current setting does not read (else None)."""
    if place.store is None or place.selected:
        return None
    if place.store == "file":
        return _(
            "The till's key is in the file store ({path}), but LOYALTY_KEYRING=file is not set: "
            "set it (e.g. `export LOYALTY_KEYRING=file`) and run the command again."
        ).format(path=place.path)
    return _(
        "The till's key is in the keyring, but LOYALTY_KEYRING=file is set: unset it "
        "(`unset LOYALTY_KEYRING`) and run the command again."
    )


def save_token(folder: Path, token: str) -> None:
    if _use_file():
        path = folder / FILE_NAME
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        path.write_text(token, encoding="utf-8")
        return
    usable, why = keyring_status()
    if not usable:
        raise NoKeyring(_("The till's key cannot be stored: {why}.").format(why=why))
    try:
        keyring.set_password(SERVICE, str(folder.resolve()), token)
    except keyring.errors.KeyringError as exc:
        raise NoKeyring(
            _("The till's key cannot be stored in the keyring ({error}).").format(error=exc)
        ) from None


def load_token(folder: Path) -> str | None:
    if _use_file():
        path = folder / FILE_NAME
        return path.read_text(encoding="utf-8").strip() if path.exists() else None
    try:
        return keyring.get_password(SERVICE, str(folder.resolve()))
    except keyring.errors.KeyringError:
        return None
