"""The till window's building blocks: the scan-aware input field, the customer panel, the receipt
table and the totals panel.  They draw what they are given and emit what the cashier did; the
rules live in ``cashier/``.

Owns: :class:`ScanField`, :class:`CustomerPanel`, :class:`CartTable`, :class:`TotalsPanel`,
:func:`big_button`.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cashier.counter import SaleView
from cashier.desk import Coupon
from cashier.i18n import _
from cashier.money import display_money, format_points, format_quantity
from cashier.program import PaymentMethod
from cashier.scanning.keyburst import KeyBurst
from cashier.till import CustomerView, Served
from ui.shortcuts import label
from ui.style import TOUCH, big_button, local_time


def method_text(method: PaymentMethod) -> str:
    return {
        PaymentMethod.CASH: _("Cash"),
        PaymentMethod.CARD: _("Card"),
        PaymentMethod.SBP: _("SBP"),
    }.get(method, method.value)


class ScanField(QLineEdit):
    """A line edit that tells a 2D scanner's keystroke burst from typing.

    ``entered(text, scanned)`` on Enter; the field is cleared by its owner when the entry is
    taken.  A burst is what the scanner typed, whatever the keyboard layout was (repaired by the
    identifier parser)."""

    entered = Signal(str, bool)
    delete_on_empty = Signal()
    """Del in an empty field: the page removes its chosen line (a field always has the focus)."""

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setMinimumHeight(TOUCH)
        self.setClearButtonEnabled(True)
        self._burst = KeyBurst()
        self.returnPressed.connect(self._finish)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        text = event.text()
        if text and text.isprintable() and event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._burst.key(text, time.monotonic())
        elif event.key() == Qt.Key.Key_Escape:
            self._burst.reset()
            self.clear()
        elif event.key() == Qt.Key.Key_Delete and not self.text():
            self.delete_on_empty.emit()
            return
        super().keyPressEvent(event)

    def _finish(self) -> None:
        entry = self._burst.finish(time.monotonic())
        text = self.text()
        if not text.strip():
            return
        self.entered.emit(text, entry.scanned)


class CustomerPanel(QFrame):
    """Who the customer is and what they have: tier, progress, points, coupons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.name = QLabel()
        self.name.setObjectName("customerName")
        self.name.setWordWrap(True)
        self.tier = QLabel()
        self.tier.setWordWrap(True)
        self.points = QLabel()
        self.points.setObjectName("points")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.coupons = QLabel()
        self.coupons.setWordWrap(True)
        for w in (self.name, self.tier, self.points, self.details, self.coupons):
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(w)
        layout.addStretch(1)
        self.show_customer(None, Served.OFFLINE, [])

    def show_customer(
        self, c: CustomerView | None, served: Served, coupons: list[Coupon], scale: int = 0
    ) -> None:
        if c is None:
            self.name.setText(_("No customer"))
            self.tier.setText(_("Type or scan a phone, a card or the wallet QR (F2)."))
            for w in (self.points, self.details, self.coupons):
                w.clear()
            return
        self.name.setText(c.display_name + (f"  ·  {c.phone_masked}" if c.phone_masked else ""))
        tier = c.tier_name or c.tier or "—"
        text = _("Tier: {tier}").format(tier=tier)
        if c.next_tier and c.next_tier_missing:
            text += "\n" + _("{amount} more to {tier}").format(
                amount=display_money(c.next_tier_missing), tier=c.next_tier
            )
        self.tier.setText(text)
        available = format_points(c.available, scale) if c.available is not None else "?"
        self.points.setText(_("Points: {points}").format(points=available))
        lines = []
        if c.pending:
            when = ""
            if c.next_activation is not None:
                when = " " + _("(from {date})").format(
                    date=local_time(c.next_activation[1], "%d.%m.%Y")
                )
            lines.append(
                _("Pending: {points}").format(points=format_points(c.pending, scale)) + when
            )
        if c.next_expiry is not None:
            lines.append(
                _("Expiring: {points} on {date}").format(
                    points=format_points(c.next_expiry[0], scale),
                    date=local_time(c.next_expiry[1], "%d.%m.%Y"),
                )
            )
        if c.local:
            lines.append(_("Registered on this till offline: earns, cannot spend yet."))
        elif not c.verified:
            lines.append(_("Phone not verified: earns points, cannot spend them."))
        else:
            lines.append(_("Phone verified"))
        if served is not Served.ONLINE:
            lines.append(
                _("Offline: balance as of {time}").format(
                    time=local_time(c.balance_as_of, "%d.%m %H:%M")
                )
            )
        self.details.setText("\n".join(lines))
        self.coupons.setText(
            _("Coupons: {list}").format(list=", ".join(cp.title for cp in coupons))
            if coupons
            else ""
        )


