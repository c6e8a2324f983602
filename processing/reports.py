"""Admin figures: the review queue, per-store figures and the cross-chain points matrix.

Owns: ``processing review`` (list, resolve), ``processing report stores`` and ``processing report
cross-chain``: the queries (one SQLAlchemy code path for SQLite and PostgreSQL, aggregated in SQL),
the plain dataclasses they return (points exact ``Decimal``, money integer kopecks) and their text
and JSON forms.

Conventions:

* A period is ``[since, until)`` in UTC; the CLI's ``--since DATE --until DATE`` are whole UTC days,
  both included.  Purchases and ledger entries count by ``occurred_at`` (when the sale happened,
  also for offline sales confirmed later), returns by the return's ``occurred_at``.
* Points are summed in SQL as integer ten-thousandths (the ledger's ``Numeric(18, 4)``), so a sum is
  exact on SQLite too, where the column is stored as a float.
* Store figures: confirmed purchases and their ``to_pay``; points earned are ``earn`` entries and
  points redeemed ``redeem`` entries (holds and releases are not redemptions); returns and refunds
  are booked to the store of the purchase returned; overdrafts are confirmed purchases with
  ``purchases.overdraft`` above zero; the offline share is offline purchases / purchases.
* Text is in the language of the run (``cashier.i18n``); JSON keys and values are not translated
  (``unknown``, ``(no chain)``, review kinds and chain ids stay as they are, for programs to read).
* Cross-chain: every ``redeem`` entry is points spent in its ``chain_id``; the lot it names tells
  where they were earned.  A redeem with no lot (a loose entry: an offline overdraft) was earned
  nowhere: ``unknown``.  A lot with no chain (an opening balance imported without ``--store``, a
  welcome or birthday bonus) is ``(no chain)``.  The off-diagonal total counts only pairs of two
  different real chains.  Returns that give redeemed points back are not netted out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, cast, func, literal, select
from sqlalchemy.orm import Session, aliased

from cashier.i18n import N_, _
from cashier.money import Kopecks, display_money, format_money
from processing.models import (
    AuditRecord,
    Chain,
    LedgerEntry,
    Purchase,
    PurchaseReturn,
    ReviewItem,
    Store,
)

POINT_UNITS = 10_000
"""The ledger keeps points with 4 decimals: sums run over integer ten-thousandths."""
UNKNOWN = N_("unknown")
"""Where points spent by a loose redeem entry (an overdraft) were earned: nowhere known.  The JSON
forms keep it as it is; the text forms show it translated (:func:`chain_label`)."""
NO_CHAIN = N_("(no chain)")
"""A lot or redeem entry that names no chain (bonuses, opening balances without a store)."""
NO_STORE = N_("(no store)")
REVIEW_KINDS = ("overdraft", "rejected", "seq_gap")
_KIND_LABELS = {
    "overdraft": N_("overdraft"),
    "rejected": N_("rejected offline item"),
    "seq_gap": N_("sequence gap"),
    "seq_reused": N_("reused sequence number"),
    "sms_alarm": N_("SMS flood alarm"),
    "large_offline": N_("large offline sale"),
}


class ReportError(ValueError):
    """A report or review command that cannot be carried out; the message says what to do."""


# --- formatting --------------------------------------------------------------------------------
def display_points(points: Decimal) -> str:
    """Points for an admin to read: ``Decimal("1234.5000")`` → ``"1 234,5"`` (thin spaces)."""
    sign = "−" if points < 0 else ""
    text = plain_points(abs(points))
    whole, _point, frac = text.partition(".")
    grouped = f"{int(whole):,}".replace(",", "\u202f")
    return f"{sign}{grouped}" + (f",{frac}" if frac else "")


def plain_points(points: Decimal) -> str:
    """Points as a plain decimal string without trailing zeros: ``"1234.5"``, ``"150"``."""
    text = format(points.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _units(value: Any) -> Decimal:
    """A SQL sum of ten-thousandths back to exact points."""
    return Decimal(int(value or 0)) / POINT_UNITS


def _points_units(column: Any) -> ColumnElement[Any]:
    """``Σ round(column × 10 000)`` as an integer: exact on SQLite (floats) and PostgreSQL."""
    return func.sum(cast(func.round(column * POINT_UNITS), BigInteger))


def chain_label(chain: str | None) -> str:
    """A chain id as a text report shows it: ``unknown`` and ``(no chain)`` translated."""
    if chain is None or chain == NO_CHAIN:
        return _(NO_CHAIN)
    return _(UNKNOWN) if chain == UNKNOWN else chain


def review_kind_label(kind: str) -> str:
    """A review item's kind as the text list shows it (``seq_gap`` → "sequence gap")."""
    label = _KIND_LABELS.get(kind)
    return _(label) if label else kind


