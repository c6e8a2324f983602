"""Translations for every user-facing string, the core's included.

Owns: the current language and the ``_`` / ``ngettext`` functions.  Catalogues are the ``.po`` files
under ``resources/locale/<lang>/LC_MESSAGES/`` (all files there are merged, so each area of the code
keeps its own file).  Source strings are English; Russian is the default language.

Rules (from Electrum and Frescobaldi): no f-strings inside ``_()``, named placeholders
(``_("{count} points").format(count=n)``), ``ngettext`` for plurals.  Module-level message constants
must stay lazy: store a callable or the msgid, and call ``_()`` when the message is shown.
"""

from __future__ import annotations

import argparse
import gettext
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from babel.messages.pofile import read_po

from cashier.data import data_root

DEFAULT_LANGUAGE = "ru"
SUPPORTED_LANGUAGES = ("ru", "en")

_lock = threading.Lock()
_catalogues: dict[str, gettext.NullTranslations] = {}
ENV_LANG = "LOYALTY_LANG"
LANGUAGE_FILE = "language"
"""The file in a till's data folder where the window's settings keep the chosen language."""
_language = os.environ.get(ENV_LANG, DEFAULT_LANGUAGE)
if _language not in SUPPORTED_LANGUAGES:
    _language = DEFAULT_LANGUAGE


class _PoTranslations(gettext.NullTranslations):
    """gettext translations read straight from .po files (no compile step to forget)."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self._singular: dict[str, str] = {}
        self._plural: dict[tuple[str, str], tuple[str, ...]] = {}
        self._plural_form = _plural_rule(lang)
        folder = data_root().joinpath("locale", lang, "LC_MESSAGES")
        if not folder.is_dir():
            return
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".po"):
                continue
            with entry.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
            for message in catalog:
                if not message.id or message.fuzzy or not message.string:
                    continue
                msgid: object = message.id
                translation: object = message.string
                if isinstance(msgid, tuple) and isinstance(translation, (tuple, list)):
                    strings = tuple(str(s) for s in translation)
                    if all(strings):
                        self._plural[(str(msgid[0]), str(msgid[1]))] = strings
                elif isinstance(msgid, str) and isinstance(translation, str):
                    self._singular[msgid] = translation

    def gettext(self, message: str) -> str:
        return self._singular.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        forms = self._plural.get((msgid1, msgid2))
        if forms is None:
            return msgid1 if n == 1 else msgid2
        return forms[min(self._plural_form(n), len(forms) - 1)]


def _plural_rule(lang: str) -> Callable[[int], int]:
    if lang == "ru":

        def ru(n: int) -> int:
            n = abs(n)
            if n % 10 == 1 and n % 100 != 11:
                return 0
            if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
                return 1
            return 2

        return ru
    return lambda n: 0 if n == 1 else 1


def _translations(lang: str) -> gettext.NullTranslations:
    with _lock:
        found = _catalogues.get(lang)
        if found is None:
            found = gettext.NullTranslations() if lang == "en" else _PoTranslations(lang)
            _catalogues[lang] = found
        return found


def set_language(lang: str) -> None:
    """Switch the language of every message produced from now on."""
    global _language
    if lang not in SUPPORTED_LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; use one of {SUPPORTED_LANGUAGES}")
    _language = lang


def get_language() -> str:
    return _language


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    return str(_translations(_language).gettext(message))


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a count, picking the language's plural form."""
    return str(_translations(_language).ngettext(singular, plural, n))


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (lazy constants)."""
    return message


def option_value(argv: Sequence[str], name: str) -> str | None:
    """The last value of ``--name VALUE`` / ``--name=VALUE`` anywhere before ``--``."""
    found = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == name and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(name + "="):
            found = arg.split("=", 1)[1]
    return found


def saved_language(folder: Path | None) -> str | None:
    """The language the window's settings saved in a till's data folder, if any."""
    if folder is None:
        return None
    try:
        text = (folder / LANGUAGE_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text if text in SUPPORTED_LANGUAGES else None


def choose_language(given: str | None, folder: Path | None = None) -> str:
    """Set and return the language: ``given`` (``--lang``), else ``$LOYALTY_LANG``, else the one
    saved in ``folder``, else Russian.  Unsupported values are passed over (the command line's
    parser refuses a bad ``--lang`` itself)."""
    for lang in (given, os.environ.get(ENV_LANG), saved_language(folder)):
        if lang in SUPPORTED_LANGUAGES:
            set_language(lang)
            return lang
    set_language(DEFAULT_LANGUAGE)
    return DEFAULT_LANGUAGE


def translate_argparse() -> None:
    """argparse's own words (usage, errors, help headings) in the chosen language, as the rest of
    a command's output; argparse looks its gettext functions up at call time."""
    setattr(argparse, "_", _)  # noqa: B010
    setattr(argparse, "ngettext", ngettext)  # noqa: B010
