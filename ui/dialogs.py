"""The till's dialogs, each opened by the cashier's own key: free-amount line, quantity, split
payment, SMS confirmation, return, points history, review list, connection details, help.

Owns: the dialogs.  Their work (network, database) goes through :class:`ui.tasks.Tasks`; an error
is shown inside the dialog, never in a new modal box.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cashier.counter import Counter
from cashier.desk import FoundSale, ReviewItem, find_sale, preview_return
from cashier.errors import UserFacingError
from cashier.i18n import N_, _
from cashier.money import display_money, format_points, parse_quantity
from cashier.program import PaymentMethod
from cashier.returns import ReturnResult
from cashier.till import Returned, TillError
from sync.runtime import Status
from ui.shortcuts import SHORTCUTS
from ui.style import TOUCH, big_button, local_time
from ui.tasks import Tasks
from ui.widgets import method_text


class Dialog(QDialog):
    """A dialog with an error line and large buttons; Esc closes it."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.layout_ = QVBoxLayout(self)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.buttons = QHBoxLayout()

    def finish_layout(self) -> None:
        self.layout_.addWidget(self.error)
        self.layout_.addLayout(self.buttons)

    def add_button(self, text: str, slot: Callable[[], None], *, primary: bool = False) -> None:
        button = big_button(text, primary=primary)
        button.clicked.connect(slot)
        self.buttons.addWidget(button)

    def fail(self, message: str) -> None:
        self.error.setText(message)