def columns(names: str, count: int) -> list[str]:
    """A table's ``|``-separated column headers, translated as one message (short words alone
    would clash with other catalogues' messages); the English ones if a translation has not
    ``count`` of them."""
    translated = _(names).split("|")
    return translated if len(translated) == count else names.split("|")


# --- periods -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    """Inclusive start (aware, UTC), or None for the beginning."""
    until: datetime | None = None
    """Exclusive end (aware, UTC), or None for now."""

    def where(self, column: Any) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(column >= self.since)
        if self.until is not None:
            out.append(column < self.until)
        return out

    def describe(self) -> str:
        """``from 2026-11-01 00:00 to 2026-12-01 00:00 UTC`` in the language of the run."""
        start = f"{self.since:%Y-%m-%d %H:%M}" if self.since else None
        end = f"{self.until:%Y-%m-%d %H:%M}" if self.until else None
        if start and end:
            return _("from {start} to {end} UTC").format(start=start, end=end)
        if start:
            return _("from {start} to now UTC").format(start=start)
        if end:
            return _("from the beginning to {end} UTC").format(end=end)
        return _("from the beginning to now UTC")

    def as_json(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def period_of_days(since: date | None, until: date | None) -> Period:
    """Whole UTC days: ``since`` from its midnight, ``until`` up to the end of that day."""
    if since is not None and until is not None and until < since:
        raise ReportError(
            _("--until {until} is before --since {since}: swap them.").format(
                until=f"{until:%Y-%m-%d}", since=f"{since:%Y-%m-%d}"
            )
        )
    return Period(
        datetime.combine(since, time(0), UTC) if since else None,
        datetime.combine(until + timedelta(days=1), time(0), UTC) if until else None,
    )


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` for ``--since`` / ``--until``."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(
            _("{text} is not a date: use YYYY-MM-DD, e.g. --since 2026-11-01.").format(
                text=repr(text)
            )
        ) from None


# --- the review queue ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReviewRow:
    id: int
    kind: str
    created_at: datetime
    store_id: str | None
    device_id: str | None
    customer_id: str | None
    purchase_id: str | None
    amount: Decimal | None
    reason: str
    resolved_at: datetime | None


def _review_row(item: ReviewItem) -> ReviewRow:
    amount = None if item.amount is None else _units(round(item.amount * POINT_UNITS))
    return ReviewRow(
        item.id,
        item.kind,
        item.created_at,
        item.store_id,
        item.device_id,
        item.customer_id,
        item.purchase_id,
        amount,
        item.reason,
        item.resolved_at,
    )


def review_items(session: Session, *, include_resolved: bool = False) -> list[ReviewRow]:
    """What an admin must look at, newest first; unresolved only unless ``include_resolved``."""
    stmt = select(ReviewItem).order_by(ReviewItem.created_at.desc(), ReviewItem.id.desc())
    if not include_resolved:
        stmt = stmt.where(ReviewItem.resolved_at.is_(None))
    return [_review_row(item) for item in session.scalars(stmt)]


def resolve_review(
    session: Session, item_id: int, *, now: datetime, note: str | None = None
) -> ReviewRow:
    """Mark one review item resolved, with an audit row carrying the note.

    Raises:
        ReportError: no such item, or it was resolved already.
    """
    item = session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise ReportError(
            _("There is no review item {id}. `processing review --all` lists them.").format(
                id=item_id
            )
        )
    if item.resolved_at is not None:
        raise ReportError(
            _("Review item {id} was already resolved at {at} UTC; nothing to do.").format(
                id=item_id, at=f"{item.resolved_at:%Y-%m-%d %H:%M}"
            )
        )
    item.resolved_at = now
    session.add(
        AuditRecord(
            action="review_resolve",
            subject=f"review_items:{item_id}",
            detail={
                "kind": item.kind,
                "customer_id": item.customer_id,
                "purchase_id": item.purchase_id,
                "note": note,
            },
            at=now,
        )
    )
    session.flush()
    return _review_row(item)


def review_as_json(rows: Sequence[ReviewRow]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "created_at": r.created_at.isoformat(),
            "store_id": r.store_id,
            "device_id": r.device_id,
            "customer_id": r.customer_id,
            "purchase_id": r.purchase_id,
            "amount": None if r.amount is None else plain_points(r.amount),
            "reason": r.reason,
            "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
        }
        for r in rows
    ]


def review_as_text(rows: Sequence[ReviewRow], *, include_resolved: bool = False) -> str:
    if not rows:
        return _("nothing to review") if not include_resolved else _("no review items")
    headers = columns(
        "id|when (UTC)|kind|store|device|customer|purchase|points|resolved|reason", 10
    )
    if not include_resolved:
        del headers[8]
    body = []
    for r in rows:
        cells = [
            str(r.id),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            review_kind_label(r.kind),
            r.store_id or "",
            r.device_id or "",
            r.customer_id or "",
            r.purchase_id or "",
            "" if r.amount is None else display_points(r.amount),
        ]
        if include_resolved:
            cells.append(f"{r.resolved_at:%Y-%m-%d %H:%M}" if r.resolved_at else "")
        cells.append(r.reason)
        body.append(cells)
    right = {0, 7}
    return render_table(headers, body, right=right)


# --- stores ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreFigures:
    """One store's (or a chain's, or the whole service's) figures over a period."""

    store_id: str | None
    """None on a chain row and on the total row."""
    chain_id: str | None
    name: str
    purchases: int = 0
    sales: Kopecks = 0
    points_earned: Decimal = Decimal(0)
    points_redeemed: Decimal = Decimal(0)
    returns: int = 0
    refunds: Kopecks = 0
    overdrafts: int = 0
    overdraft_points: Decimal = Decimal(0)
    offline_purchases: int = 0

    @property
    def offline_share(self) -> Decimal:
        """Offline purchases / purchases, to 4 decimals (``Decimal("0.2500")``); 0 with none."""
        if not self.purchases:
            return Decimal(0)
        return (Decimal(self.offline_purchases) / self.purchases).quantize(Decimal("0.0001"))

    def plus(self, other: StoreFigures) -> StoreFigures:
        return replace(
            self,
            purchases=self.purchases + other.purchases,
            sales=self.sales + other.sales,
            points_earned=self.points_earned + other.points_earned,
            points_redeemed=self.points_redeemed + other.points_redeemed,
            returns=self.returns + other.returns,
            refunds=self.refunds + other.refunds,
            overdrafts=self.overdrafts + other.overdrafts,
            overdraft_points=self.overdraft_points + other.overdraft_points,
            offline_purchases=self.offline_purchases + other.offline_purchases,
        )


@dataclass(frozen=True)
class StoresReport:
    period: Period
    stores: list[StoreFigures]
    """Every known store (zeros included) and any store id the data names, by chain then id."""
    chains: list[StoreFigures]
    total: StoreFigures


def stores_report(session: Session, period: Period) -> StoresReport:
    """Per-store figures over ``period``, with chain subtotals and a total."""
    known = {s.id: s for s in session.scalars(select(Store))}
    chain_names: dict[str, str] = {
        cid: name for cid, name in session.execute(select(Chain.id, Chain.name))
    }
    figures: dict[tuple[str | None, str | None], dict[str, Any]] = {}

    def slot(store_id: str | None, chain_id: str | None) -> dict[str, Any]:
        if store_id is not None and store_id in known:
            chain_id = known[store_id].chain_id
        return figures.setdefault((store_id, chain_id), {})

    for store in known.values():
        slot(store.id, store.chain_id)

    offline = func.sum(case((Purchase.offline.is_(True), 1), else_=0))
    overdrafts = func.sum(case((Purchase.overdraft > 0, 1), else_=0))
    purchases = session.execute(
        select(
            Purchase.store_id,
            Purchase.chain_id,
            func.count(),
            func.sum(Purchase.to_pay),
            offline,
            overdrafts,
            _points_units(Purchase.overdraft),
        )
        .where(Purchase.state == "confirmed", *period.where(Purchase.occurred_at))
        .group_by(Purchase.store_id, Purchase.chain_id)
    )
    for store_id, chain_id, count, sales, off, over, over_units in purchases:
        f = slot(store_id, chain_id)
        f["purchases"] = f.get("purchases", 0) + int(count)
        f["sales"] = f.get("sales", 0) + int(sales or 0)
        f["offline_purchases"] = f.get("offline_purchases", 0) + int(off or 0)
        f["overdrafts"] = f.get("overdrafts", 0) + int(over or 0)
        f["overdraft_points"] = f.get("overdraft_points", Decimal(0)) + _units(over_units)

    entries = session.execute(
        select(
            LedgerEntry.store_id,
            LedgerEntry.chain_id,
            LedgerEntry.kind,
            _points_units(LedgerEntry.amount),
        )
        .where(LedgerEntry.kind.in_(("earn", "redeem")), *period.where(LedgerEntry.occurred_at))
        .group_by(LedgerEntry.store_id, LedgerEntry.chain_id, LedgerEntry.kind)
    )
    for store_id, chain_id, kind, units in entries:
        f = slot(store_id, chain_id)
        key = "points_earned" if kind == "earn" else "points_redeemed"
        sign = 1 if kind == "earn" else -1
        f[key] = f.get(key, Decimal(0)) + sign * _units(units)

    returns = session.execute(
        select(
            Purchase.store_id,
            Purchase.chain_id,
            func.count(),
            func.sum(PurchaseReturn.refund_amount),
        )
        .join(Purchase, Purchase.purchase_id == PurchaseReturn.purchase_id)
        .where(*period.where(PurchaseReturn.occurred_at))
        .group_by(Purchase.store_id, Purchase.chain_id)
    )
    for store_id, chain_id, count, refunds in returns:
        f = slot(store_id, chain_id)
        f["returns"] = f.get("returns", 0) + int(count)
        f["refunds"] = f.get("refunds", 0) + int(refunds or 0)

    rows = [
        StoreFigures(
            store_id,
            chain_id,
            known[store_id].name if store_id in known else (store_id or NO_STORE),
            **values,
        )
        for (store_id, chain_id), values in figures.items()
    ]
    rows.sort(key=lambda r: (r.chain_id or "", r.store_id or ""))
    chains: dict[str | None, StoreFigures] = {}
    for row in rows:
        base = chains.get(row.chain_id) or StoreFigures(
            None, row.chain_id, chain_names.get(row.chain_id or "", row.chain_id or NO_CHAIN)
        )
        chains[row.chain_id] = base.plus(row)
    total = StoreFigures(None, None, "total")
    for chain in chains.values():
        total = total.plus(chain)
    return StoresReport(period, rows, list(chains.values()), total)


def _figures_json(f: StoreFigures) -> dict[str, Any]:
    return {
        "store_id": f.store_id,
        "chain_id": f.chain_id,
        "name": f.name,
        "purchases": f.purchases,
        "sales": format_money(f.sales),
        "points_earned": plain_points(f.points_earned),
        "points_redeemed": plain_points(f.points_redeemed),
        "returns": f.returns,
        "refunds": format_money(f.refunds),
        "overdrafts": f.overdrafts,
        "overdraft_points": plain_points(f.overdraft_points),
        "offline_purchases": f.offline_purchases,
        "offline_share": str(f.offline_share),
    }


def stores_as_json(report: StoresReport) -> dict[str, Any]:
    return {
        **report.period.as_json(),
        "stores": [_figures_json(f) for f in report.stores],
        "chains": [_figures_json(f) for f in report.chains],
        "total": _figures_json(report.total),
    }


def stores_as_text(report: StoresReport) -> str:
    headers = columns(
        "store|chain|purchases|sales|earned|redeemed|returns|refunds|overdrafts|overdraft pts"
        "|offline",
        11,
    )

    def cells(f: StoreFigures, label: str, chain: str) -> list[str]:
        return [
            label,
            chain,
            str(f.purchases),
            display_money(f.sales),
            display_points(f.points_earned),
            display_points(f.points_redeemed),
            str(f.returns),
            display_money(f.refunds),
            str(f.overdrafts),
            display_points(f.overdraft_points),
            f"{(f.offline_share * 100).quantize(Decimal('0.1'))} %".replace(".", ","),
        ]

    body: list[list[str] | None] = []
    for chain in report.chains:
        for f in report.stores:
            if f.chain_id == chain.chain_id:
                body.append(cells(f, f.store_id or _(NO_STORE), chain_label(f.chain_id)))
        name = chain.name if chain.chain_id else _(NO_CHAIN)
        body.append(cells(chain, f"= {name}", chain_label(chain.chain_id)))
        body.append(None)
    body.append(cells(report.total, _("= all chains"), ""))
    table = render_table(headers, body, right=set(range(2, len(headers))))
    head = _("stores {period}").format(period=report.period.describe())
    return f"{head}\n{table}"


# --- cross-chain ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossChainReport:
    """Points spent by ``redeem`` entries, by where they were earned × where they were spent."""

    period: Period
    cells: dict[tuple[str, str], Decimal]
    """``(earned chain, spent chain) → points``; only pairs with points."""

    @property
    def earned_chains(self) -> list[str]:
        return _chain_order({earned for earned, _spent in self.cells})

    @property
    def spent_chains(self) -> list[str]:
        return _chain_order({spent for _earned, spent in self.cells})

    def cell(self, earned: str, spent: str) -> Decimal:
        return self.cells.get((earned, spent), Decimal(0))

    @property
    def total(self) -> Decimal:
        return sum(self.cells.values(), Decimal(0))

    @property
    def off_diagonal(self) -> Decimal:
        """Points earned in one real chain and spent in another."""
        special = (UNKNOWN, NO_CHAIN)
        return sum(
            (
                points
                for (earned, spent), points in self.cells.items()
                if earned != spent and earned not in special and spent not in special
            ),
            Decimal(0),
        )

    @property
    def unknown(self) -> Decimal:
        """Points spent by loose redeem entries (overdrafts): earned nowhere known."""
        return sum(
            (points for (earned, _spent), points in self.cells.items() if earned == UNKNOWN),
            Decimal(0),
        )


def _chain_order(chains: set[str]) -> list[str]:
    special = [c for c in (NO_CHAIN, UNKNOWN) if c in chains]
    return sorted(chains - set(special)) + special


def cross_chain_report(session: Session, period: Period) -> CrossChainReport:
    redeem = aliased(LedgerEntry, name="redeem")
    lot = aliased(LedgerEntry, name="lot")
    earned = case(
        (redeem.lot_id.is_(None), literal(UNKNOWN)),
        else_=func.coalesce(lot.chain_id, literal(NO_CHAIN)),
    )
    spent = func.coalesce(redeem.chain_id, literal(NO_CHAIN))
    rows = session.execute(
        select(earned, spent, _points_units(-redeem.amount))
        .select_from(redeem)
        .outerjoin(lot, lot.id == redeem.lot_id)
        .where(redeem.kind == "redeem", *period.where(redeem.occurred_at))
        .group_by(earned, spent)
    )
    cells: dict[tuple[str, str], Decimal] = {}
    for earned_chain, spent_chain, units in rows:
        points = _units(units)
        if points:
            key = (str(earned_chain), str(spent_chain))
            cells[key] = cells.get(key, Decimal(0)) + points
    return CrossChainReport(period, cells)


def cross_chain_as_json(report: CrossChainReport) -> dict[str, Any]:
    return {
        **report.period.as_json(),
        "cells": [
            {"earned": earned, "spent": spent, "points": plain_points(points)}
            for (earned, spent), points in sorted(report.cells.items())
        ],
        "matrix": {
            earned: {
                spent: plain_points(report.cell(earned, spent)) for spent in report.spent_chains
            }
            for earned in report.earned_chains
        },
        "off_diagonal": plain_points(report.off_diagonal),
        "unknown": plain_points(report.unknown),
        "total": plain_points(report.total),
    }


def cross_chain_as_text(report: CrossChainReport) -> str:
    head = _("points earned (rows) and spent (columns) {period}").format(
        period=report.period.describe()
    )
    if not report.cells:
        return f"{head}\n" + _("no redemptions in this period")
    spent = report.spent_chains
    corner, total = columns("earned \\ spent|total", 2)
    headers = [corner, *(chain_label(s) for s in spent), total]
    body: list[list[str] | None] = []
    for earned in report.earned_chains:
        row_total = sum((report.cell(earned, s) for s in spent), Decimal(0))
        body.append(
            [
                chain_label(earned),
                *(display_points(report.cell(earned, s)) for s in spent),
                display_points(row_total),
            ]
        )
    body.append(None)
    body.append(
        [
            total,
            *(
                display_points(sum((report.cell(e, s) for e in report.earned_chains), Decimal(0)))
                for s in spent
            ),
            display_points(report.total),
        ]
    )
    table = render_table(headers, body, right=set(range(1, len(headers))))
    off = _("earned in one chain, spent in another: {points}").format(
        points=display_points(report.off_diagonal)
    )
    loose = _("spent with no lot (overdrafts, earned: {unknown}): {points}").format(
        unknown=_(UNKNOWN), points=display_points(report.unknown)
    )
    return f"{head}\n{table}\n{off}\n{loose}"


# --- tables --------------------------------------------------------------------------------------
def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str] | None], *, right: set[int] | None = None
) -> str:
    """An aligned plain-text table; ``None`` in ``rows`` is a separator line."""
    right = right or set()
    widths = [len(h) for h in headers]
    for row in rows:
        if row is not None:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(headers), rule]
    out += [rule if row is None else line(row) for row in rows]
    if out[-1] == rule:
        out.pop()
    return "\n".join(out)