class CartTable(QTableWidget):
    """The receipt: one row per line; per-line points on request."""

    COLUMNS = 7

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, self.COLUMNS, parent)
        self.setHorizontalHeaderLabels(
            [_("#"), _("Goods"), _("Qty"), _("Price"), _("Amount"), _("Points −"), _("Points +")]
        )
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(40)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.show_points(False)

    def show_points(self, on: bool) -> None:
        self.setColumnHidden(5, not on)
        self.setColumnHidden(6, not on)

    @property
    def points_shown(self) -> bool:
        return not self.isColumnHidden(5)

    def show_sale(self, view: SaleView) -> None:
        keep = self.currentRow()
        quotes = {lq.line_id: lq for lq in view.priced.quote.lines} if view.priced else {}
        scale = view.priced.quote.program.points_scale if view.priced else 0
        self.setRowCount(len(view.lines))
        for row, item in enumerate(view.lines):
            lq = quotes.get(item.line_id)
            amount = lq.base_amount if lq else (item.unit_price * item.qty) // 1000
            cells = [
                str(row + 1),
                item.name or item.category or item.sku,
                format_quantity(item.qty).rstrip("0").rstrip(".")
                if item.qty % 1000
                else str(item.qty // 1000),
                display_money(item.unit_price),
                display_money(amount),
                ("−" + format_points(lq.redeem_points, scale)) if lq and lq.redeem_points else "",
                ("+" + format_points(lq.earn_points, scale)) if lq and lq.earn_points else "",
            ]
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if col != 1:
                    cell.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.setItem(row, col, cell)
        if self.rowCount():
            target = keep if 0 <= keep < self.rowCount() else self.rowCount() - 1
            if len(view.lines) > keep >= 0 and keep != -1:
                target = keep
            self.selectRow(target)


class TotalsPanel(QFrame):
    """Total, points to spend with the reason for the maximum, to pay, points earned, payment."""

    redeem_entered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(self)
        self.total = QLabel("—")
        self.discount = QLabel("")
        self.redeem = QLineEdit()
        self.redeem.setMinimumHeight(TOUCH)
        self.redeem.setPlaceholderText(_("max"))
        self.redeem.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.redeem.returnPressed.connect(lambda: self.redeem_entered.emit(self.redeem.text()))
        self.cap = QLabel("")
        self.cap.setWordWrap(True)
        self.cap.setObjectName("hint")
        self.to_pay = QLabel("—")
        self.to_pay.setObjectName("toPay")
        self.pay_note = QLabel("")
        self.pay_note.setObjectName("hint")
        self.pay_note.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.earn = QLabel("")
        self.earn.setWordWrap(True)
        self.payment = QLabel("")
        self.problem = QLabel("")
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        rows = [
            (_("Total"), self.total),
            (_("Discount"), self.discount),
            (label("points"), self.redeem),
            ("", self.cap),
            (_("To pay"), self.to_pay),
            ("", self.pay_note),
            (_("Earns"), self.earn),
            (label("method"), self.payment),
        ]
        for r, (title, widget) in enumerate(rows):
            if not title:  # a note under the row above, across the panel
                grid.addWidget(widget, r, 0, 1, 2)
                continue
            caption = QLabel(title)
            caption.setObjectName("caption")
            grid.addWidget(caption, r, 0)
            grid.addWidget(widget, r, 1)
        grid.addWidget(self.problem, len(rows), 0, 1, 2)
        grid.setColumnStretch(1, 1)
        for w in (self.total, self.to_pay, self.discount):
            w.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    def show_sale(self, view: SaleView) -> None:
        self.problem.setText(view.problem or "")
        payments = view.payments
        if len(payments) == 1:
            self.payment.setText(method_text(payments[0].method))
        else:
            self.payment.setText(
                " + ".join(
                    f"{method_text(p.method)} {display_money(p.amount)}"
                    if p.amount
                    else method_text(p.method)
                    for p in payments
                )
            )
        if view.priced is None:
            self.total.setText("—")
            self.discount.setText("")
            self.to_pay.setText("—")
            self.pay_note.setText("")
            self.earn.setText("")
            self.cap.setText("")
            if not self.redeem.hasFocus():
                self.redeem.setText("" if view.redeem == "max" else view.redeem)
            return
        q = view.priced.quote
        scale = q.program.points_scale
        self.total.setText(display_money(q.base_total))
        self.discount.setText(display_money(q.discount_total) if q.discount_total else "")
        if not self.redeem.hasFocus():
            self.redeem.setText(format_points(q.redeem_points, scale) if view.customer else "")
        self.redeem.setEnabled(view.customer is not None)
        if view.customer is None:
            self.cap.setText(_("No customer: no points."))
        else:
            why = q.cap_explanation()
            self.cap.setText(
                _("max {points} ({points_money}): {why}").format(
                    points=format_points(q.max_redeem_points, scale),
                    points_money=display_money(
                        int(q.max_redeem_points * Decimal(q.program.unit_value))
                    ),
                    why=why or _("no limit"),
                )
                + (
                    "\n" + _("Spending this many needs the customer's SMS code.")
                    if q.requires_confirmation
                    and view.customer.wallet_token is None
                    and view.priced.served is Served.ONLINE
                    else ""
                )
            )
        self.to_pay.setText(display_money(q.to_pay))
        self.pay_note.setText(
            _("(points {points} = {money})").format(
                points=format_points(q.redeem_points, scale), money=display_money(q.redeem_amount)
            )
            if q.redeem_points
            else ""
        )
        if view.customer is None:
            self.earn.setText("")
        else:
            earn = "+" + format_points(q.earn_points, scale)
            if q.earn_available_from.date() > datetime.now(q.earn_available_from.tzinfo).date():
                earn += "  " + _("(active from {date})").format(
                    date=local_time(q.earn_available_from, "%d.%m.%Y")
                )
            self.earn.setText(earn)


def hbox(*widgets: QWidget, stretch_last: bool = False) -> QHBoxLayout:
    layout = QHBoxLayout()
    for w in widgets:
        layout.addWidget(w)
    if stretch_last:
        layout.addStretch(1)
    return layout


def heading_font(base: QFont, scale: float = 1.4) -> QFont:
    font = QFont(base)
    font.setPointSizeF(base.pointSizeF() * scale)
    font.setBold(True)
    return font


HANDOFF_LIFE_MS = 5 * 60 * 1000


class HandoffBanner(QFrame):
    """ "From the tablet: NAME" with Take (Ctrl+Enter) and Hide: the cashier accepts or ignores."""

    accepted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("handoff")
        self.current: dict[str, Any] | None = None
        self.text = QLabel("")
        self.text.setWordWrap(True)
        take = big_button(label("accept_handoff"), primary=True)
        take.clicked.connect(self.accepted.emit)
        hide = big_button(_("Hide"))
        hide.clicked.connect(self.clear)
        row = QHBoxLayout(self)
        row.addWidget(self.text, 1)
        row.addWidget(take)
        row.addWidget(hide)
        self.setVisible(False)
        self.expiry = QTimer(self)
        self.expiry.setSingleShot(True)
        self.expiry.timeout.connect(self.clear)

    def offer(self, item: dict[str, Any]) -> None:
        self.current = item
        self.expiry.start(HANDOFF_LIFE_MS)  # the service forgets it after 5 minutes too
        who = str(item.get("display_name") or item.get("customer_id"))
        details = " · ".join(
            str(x)
            for x in (item.get("tier_name") or item.get("tier"), item.get("phone_masked"))
            if x
        )
        self.text.setText(
            _("From the tablet: {name}").format(name=who) + (f"  ({details})" if details else "")
        )
        self.setVisible(True)

    def clear(self) -> None:
        self.current = None
        self.setVisible(False)