def _field(placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setMinimumHeight(TOUCH)
    edit.setPlaceholderText(placeholder)
    return edit


class FreeLineDialog(Dialog):
    """A line for a shop without a catalogue: a category and an amount."""

    def __init__(self, categories: list[str], parent: QWidget | None = None) -> None:
        super().__init__(_("Free amount"), parent)
        form = QFormLayout()
        self.category = QComboBox()
        self.category.setMinimumHeight(TOUCH)
        self.category.setEditable(True)
        self.category.addItems(categories)
        self.amount = _field("1500.00")
        form.addRow(_("Category"), self.category)
        form.addRow(_("Amount, ₽"), self.amount)
        self.layout_.addLayout(form)
        self.add_button(_("Add  Enter"), self.accept, primary=True)
        self.add_button(_("Cancel  Esc"), self.reject)
        self.finish_layout()
        self.amount.returnPressed.connect(self.accept)
        self.amount.setFocus()


class QtyDialog(Dialog):
    def __init__(self, current: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(_("Quantity"), parent)
        self.layout_.addWidget(QLabel(name))
        self.qty = _field(_("e.g. 2, or 0.450 for weighed goods"))
        self.qty.setText(current)
        self.qty.selectAll()
        self.layout_.addWidget(self.qty)
        self.add_button(_("OK  Enter"), self.accept, primary=True)
        self.add_button(_("Cancel  Esc"), self.reject)
        self.finish_layout()
        self.qty.returnPressed.connect(self.accept)


class SplitDialog(Dialog):
    """Several payment methods: amounts for some, the chosen one pays the rest."""

    def __init__(self, to_pay: int, parent: QWidget | None = None) -> None:
        super().__init__(_("Split payment"), parent)
        self.layout_.addWidget(
            QLabel(
                _(
                    "To pay {amount}. Type the amounts; the rest is paid by the method chosen below."
                ).format(amount=display_money(to_pay))
            )
        )
        form = QFormLayout()
        self.fields: dict[PaymentMethod, QLineEdit] = {}
        for method in (PaymentMethod.CASH, PaymentMethod.CARD, PaymentMethod.SBP):
            edit = _field()
            self.fields[method] = edit
            form.addRow(method_text(method), edit)
            edit.returnPressed.connect(self.accept)
        self.rest = QComboBox()
        self.rest.setMinimumHeight(TOUCH)
        for method in self.fields:
            self.rest.addItem(method_text(method), method)
        self.rest.setCurrentIndex(1)
        form.addRow(_("The rest by"), self.rest)
        self.layout_.addLayout(form)
        self.add_button(_("OK  Enter"), self.accept, primary=True)
        self.add_button(_("Cancel  Esc"), self.reject)
        self.finish_layout()
        self.fields[PaymentMethod.CASH].setFocus()

    def amounts(self) -> tuple[dict[PaymentMethod, str], PaymentMethod]:
        rest = PaymentMethod(self.rest.currentData())
        typed = {m: e.text() for m, e in self.fields.items() if e.text().strip() and m != rest}
        return typed, rest


class SmsDialog(Dialog):
    """The customer confirms spending points with an SMS code."""

    def __init__(
        self, tasks: Tasks, counter: Counter, phone: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(_("Confirm spending points"), parent)
        self.tasks, self.counter = tasks, counter
        self.otp_id: str | None = None
        self.left = 0
        self.layout_.addWidget(
            QLabel(_("Spending this many points needs the customer's SMS code."))
        )
        form = QFormLayout()
        self.phone = _field("+7 9XX XXX-XX-XX")
        self.phone.setText(phone)
        self.code = _field("1234")
        form.addRow(_("Phone"), self.phone)
        form.addRow(_("Code"), self.code)
        self.layout_.addLayout(form)
        self.countdown = QLabel("")
        self.layout_.addWidget(self.countdown)
        self.add_button(_("Send code"), self.send)
        self.add_button(_("Confirm  Enter"), self.check, primary=True)
        self.add_button(_("Cancel  Esc"), self.reject)
        self.finish_layout()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.phone.returnPressed.connect(self.send)
        self.code.returnPressed.connect(self.check)

    def send(self) -> None:
        if self.left > 0:
            return
        phone = self.phone.text()
        self.tasks.run(
            lambda: self.counter.send_confirmation(phone), self._sent, self.fail, owner=self
        )

    def _sent(self, body: dict[str, Any]) -> None:
        self.otp_id = str(body["otp_id"])
        self.left = int(body.get("resend_after_s", 60))
        self.error.setText("")
        self.timer.start(1000)
        self._tick()
        self.code.setFocus()

    def _tick(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.timer.stop()
            self.countdown.setText(_("You can send a new code."))
        else:
            self.countdown.setText(_("Code sent. A new one in {s} s.").format(s=self.left))

    def check(self) -> None:
        if self.otp_id is None:
            self.fail(_("Send the code first."))
            return
        otp_id, code = self.otp_id, self.code.text()
        self.tasks.run(
            lambda: self.counter.confirm(otp_id, code),
            lambda _r: self.accept(),
            self.fail,
            owner=self,
        )


class ReturnDialog(Dialog):
    """Find a sale by the slip's QR or number, choose quantities, see the points, confirm."""

    def __init__(
        self,
        tasks: Tasks,
        counter: Counter,
        on_returned: Callable[[Returned], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(_("Return"), parent)
        self.tasks, self.counter, self.on_returned = tasks, counter, on_returned
        self.found: FoundSale | None = None
        self.scale = 0
        self.ref = _field(_("Scan the slip's QR or type the sale number"))
        self.ref.returnPressed.connect(self.look_up)
        self.layout_.addWidget(self.ref)
        self.sale = QLabel("")
        self.layout_.addWidget(self.sale)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            [_("Goods"), _("Bought"), _("Returned before"), _("Amount"), _("Return now")]
        )
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(40)
        self.table.itemChanged.connect(lambda _i: self.preview())
        self.layout_.addWidget(self.table)
        self.summary = QLabel("")
        self.summary.setObjectName("toPay")
        self.summary.setWordWrap(True)
        self.layout_.addWidget(self.summary)
        self.add_button(_("Find  Enter"), self.look_up)
        self.add_button(_("Return  F12"), self.confirm, primary=True)
        self.add_button(_("Cancel  Esc"), self.reject)
        self.finish_layout()
        self.resize(820, 560)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_F12:
            self.confirm()
            return
        super().keyPressEvent(event)

    def look_up(self) -> None:
        ref = self.ref.text()
        till = self.counter.till
        self.tasks.run(
            lambda: (find_sale(till, ref), till.program().points_scale),
            self._show,
            self.fail,
            owner=self,
        )

    def _show(self, got: tuple[FoundSale, int]) -> None:
        found, self.scale = got
        self.found = found
        self.error.setText("")
        self.sale.setText(
            _("Sale {id} of {when}; customer: {who}").format(
                id=found.sale_id[:8],
                when=local_time(found.created_at, "%d.%m.%Y %H:%M"),
                who=found.customer_label or "—",
            )
        )
        self.table.blockSignals(True)
        self.table.setRowCount(len(found.lines))
        for row, line in enumerate(found.lines):
            values = [
                line.label,
                _qty(line.qty),
                _qty(line.returned),
                display_money(line.final_amount),
                "0",
            ]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col != 4:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        if found.lines:
            self.table.setCurrentCell(0, 4)
            self.table.setFocus()
        self.summary.setText("")

    def quantities(self) -> dict[str, int]:
        assert self.found is not None
        out = {}
        for row, line in enumerate(self.found.lines):
            item = self.table.item(row, 4)
            text = (item.text() if item else "0").strip().replace(",", ".") or "0"
            if text.strip("0.") == "":
                out[line.line_id] = 0
                continue
            try:
                out[line.line_id] = parse_quantity(text)
            except Exception:  # noqa: BLE001 - any bad number is reported the same way
                raise TillError(
                    _("Line {n}: {qty!r} is not a quantity.").format(n=row + 1, qty=text)
                ) from None
        return out

    def preview(self) -> None:
        if self.found is None:
            return
        try:
            quantities = self.quantities()
            if not any(quantities.values()):
                self.summary.setText("")
                return
            result = preview_return(self.found, quantities, self.scale)
        except UserFacingError as exc:
            self.fail(exc.message)
            return
        self.error.setText("")
        self.summary.setText(_describe(result, self.scale))

    def confirm(self) -> None:
        if self.found is None:
            self.fail(_("Find the sale first."))
            return
        try:
            quantities = {k: v for k, v in self.quantities().items() if v > 0}
        except TillError as exc:
            self.fail(exc.message)
            return
        if not quantities:
            self.fail(_("Choose what to return: type a quantity on at least one line."))
            return
        till, sale_id = self.counter.till, self.found.sale_id
        self.tasks.run(
            lambda: till.return_sale(sale_id, quantities), self._done, self.fail, owner=self
        )

    def _done(self, returned: Returned) -> None:
        self.on_returned(returned)
        self.accept()


def _qty(qty: int) -> str:
    return str(qty // 1000) if qty % 1000 == 0 else f"{qty / 1000:.3f}"


def _describe(result: ReturnResult, scale: int) -> str:
    return _(
        "Refund {money}; points returned to the customer {restored}; points taken back {revoked}."
    ).format(
        money=display_money(result.refund_amount),
        restored=format_points(result.points_restored, scale),
        revoked=format_points(result.points_revoked, scale),
    )


class TableDialog(Dialog):
    """A read-only table (history, review list)."""

    def __init__(self, title: str, headers: list[str], parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.layout_.addWidget(self.note)
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.layout_.addWidget(self.table)
        self.add_button(_("Close  Esc"), self.reject)
        self.finish_layout()
        self.resize(860, 560)

    def fill(self, rows: list[list[str]]) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))


HISTORY_KINDS = {
    "earn": N_("earned"),
    "redeem": N_("spent"),
    "return_revoke": N_("taken back (return)"),
    "return_restore": N_("given back (return)"),
    "expire": N_("expired"),
    "adjust": N_("adjustment"),
    "welcome": N_("welcome bonus"),
    "birthday": N_("birthday bonus"),
    "opening": N_("opening balance"),
    "profile": N_("profile bonus"),
}


def history_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for it in items:
        at = it.get("at") or it.get("occurred_at") or ""
        try:
            when = local_time(datetime.fromisoformat(str(at)), "%d.%m.%Y %H:%M")
        except ValueError:
            when = str(at)
        kind = str(it.get("kind") or it.get("type") or "")
        pending = ""
        if it.get("available_from"):
            try:
                day = local_time(datetime.fromisoformat(str(it["available_from"])), "%d.%m.%Y")
            except ValueError:
                day = str(it["available_from"])[:10]
            pending = _("from {date}").format(date=day)
        if it.get("estimated"):
            pending = _("estimated, not yet confirmed")
        rows.append(
            [
                when,
                _(HISTORY_KINDS.get(kind, kind)),
                str(it.get("amount", "")),
                pending,
                " · ".join(
                    str(x)
                    for x in (
                        it.get("chain_id"),
                        it.get("store_id"),
                        str(it["purchase_id"])[:8] if it.get("purchase_id") else None,
                    )
                    if x
                ),
            ]
        )
    return rows


def review_rows(items: list[ReviewItem]) -> list[list[str]]:
    return [
        [
            str(i.seq),
            i.kind,
            i.subject or "",
            local_time(i.created_at, "%d.%m %H:%M"),
            i.reason or "",
        ]
        for i in items
    ]


def status_text(status: Status | None) -> str:
    if status is None:
        return _("Checking the connection…")
    lines = [
        _("Service: {url}").format(url=status.server or "—"),
        _("Connection: online")
        if status.online
        else _("Connection: offline since {time}").format(time=local_time(status.offline_since)),
        _("Waiting to be sent: {n}").format(n=status.queued)
        + (
            "  " + _("(oldest from {time})").format(time=local_time(status.oldest, "%d.%m %H:%M"))
            if status.oldest
            else ""
        ),
        _("Refused by the service (review list): {n}").format(n=status.review),
        _("Last sent: {t}").format(t=_iso_local(status.last_push_at)),
        _("Last synced: {t}").format(t=_iso_local(status.last_pull_at)),
        _("Database: {state}").format(state=status.database),
    ]
    if status.skewed and status.skew_s is not None:
        lines.append(
            _("The till's clock differs from the service's by {s:.0f} s: set the clock.").format(
                s=status.skew_s
            )
        )
    if status.last_error:
        lines.append(_("Last problem: {error}").format(error=status.last_error))
    return "\n".join(lines)


def _iso_local(text: str | None) -> str:
    if not text:
        return "—"
    try:
        return local_time(datetime.fromisoformat(text), "%d.%m %H:%M:%S")
    except ValueError:
        return text


class StatusDialog(Dialog):
    def __init__(
        self, status: Status | None, sync_now: Callable[[], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(_("Connection"), parent)
        self.text = QLabel(status_text(status))
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layout_.addWidget(self.text)
        self.add_button(_("Sync now"), sync_now, primary=True)
        self.add_button(_("Close  Esc"), self.reject)
        self.finish_layout()

    def update_status(self, status: Status) -> None:
        self.text.setText(status_text(status))


class HelpDialog(Dialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(_("Keys"), parent)
        table = QTableWidget(len(SHORTCUTS), 3)
        table.setHorizontalHeaderLabels([_("Key"), _("Action"), _("What it does")])
        for r, s in enumerate(SHORTCUTS):
            for c, text in enumerate((s.key, _(s.text), _(s.help))):
                table.setItem(r, c, QTableWidgetItem(text))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(True)
        table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.layout_.addWidget(table)
        self.add_button(_("Close  Esc"), self.reject)
        self.finish_layout()
        self.resize(1000, 720)
        self.table = table

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.table.resizeRowsToContents()  # the wrapped descriptions, once the widths are known
