"""Typed, path-aware reading of a program TOML document.

Owns: turning raw TOML values into exact values, and the wording of "what is wrong where".  Every
error names the file, the dotted key (``tiers.levels[2].earn_pct``) and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from cashier.errors import ProgramError
from cashier.i18n import _

_IDENT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_MISSING = object()


class Reader:
    """A view of one TOML table; remembers which keys were read so unknown keys can be refused."""

    def __init__(self, data: Mapping[str, Any], source: str, path: str = "") -> None:
        self.data = data
        self.source = source
        self.path = path
        self.seen: set[str] = set()

    # -- errors -------------------------------------------------------------------------------
    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, expected: str, found: object = _MISSING) -> ProgramError:
        if found is _MISSING:
            found = self.data.get(key, _MISSING)
        if found is _MISSING:
            message = _("{file}: the key {key} is missing; expected {expected}.")
        else:
            message = _("{file}: the key {key} is wrong; expected {expected}, found {found}.")
        return ProgramError(
            message.format(
                file=self.source, key=self.key_path(key), expected=expected, found=_show(found)
            ),
            source=self.source,
            key=self.key_path(key),
        )

    def reject_unknown(self) -> None:
        for key in self.data:
            if key not in self.seen:
                raise ProgramError(
                    _(
                        "{file}: the key {key} is not known. Check its spelling or remove it."
                    ).format(file=self.source, key=self.key_path(key)),
                    source=self.source,
                    key=self.key_path(key),
                )

    def _get(self, key: str, default: object) -> object:
        self.seen.add(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise self.error(key, _("a value"))
            return default
        return value

    # -- tables -------------------------------------------------------------------------------
    def table(self, key: str, *, optional: bool = False) -> Reader:
        value = self._get(key, {} if optional else _MISSING)
        if not isinstance(value, dict):
            raise self.error(key, _("a table [{key}]").format(key=self.key_path(key)))
        return Reader(value, self.source, self.key_path(key))

    def array_of_tables(self, key: str, *, min_items: int = 0) -> list[Reader]:
        value = self._get(key, _MISSING if min_items else [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, _("a list of tables [[{key}]]").format(key=self.key_path(key)))
        if len(value) < min_items:
            raise self.error(key, _("at least {n} entries").format(n=min_items))
        return [Reader(v, self.source, f"{self.key_path(key)}[{i}]") for i, v in enumerate(value)]

    # -- scalars ------------------------------------------------------------------------------
    def string(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, _("a non-empty text"))
        return value

    def identifier(self, key: str) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str) or not _IDENT_RE.fullmatch(value):
            raise self.error(key, _("a short code of lowercase letters, digits, '-' or '_'"))
        return value

    def boolean(self, key: str, default: object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, _("true or false"))
        return value

    def integer(
        self,
        key: str,
        *,
        default: object = _MISSING,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, _("a whole number"))
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(
                key, _("a whole number from {lo} to {hi}").format(lo=minimum, hi=maximum)
            )
        return value

    def decimal(
        self,
        key: str,
        *,
        default: object = _MISSING,
        minimum: Decimal | None = None,
        maximum: Decimal | None = None,
        places: int = 4,
    ) -> Decimal | None:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        parsed = _decimal(value)
        if parsed is None or -parsed.as_tuple().exponent > places:  # type: ignore[operator]
            raise self.error(
                key,
                _('a number written as text, e.g. "1.5", with at most {n} decimals').format(
                    n=places
                ),
            )
        if (minimum is not None and parsed < minimum) or (maximum is not None and parsed > maximum):
            if maximum is None:
                raise self.error(key, _("a number of at least {lo}").format(lo=minimum))
            raise self.error(key, _("a number from {lo} to {hi}").format(lo=minimum, hi=maximum))
        return parsed

    def percent(self, key: str, *, default: object = _MISSING) -> Decimal:
        value = self.decimal(key, default=default, minimum=Decimal(0), maximum=Decimal(100))
        return value  # type: ignore[return-value]

    def money(self, key: str, *, default: object = _MISSING, minimum: Decimal | None = None) -> int:
        value = self.decimal(key, default=default, minimum=minimum, places=2)
        assert value is not None
        return int(value * 100)

    def choice(self, key: str, options: Iterable[str], *, default: object = _MISSING) -> str:
        allowed = list(options)
        value = self._get(key, default)
        if value not in allowed:
            raise self.error(key, _("one of: {options}").format(options=", ".join(allowed)))
        return str(value)

    def string_set(self, key: str) -> frozenset[str]:
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, _("a list of texts"))
        return frozenset(value)

    def percent_map(self, key: str, *, keys: Iterable[str]) -> dict[str, Decimal]:
        table = self.table(key, optional=True)
        allowed = set(keys)
        result: dict[str, Decimal] = {}
        for name in list(table.data):
            if name not in allowed:
                raise table.error(
                    name, _("one of the keys: {options}").format(options=", ".join(sorted(allowed)))
                )
            result[name] = table.percent(name)
        return result

    def multiplier_map(self, key: str) -> dict[str, Decimal]:
        table = self.table(key, optional=True)
        result: dict[str, Decimal] = {}
        for name in list(table.data):
            value = table.decimal(name, minimum=Decimal(0), maximum=Decimal(100))
            assert value is not None
            result[name] = value
        return result


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return None
        return parsed if parsed.is_finite() else None
    return None  # floats are refused on purpose: write "1.5", never 1.5


def _show(value: object) -> str:
    if isinstance(value, float):
        return _('the float {value} (write numbers as text, e.g. "1.5")').format(value=value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
