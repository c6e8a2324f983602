"""Every user-facing string of the project has a Russian translation (Russian is the default)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None}


def _russian() -> set[str]:
    known: set[str] = set()
    for po in (ROOT / "resources" / "locale" / "ru" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as fh:
            for message in read_po(fh, locale="ru"):
                if message.id and message.string and not message.fuzzy:
                    known.add(message.id if isinstance(message.id, str) else message.id[0])
    return known


def test_every_message_has_a_russian_translation() -> None:
    known = _russian()
    missing = []
    for package in ("cashier", "sync", "processing", "ui"):
        for source in sorted((ROOT / package).rglob("*.py")):
            for lineno, msg, _comments, _ctx in extract_from_file(
                "python", str(source), keywords=KEYWORDS
            ):
                msgid = msg if isinstance(msg, str) else msg[0]
                if msgid and msgid not in known:
                    missing.append(f"{source.relative_to(ROOT)}:{lineno}: {msgid!r}")
    assert not missing, "untranslated:\n" + "\n".join(missing)
