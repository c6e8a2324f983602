"""Import customers from a legacy loyalty system's CSV export (``processing import-customers``).

Owns: reading the file (UTF-8 with or without a BOM, ``,`` or ``;`` told from the header), checking
every row, and writing the customers, their cards, opening balances and audit rows in the caller's
transaction.  All or nothing: when any row is wrong, every problem is reported (line, column, what
is wrong, what to do) and nothing is written.

The file has a header row; the column order is free:

``phone``           the customer's phone (normalised to E.164); required unless a card is given
``first_name``, ``last_name``  optional, up to 100 characters
``card_number``     a plastic card to bind (8 to 19 digits, EAN-13 check digit when 13)
``birth_date``      ``YYYY-MM-DD`` or ``DD.MM.YYYY``
``email``           a basic ``name@domain.tld`` check
``opening_points``  the legacy balance: a non-negative decimal at the active program's points scale
``window_spend``    money spent in the legacy system that counts towards the tier, in roubles with
                    up to 2 decimals (``45000.50``; a decimal comma and spaces between thousands are
                    accepted)
``phone_verified``  optional: ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``да``/``нет``;
                    empty means not verified

Duplicate phones or cards within the file, and phones or cards that already belong to a customer in
the database (deleted ones too: the columns are unique), are errors: existing customers are never
overwritten.

What an imported customer gets:

* a new id ``c_`` + 12 hex characters; ``phone_verified`` from the column, else false;
* the card, bound and active;
* the legacy balance as one ``opening`` ledger entry, a lot available from the import time and
  expiring per the program (``program.earn_expires_at(now)``); ``--store`` names the store (and so
  the chain) the balance is booked to, which the cross-chain report shows as where it was earned
  (NBclub's ``since_last_purchase`` expiry counts from ``last_purchase_at``, which the import leaves
  empty rather than invent a purchase: such a balance burns only after the customer's first
  purchase plus the program's months);
* ``window_spend`` as ``customers.opening_spend`` dated the import time (it counts in the tier
  window from then on);
* an ``audit`` row (action ``import``, the file name and the line), and one ``import_summary`` row
  for the file.

**No welcome bonus for imported customers.**  The welcome bonus is given once per phone number ever
(``phone_welcomes``), and a legacy customer had that chance in the old system.  So every imported
phone gets a ``phone_welcomes`` row (unless it has one already), and the customer's audit row says
why.  A customer imported with a card and no phone has no phone to mark: should a phone be added
later, that phone would still be eligible.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cashier.errors import InvalidCard, InvalidCart, InvalidPhone
from cashier.i18n import _, ngettext
from cashier.identifiers import normalize_card, normalize_phone
from cashier.money import (
    Kopecks,
    display_money,
    format_money,
    parse_money,
    points_to_units,
    units_to_points,
)
from cashier.program import Program
from processing.models import AuditRecord, Card, Customer, LedgerEntry, PhoneWelcome, Store
from processing.reports import display_points

COLUMNS = (
    "phone",
    "first_name",
    "last_name",
    "card_number",
    "birth_date",
    "email",
    "opening_points",
    "window_spend",
    "phone_verified",
)
"""The columns a file may have; at least ``phone`` or ``card_number``."""

NAME_MAX = 100
EMAIL_MAX = 254
POINTS_MAX_DIGITS = 13
"""Whole digits an opening balance may have (the ledger holds ``Numeric(18, 4)``)."""
BATCH = 5000
"""Rows per INSERT round."""
_IN_CHUNK = 900
"""Values per ``IN (...)`` when checking the database (below SQLite's old 999-parameter limit)."""
_DELIMITERS = (",", ";")
_SPACES_RE = re.compile(r"[\s\u00a0\u2009\u202f]+")
_DECIMAL_RE = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")  # ASCII digits only
_MONEY_RE = re.compile(r"^[0-9]{1,12}(?:\.[0-9]{1,2})?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)*\.[^@\s.]{2,}$")
_ISO_DATE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_DOTTED_DATE_RE = re.compile(r"^([0-9]{2})\.([0-9]{2})\.([0-9]{4})$")
_TRUE = frozenset({"1", "true", "yes", "y", "t", "да", "д"})
_FALSE = frozenset({"", "0", "false", "no", "n", "f", "нет", "н"})

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (line, column), what, and what to do."""

    line: int | None
    """The line of the file the row starts on (the header is line 1); None for the whole file."""
    column: str | None
    message: str

    def describe(self, file: str) -> str:
        if self.line is None:
            return _("{file}: {message}").format(file=file, message=self.message)
        if self.column is None:
            return _("{file}, line {line}: {message}").format(
                file=file, line=self.line, message=self.message
            )
        return _("{file}, line {line}, column {column}: {message}").format(
            file=file, line=self.line, column=self.column, message=self.message
        )


class ImportRejected(Exception):
    """The file was not imported; ``problems`` lists every reason, in file order."""

    def __init__(self, file: str, problems: Sequence[Problem]) -> None:
        self.file = file
        self.problems = sorted(problems, key=lambda p: (p.line or 0, _column_order(p.column)))
        super().__init__(self.describe())

    def describe(self) -> str:
        lines = [p.describe(self.file) for p in self.problems]
        lines.append(
            ngettext(
                "Nothing was imported ({count} problem). Fix the file and run the import again.",
                "Nothing was imported ({count} problems). Fix the file and run the import again.",
                len(self.problems),
            ).format(count=len(self.problems))
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class LegacyCustomer:
    """One good row of the file."""

    line: int
    phone: str | None
    first_name: str | None
    last_name: str | None
    card: str | None
    birth_date: date | None
    email: str | None
    points_units: int
    """The opening balance in point units (points × 10^scale)."""
    spend: Kopecks
    phone_verified: bool


@dataclass(frozen=True)
class ImportSummary:
    file: str
    customers: int
    cards: int
    points: Decimal
    spend: Kopecks
    welcomes_marked: int
    seconds: float
    store_id: str | None = None
    dry_run: bool = False

    def describe(self) -> str:
        head = (
            _("Dry run of {file}: nothing was written. It would import:")
            if self.dry_run
            else _("Imported {file}:")
        ).format(file=self.file)
        rate = self.customers / self.seconds if self.seconds > 0 else 0.0
        return "\n".join(
            [
                head,
                _("  customers: {count}").format(count=self.customers),
                _("  cards: {count}").format(count=self.cards),
                _("  opening points: {points}").format(points=display_points(self.points)),
                _("  window spend: {money}").format(money=display_money(self.spend)),
                _("  time: {seconds} s ({rate} rows/s)").format(
                    seconds=f"{self.seconds:.2f}", rate=f"{rate:.0f}"
                ),
            ]
        )


@dataclass
class Parsed:
    customers: list[LegacyCustomer] = field(default_factory=list)
    """The good rows (all of them when ``problems`` is empty)."""
    problems: list[Problem] = field(default_factory=list)
    identities: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    """``(line, phone, card)`` of every row whose phone or card is valid, bad rows too: clashes
    with the database are reported for those as well."""


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- reading the file ------------------------------------------------------------------------
def parse_file(data: bytes, *, points_scale: int, today: date) -> Parsed:
    """Read and check every row of a CSV export.  Pure: no database (duplicates within the file
    are found here, clashes with the database by :func:`import_customers`)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return Parsed(
            problems=[
                Problem(
                    line,
                    None,
                    _(
                        "The file is not in UTF-8 (a byte that is not UTF-8 is on this line). "
                        "Save it as UTF-8 (in Excel: “CSV UTF-8”) and import again."
                    ),
                )
            ]
        )
    if not text.strip():
        return Parsed(problems=[Problem(None, None, _("The file is empty."))])
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        return _read_rows(reader, points_scale=points_scale, today=today)
    except csv.Error as exc:
        return Parsed(
            problems=[
                Problem(
                    reader.line_num or None,
                    None,
                    _(
                        "The line cannot be read as CSV ({error}). Check the quotes on this line."
                    ).format(error=str(exc)),
                )
            ]
        )


def _sniff_delimiter(text: str) -> str:
    """``,`` or ``;``: whichever splits the header line into more known column names."""
    header = text.split("\n", 1)[0]

    def known(delimiter: str) -> int:
        names = next(csv.reader([header], delimiter=delimiter), [])
        return sum(1 for name in names if _column_name(name) in COLUMNS)

    return max(_DELIMITERS, key=lambda d: (known(d), d == ","))


def _column_name(raw: str) -> str:
    return raw.strip().strip("\ufeff").lower().replace(" ", "_").replace("-", "_")


def _column_order(column: str | None) -> int:
    return COLUMNS.index(column) if column in COLUMNS else -1


def _read_header(reader: Iterator[list[str]]) -> tuple[list[str], list[Problem]]:
    header = [_column_name(name) for name in next(reader, [])]
    problems: list[Problem] = []
    seen: set[str] = set()
    for name in header:
        if not name:
            continue  # a trailing delimiter (spreadsheets write them): values must stay empty
        if name not in COLUMNS:
            problems.append(
                Problem(
                    1,
                    name or "?",
                    _(
                        "Unknown column {name}. The columns are: {columns}. "
                        "Rename it (the first line is the header) or remove the column."
                    ).format(name=repr(name), columns=", ".join(COLUMNS)),
                )
            )
        elif name in seen:
            problems.append(
                Problem(1, name, _("The column appears twice in the header. Keep one of them."))
            )
        seen.add(name)
    if "phone" not in seen and "card_number" not in seen:
        problems.append(
            Problem(
                1,
                None,
                _(
                    "The header has neither a phone nor a card_number column: a customer needs "
                    "one of them. The first line must name the columns, e.g. "
                    "phone,first_name,last_name,card_number."
                ),
            )
        )
    return header, problems


def _read_rows(reader: Any, *, points_scale: int, today: date) -> Parsed:
    header, problems = _read_header(reader)
    if problems:
        return Parsed(problems=problems)
    result = Parsed()
    phones: dict[str, int] = {}
    cards: dict[str, int] = {}
    previous_end = reader.line_num
    for record in reader:
        line = previous_end + 1
        previous_end = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            result.problems.append(
                Problem(
                    line,
                    None,
                    _(
                        "The line has {found} fields, the header has {expected}. Check the "
                        "delimiters on this line (a value with a delimiter in it must be in "
                        "double quotes)."
                    ).format(found=len(record), expected=len(header)),
                )
            )
            continue
        row = dict(zip(header, record, strict=True))
        customer, phone, card, row_problems = _check_row(line, row, points_scale, today)
        if phone or card:
            result.identities.append((line, phone, card))
        if any(cell.strip() for name, cell in zip(header, record, strict=True) if not name):
            row_problems.append(
                Problem(
                    line,
                    None,
                    _(
                        "The line has a value under a column with no name. Name the column in "
                        "the header, or move the value to its column."
                    ),
                )
            )
            customer = None
        for value, taken, column, message in (
            (
                phone,
                phones,
                "phone",
                _("The phone {value} is also on line {first}. Keep one row per customer."),
            ),
            (
                card,
                cards,
                "card_number",
                _("The card {value} is also on line {first}. A card belongs to one customer."),
            ),
        ):
            if value is None:
                continue
            if value in taken:
                row_problems.append(
                    Problem(line, column, message.format(value=value, first=taken[value]))
                )
            else:
                taken[value] = line
        result.problems.extend(row_problems)
        if customer is not None and not row_problems:
            result.customers.append(customer)
    if not result.customers and not result.problems:
        result.problems.append(
            Problem(None, None, _("The file has a header but no customers. Nothing to import."))
        )
    return result


def _check_row(
    line: int, row: dict[str, str], points_scale: int, today: date
) -> tuple[LegacyCustomer | None, str | None, str | None, list[Problem]]:
    """The row's customer (None when anything is wrong), its phone and card when they are valid
    (to find duplicates even on rows with other problems), and its problems."""
    problems: list[Problem] = []

    def check(column: str, parse: Callable[[str], T], empty: T) -> T:
        raw = row.get(column, "").strip()
        if not raw:
            return empty
        try:
            return parse(raw)
        except _Bad as exc:
            problems.append(Problem(line, column, exc.message))
            return empty

    phone = check("phone", _phone, None)
    card = check("card_number", _card, None)
    if not row.get("phone", "").strip() and not row.get("card_number", "").strip():
        problems.append(
            Problem(
                line,
                "phone",
                _(
                    "Neither a phone nor a card number: a customer needs at least one. "
                    "Fill in the phone, or remove the row."
                ),
            )
        )
    first_name = check("first_name", _name, None)
    last_name = check("last_name", _name, None)
    birth_date = check("birth_date", lambda raw: _birth_date(raw, today), None)
    email = check("email", _email, None)
    units = check("opening_points", lambda raw: _points(raw, points_scale), 0)
    spend = check("window_spend", _spend, 0)
    verified = check("phone_verified", _yes_no, False)
    if verified and not row.get("phone", "").strip():
        problems.append(
            Problem(
                line,
                "phone_verified",
                _(
                    "The row says the phone is verified but has no phone. Fill in the phone or put 0."
                ),
            )
        )
    if problems:
        return None, phone, card, problems
    customer = LegacyCustomer(
        line=line,
        phone=phone,
        first_name=first_name,
        last_name=last_name,
        card=card,
        birth_date=birth_date,
        email=email,
        points_units=units,
        spend=spend,
        phone_verified=verified,
    )
    return customer, phone, card, problems


# --- one value each ---------------------------------------------------------------------------
def _phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone as exc:
        raise _Bad(f"{raw!r}: {exc.message}") from None


def _card(raw: str) -> str | None:
    try:
        return normalize_card(raw)
    except InvalidCard as exc:
        raise _Bad(f"{raw!r}: {exc.message}") from None


def _name(raw: str) -> str | None:
    if len(raw) > NAME_MAX:
        raise _Bad(
            _("The name is longer than {max} characters ({length}). Shorten it.").format(
                max=NAME_MAX, length=len(raw)
            )
        )
    return raw


def _birth_date(raw: str, today: date) -> date | None:
    iso, dotted = _ISO_DATE_RE.match(raw), _DOTTED_DATE_RE.match(raw)
    parts = (
        (iso[1], iso[2], iso[3]) if iso else (dotted[3], dotted[2], dotted[1]) if dotted else None
    )
    value: date | None = None
    if parts is not None:
        try:
            value = date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            value = None
    if value is None:
        raise _Bad(
            _(
                "{value} is not a date: use YYYY-MM-DD or DD.MM.YYYY, e.g. 1985-03-14 or "
                "14.03.1985."
            ).format(value=repr(raw))
        )
    if value > today:
        raise _Bad(_("{value} is in the future. Check the year.").format(value=repr(raw)))
    if value.year < 1900:
        raise _Bad(_("{value} is before 1900. Check the year.").format(value=repr(raw)))
    return value


def _email(raw: str) -> str | None:
    if len(raw) > EMAIL_MAX or not _EMAIL_RE.match(raw):
        raise _Bad(
            _(
                "{value} is not an e-mail address (expected name@example.ru). Fix it or leave "
                "the cell empty."
            ).format(value=repr(raw[:64]))
        )
    return raw


def _plain_number(raw: str) -> str:
    """Spaces between thousands dropped, a decimal comma read as a point."""
    compact = _SPACES_RE.sub("", raw)
    if "," in compact and "." not in compact and compact.count(",") == 1:
        compact = compact.replace(",", ".")
    return compact


def _points(raw: str, scale: int) -> int:
    compact = _plain_number(raw)
    if not _DECIMAL_RE.match(compact):
        raise _Bad(
            _(
                "{value} is not a number of points: use digits and a decimal point, "
                "e.g. 150 or 150.5."
            ).format(value=repr(raw))
        )
    if compact.startswith("-"):
        raise _Bad(
            _(
                "{value}: an opening balance cannot be negative. Put 0, or the customer's "
                "positive balance."
            ).format(value=repr(raw))
        )
    if len(compact.split(".")[0].lstrip("0")) > POINTS_MAX_DIGITS:
        raise _Bad(_("{value} is too large for a balance. Check it.").format(value=repr(raw)))
    try:
        return points_to_units(compact, scale)
    except InvalidCart:
        message = (
            _("{value}: points are whole numbers in this program. Round it.")
            if scale == 0
            else _("{value}: points have at most {scale} decimals in this program. Round it.")
        )
        raise _Bad(message.format(value=repr(raw), scale=scale)) from None


def _spend(raw: str) -> Kopecks:
    compact = _plain_number(raw)
    if compact.startswith("-"):
        raise _Bad(
            _("{value}: spend cannot be negative. Put 0 or the amount spent.").format(
                value=repr(raw)
            )
        )
    if not _MONEY_RE.match(compact):
        raise _Bad(
            _(
                "{value} is not an amount in roubles: use up to 2 decimals, e.g. 45000 or 45000.50."
            ).format(value=repr(raw))
        )
    return parse_money(compact)


def _yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Bad(
        _("{value} is not yes or no: use 1 or 0, true or false, yes or no, да or нет.").format(
            value=repr(raw)
        )
    )


# --- writing ---------------------------------------------------------------------------------
def read_file(path: Path, *, points_scale: int, today: date, name: str | None = None) -> Parsed:
    """Read and check ``path`` (no database: do it before taking the database's write lock).

    Raises:
        ImportRejected: the file cannot be read at all.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(
            name or path.name,
            [
                Problem(
                    None,
                    None,
                    _("The file cannot be read ({error}). Check the path.").format(
                        error=exc.strerror or exc
                    ),
                )
            ],
        ) from None
    return parse_file(data, points_scale=points_scale, today=today)


def import_customers(
    session: Session,
    path: Path,
    *,
    program: Program,
    now: datetime,
    store_id: str | None = None,
    dry_run: bool = False,
    name: str | None = None,
    parsed: Parsed | None = None,
) -> ImportSummary:
    """Check ``path`` and import its customers in the caller's transaction.

    Args:
        session: a session inside the caller's transaction (commit is the caller's).
        path: the CSV file.
        program: the active program (points scale and expiry of the opening lots).
        now: the import time (aware): ``available_from`` of the opening lots, ``created_at``.
        store_id: the store the opening balances are booked to (its chain too), or None.
        dry_run: check everything, database clashes included, and write nothing.
        name: the file name to record and report (default: ``path.name``).
        parsed: ``read_file(path, ...)`` done already (outside the transaction), or None to read
            it here.

    Raises:
        ImportRejected: any problem at all; nothing was written.
    """
    started = time.perf_counter()
    label = name or path.name
    if parsed is None:
        parsed = read_file(path, points_scale=program.points_scale, today=now.date(), name=label)
    chain_id: str | None = None
    if store_id is not None:
        store = session.get(Store, store_id)
        if store is None:
            raise ImportRejected(
                label,
                [
                    Problem(
                        None,
                        None,
                        _(
                            "There is no store {store}. Add it first (processing store add) or "
                            "leave out --store."
                        ).format(store=store_id),
                    )
                ],
            )
        chain_id = store.chain_id
    problems = list(parsed.problems)
    problems += _clashes_with_database(session, parsed.identities)
    if problems:
        raise ImportRejected(label, problems)
    rows = parsed.customers
    welcomed = _already(
        session, PhoneWelcome.phone, PhoneWelcome.phone, [r.phone for r in rows if r.phone]
    )
    marked = sum(1 for r in rows if r.phone and r.phone not in welcomed)
    if not dry_run:
        ids = _new_ids(session, len(rows))
        _write(session, rows, ids, welcomed, program, now, store_id, chain_id, label)
    total_units = sum(r.points_units for r in rows)
    summary = ImportSummary(
        file=label,
        customers=len(rows),
        cards=sum(1 for r in rows if r.card),
        points=units_to_points(total_units, program.points_scale),
        spend=sum(r.spend for r in rows),
        welcomes_marked=marked,
        seconds=time.perf_counter() - started,
        store_id=store_id,
        dry_run=dry_run,
    )
    if not dry_run:
        session.add(
            AuditRecord(
                action="import_summary",
                subject=label[:128],
                detail={
                    "file": label,
                    "customers": summary.customers,
                    "cards": summary.cards,
                    "opening_points": str(summary.points),
                    "window_spend": format_money(summary.spend),
                    "phone_welcomes_marked": marked,
                    "store_id": store_id,
                },
                at=now,
            )
        )
        session.flush()
    return summary


def _chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _already(session: Session, column: Any, result: Any, values: Sequence[str]) -> dict[str, Any]:
    """``value → result`` for the values already present in ``column`` (chunked IN queries)."""
    found: dict[str, Any] = {}
    for chunk in _chunks(sorted(set(values)), _IN_CHUNK):
        for key, value in session.execute(select(column, result).where(column.in_(chunk))):
            found[key] = value
    return found


def _clashes_with_database(
    session: Session, identities: Sequence[tuple[int, str | None, str | None]]
) -> list[Problem]:
    problems: list[Problem] = []
    phones = _already(session, Customer.phone, Customer.id, [p for _, p, _ in identities if p])
    cards = _already(session, Card.number, Card.customer_id, [c for _, _, c in identities if c])
    for line, phone, card in identities:
        if phone and phone in phones:
            problems.append(
                Problem(
                    line,
                    "phone",
                    _(
                        "The phone {phone} already belongs to customer {customer}. Existing "
                        "customers are not overwritten: remove the row from the file."
                    ).format(phone=phone, customer=phones[phone]),
                )
            )
        if card and card in cards:
            problems.append(
                Problem(
                    line,
                    "card_number",
                    _(
                        "The card {card} already belongs to customer {customer}. Remove the "
                        "card from the row (or the row from the file)."
                    ).format(card=card, customer=cards[card]),
                )
            )
    return problems


def _new_ids(session: Session, count: int) -> list[str]:
    """``count`` fresh customer ids ``c_`` + 12 hex characters, unused in the database."""
    ids: set[str] = set()
    while len(ids) < count:
        fresh = {f"c_{secrets.token_hex(6)}" for _ in range(count - len(ids))} - ids
        fresh -= set(_already(session, Customer.id, Customer.id, sorted(fresh)))
        ids |= fresh
    return list(ids)


def _insert(session: Session, model: Any, rows: Iterable[dict[str, Any]]) -> None:
    """Core ``executemany`` INSERTs of ``BATCH`` rows (no ORM bookkeeping, no keys fetched back)."""
    table = model.__table__
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            session.execute(insert(table), batch)
            batch = []
    if batch:
        session.execute(insert(table), batch)


def _write(
    session: Session,
    rows: Sequence[LegacyCustomer],
    ids: Sequence[str],
    welcomed: dict[str, Any],
    program: Program,
    now: datetime,
    store_id: str | None,
    chain_id: str | None,
    label: str,
) -> None:
    expires_at = program.earn_expires_at(now)
    scale = program.points_scale
    reason = (
        "legacy customer: the phone is marked in phone_welcomes, so no welcome bonus "
        "(the welcome bonus is once per phone ever; the old system had it)"
    )
    _insert(
        session,
        Customer,
        (
            {
                "id": cid,
                "phone": r.phone,
                "phone_verified": r.phone_verified,
                "first_name": r.first_name,
                "last_name": r.last_name,
                "birth_date": r.birth_date,
                "email": r.email,
                "consents": {},
                "created_at": now,
                "updated_at": now,
                "deleted": False,
                "opening_spend": r.spend,
                "opening_spend_at": now if r.spend else None,
            }
            for cid, r in zip(ids, rows, strict=True)
        ),
    )
    _insert(
        session,
        Card,
        (
            {"number": r.card, "customer_id": cid, "status": "active"}
            for cid, r in zip(ids, rows, strict=True)
            if r.card
        ),
    )
    _insert(
        session,
        PhoneWelcome,
        (
            {"phone": r.phone, "customer_id": cid, "given_at": now}
            for cid, r in zip(ids, rows, strict=True)
            if r.phone and r.phone not in welcomed
        ),
    )
    _insert(
        session,
        LedgerEntry,
        (
            {
                "customer_id": cid,
                "kind": "opening",
                "amount": units_to_points(r.points_units, scale),
                "is_lot": True,
                "available_from": now,
                "expires_at": expires_at,
                "store_id": store_id,
                "chain_id": chain_id,
                "occurred_at": now,
                "created_at": now,
                "flagged": False,
                "note": f"import {label} line {r.line}",
            }
            for cid, r in zip(ids, rows, strict=True)
            if r.points_units > 0
        ),
    )
    _insert(
        session,
        AuditRecord,
        (
            {
                "action": "import",
                "subject": cid,
                "detail": {
                    "file": label,
                    "line": r.line,
                    "opening_points": str(units_to_points(r.points_units, scale)),
                    "window_spend": format_money(r.spend),
                    "card": r.card,
                    "welcome": (
                        None
                        if not r.phone
                        else reason
                        if r.phone not in welcomed
                        else "the phone was already in phone_welcomes: no welcome bonus"
                    ),
                },
                "at": now,
            }
            for cid, r in zip(ids, rows, strict=True)
        ),
    )
