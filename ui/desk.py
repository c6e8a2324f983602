"""The consultant's desk: a customer's points history, and the personal-offer sheet.

Owns: :class:`DeskPage` (``cashier consultant``, or ``Shift+F10`` in the till window).  The
consultant identifies the customer as at the till; the history of points (earned, spent,
returned, expired, pending with the date, with store and chain) pages in from the service; goods
picked from the catalogue make the sheet (built in :mod:`cashier.offer_sheet`), previewed, saved
as PDF (A4 or A5) or printed; an issued sheet is recorded centrally (queued when offline).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cashier.accounts import HistoryPage, history_page, record_sheet
from cashier.counter import Counter, Good
from cashier.desk import cached_coupons
from cashier.i18n import _
from cashier.money import display_money
from cashier.offer_sheet import OfferSheet, SheetGood, build_sheet, sheet_event
from cashier.till import Identified, Served
from ui.dialogs import Dialog, history_rows
from ui.style import TOUCH, big_button, two_columns
from ui.tasks import Tasks
from ui.widgets import CustomerPanel, ScanField

if TYPE_CHECKING:
    from PySide6.QtPrintSupport import QPrinter

    from cashier.till import CustomerView

Paper = Literal["A4", "A5"]
HISTORY_COLUMNS = 5
SIZES = ("A4", "A5")


class DeskPage(QWidget):
    """History and offer sheets for one customer at a time."""

    def __init__(
        self,
        tasks: Tasks,
        counter: Counter,
        *,
        store_name: Callable[[], str],
        say: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.counter = counter
        self.store_name = store_name
        self.say_status = say
        self.customer: CustomerView | None = None
        self.served = Served.OFFLINE
        self.next_cursor: str | None = None
        self.picked: list[Good] = []
        self.sheet: OfferSheet | None = None
        self.dialog: Dialog | None = None

        self.customer_field = ScanField(_("Phone, card or QR of the customer — F2"))
        self.customer_field.entered.connect(lambda text, _s: self.identify(text))
        self.panel = CustomerPanel()
        self.history = QTableWidget(0, HISTORY_COLUMNS)
        self.history.setHorizontalHeaderLabels(
            [_("When"), _("What"), _("Points"), _("Note"), _("Chain · store · sale")]
        )
        header = self.history.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.history.verticalHeader().setVisible(False)
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.more = big_button(_("More history"))
        self.more.clicked.connect(self.load_more)
        self.more.setEnabled(False)
        self.history_note = QLabel("")
        self.history_note.setWordWrap(True)

        self.goods_field = ScanField(_("Goods: SKU or a word from the name — F3"))
        self.goods_field.entered.connect(lambda text, _s: self.search(text))
        self.goods_field.delete_on_empty.connect(self.remove_good)
        self.found = QListWidget()
        self.found.itemActivated.connect(self.pick)
        self.sheet_goods = QTableWidget(0, 3)
        self.sheet_goods.setHorizontalHeaderLabels([_("Goods"), _("Price"), _("SKU")])
        sheet_header = self.sheet_goods.horizontalHeader()
        sheet_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        sheet_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.sheet_goods.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sheet_goods.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.valid = QSpinBox()
        self.valid.setRange(1, 90)
        self.valid.setValue(14)
        self.valid.setSuffix(" " + _("days"))
        self.valid.setMinimumHeight(TOUCH)
        self.paper = QComboBox()
        self.paper.addItems(list(SIZES))
        self.paper.setMinimumHeight(TOUCH)
        self.info = QLabel("")
        self.info.setObjectName("info")
        self.info.setWordWrap(True)
        self._lay_out()

    def _lay_out(self) -> None:
        left = QVBoxLayout()
        left.addWidget(self.customer_field)
        left.addWidget(self.panel)
        left.addWidget(QLabel(_("Points history")))
        left.addWidget(self.history, 1)
        left.addWidget(self.history_note)
        left.addWidget(self.more)
        right = QVBoxLayout()
        right.addWidget(QLabel(_("Personal-offer sheet")))
        right.addWidget(self.goods_field)
        right.addWidget(self.found, 1)
        right.addWidget(self.sheet_goods, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel(_("Valid for")))
        row.addWidget(self.valid)
        row.addWidget(QLabel(_("Paper")))
        row.addWidget(self.paper)
        right.addLayout(row)
        buttons = QHBoxLayout()
        for text, slot, primary in (
            (_("Remove  Del"), self.remove_good, False),
            (_("Preview"), self.preview, False),
            (_("PDF…"), self.save_pdf, False),
            (_("Print  F12"), self.print_sheet, True),
        ):
            button = big_button(text, primary=primary)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        right.addLayout(buttons)
        right.addWidget(self.info)
        splitter = two_columns(left, right, (640, 620))
        outer = QVBoxLayout(self)
        outer.addWidget(splitter)

    def say(self, text: str, *, error: bool = False) -> None:
        self.info.setProperty("error", error)
        self.info.setText(text)
        self.info.style().unpolish(self.info)
        self.info.style().polish(self.info)
        self.say_status(text)

    def fail(self, text: str) -> None:
        self.say(text, error=True)

    # -- the customer and the history ------------------------------------------------------------
    def identify(self, text: str) -> None:
        self.customer_field.clear()
        till = self.counter.till

        def job() -> tuple[Identified, HistoryPage | None, list[Any]]:
            found = till.identify(text)
            if found.customer is None:
                return found, None, []
            page = history_page(till, found.customer.id)
            return found, page, cached_coupons(till, found.customer.id)

        self.tasks.run(job, self._identified, self.fail)

    def _identified(self, got: tuple[Identified, HistoryPage | None, list[Any]]) -> None:
        found, page, coupons = got
        if found.customer is None or page is None:
            self.fail(found.message or _("No customer with this phone or card."))
            return
        if self.customer is None or self.customer.id != found.customer.id:
            self.picked = []  # a sheet is one customer's
            self._show_picked()
        self.customer, self.served, self.coupons = found.customer, found.served, coupons
        self.panel.show_customer(found.customer, found.served, coupons)
        self.history.setRowCount(0)
        self._add_history(page)
        self.say(_("Customer: {name}").format(name=found.customer.display_name))
        self.goods_field.setFocus()

    def _add_history(self, page: HistoryPage) -> None:
        rows = history_rows(list(page.items))
        start = self.history.rowCount()
        self.history.setRowCount(start + len(rows))
        for r, row in enumerate(rows, start=start):
            for c, text in enumerate(row):
                self.history.setItem(r, c, QTableWidgetItem(text))
        self.next_cursor = page.next_cursor
        self.more.setEnabled(page.next_cursor is not None)
        self.history_note.setText(
            _("From the service: every store and chain of the program.")
            if page.served is Served.ONLINE
            else _("Offline: only this till's sales are shown.")
        )

    def load_more(self) -> None:
        if self.customer is None or self.next_cursor is None:
            return
        till, customer_id, cursor = self.counter.till, self.customer.id, self.next_cursor
        self.tasks.run(
            lambda: history_page(till, customer_id, cursor), self._add_history, self.fail
        )

    # -- the sheet -------------------------------------------------------------------------------
    def search(self, text: str) -> None:
        self.goods_field.clear()
        counter = self.counter

        def job() -> list[Good]:
            try:
                return [counter.find_good(text)]
            except Exception:  # noqa: BLE001 - not a SKU: search by name
                return counter.search_goods(text, limit=30)

        self.tasks.run(job, self._found, self.fail)

    def _found(self, goods: list[Good]) -> None:
        self.found.clear()
        for good in goods:
            item = QListWidgetItem(f"{good.name}  —  {display_money(good.price)}")
            item.setData(Qt.ItemDataRole.UserRole, good)
            self.found.addItem(item)
        if len(goods) == 1:
            self.pick(self.found.item(0))
        elif goods:
            self.found.setCurrentRow(0)
            self.found.setFocus()
        else:
            self.fail(_("Nothing found in the catalogue."))

    def pick(self, item: QListWidgetItem) -> None:
        good: Good = item.data(Qt.ItemDataRole.UserRole)
        if any(g.sku == good.sku for g in self.picked):
            self.say(_("Already on the sheet: {name}").format(name=good.name))
            return
        self.picked.append(good)
        self._show_picked()
        self.goods_field.setFocus()

    def remove_good(self) -> None:
        row = self.sheet_goods.currentRow()
        if 0 <= row < len(self.picked):
            del self.picked[row]
            self._show_picked()

    def _show_picked(self) -> None:
        self.sheet_goods.setRowCount(len(self.picked))
        for r, good in enumerate(self.picked):
            for c, text in enumerate((good.name, display_money(good.price), good.sku)):
                self.sheet_goods.setItem(r, c, QTableWidgetItem(text))
        self.sheet = None

    def _with_sheet(self, then: Callable[[OfferSheet], None]) -> None:
        """Build the sheet on the till's lane (the rules are read from the store), then go on.
        What the consultant chose is read here, on the GUI thread; the job gets plain values."""
        if self.customer is None:
            self.fail(_("Identify the customer first (F2)."))
            return
        if not self.picked:
            self.fail(_("Pick goods for the sheet first (F3)."))
            return
        till, customer = self.counter.till, self.customer
        goods = [SheetGood(g.sku, g.name, g.category, g.price) for g in self.picked]
        valid_days, store = self.valid.value(), self.store_name()
        consultant = self.counter.cashier.name if self.counter.cashier else None
        coupons = [
            (c.title, c.valid_till.date().isoformat() if c.valid_till else "")
            for c in getattr(self, "coupons", [])
        ]

        def build() -> OfferSheet:
            return build_sheet(
                till.program(),
                customer,
                goods,
                issued_at=till.clock(),
                valid_days=valid_days,
                store_name=store,
                consultant=consultant,
                missing=customer.missing,
                coupons=coupons,
            )

        def built(sheet: OfferSheet) -> None:
            self.sheet = sheet
            then(sheet)

        self.tasks.run(build, built, self.fail)

    def preview(self) -> None:
        self._with_sheet(self._show_preview)

    def _show_preview(self, sheet: OfferSheet) -> None:
        from ui.offer_sheet import sheet_image

        dialog = Dialog(_("Offer sheet"), self)
        image = QLabel()
        image.setPixmap(QPixmap.fromImage(sheet_image(sheet, self.paper_size(), dpi=72)))
        scroll = QScrollArea()
        scroll.setWidget(image)
        dialog.layout_.addWidget(scroll)

        def print_now() -> None:
            dialog.accept()
            self.print_sheet()

        dialog.add_button(_("Print  F12"), print_now, primary=True)
        dialog.add_button(_("Close  Esc"), dialog.reject)
        dialog.finish_layout()
        dialog.resize(720, 760)
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def save_pdf(self) -> None:
        self._with_sheet(self._ask_pdf)

    def _ask_pdf(self, sheet: OfferSheet) -> None:
        default = str(Path.home() / f"offer-{sheet.short_id}.pdf")
        path, _filter = QFileDialog.getSaveFileName(
            self, _("Save the sheet as PDF"), default, "PDF (*.pdf)"
        )
        if path:
            self.write_pdf(sheet, Path(path), self.paper_size())

    def paper_size(self) -> Paper:
        return "A5" if self.paper.currentText() == "A5" else "A4"

    def write_pdf(self, sheet: OfferSheet, path: Path, size: Paper) -> None:
        """Write the PDF (io lane), then record the sheet as issued."""
        from ui.offer_sheet import sheet_pdf

        self.tasks.run(
            lambda: sheet_pdf(sheet, path, size),
            lambda _r: self._issued(sheet, _("Saved: {path}").format(path=path)),
            self.fail,
            lane="io",
        )

    def print_sheet(self) -> None:
        self._with_sheet(self._ask_printer)

    def _ask_printer(self, sheet: OfferSheet) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        dialog.setWindowTitle(_("Print the offer sheet"))
        if dialog.exec() == QPrintDialog.DialogCode.Accepted:
            self.print_on(printer, sheet)

    def print_on(self, printer: QPrinter, sheet: OfferSheet) -> None:
        from ui.offer_sheet import print_sheet

        self.tasks.run(
            lambda: print_sheet(printer, sheet),
            lambda _r: self._issued(sheet, _("Sent to the printer.")),
            self.fail,
            lane="io",
        )

    def _issued(self, sheet: OfferSheet, what: str) -> None:
        till = self.counter.till
        event = sheet_event(sheet)

        def recorded(served: Served) -> None:
            where = (
                _("recorded by the service")
                if served is Served.ONLINE
                else _("will be recorded when the till is online")
            )
            self.say(f"{what} " + _("Sheet {no}: {where}.").format(no=sheet.short_id, where=where))

        self.tasks.run(lambda: record_sheet(till, event), recorded, self.fail)

    def focus_customer(self) -> None:
        self.customer_field.setFocus()

    def focus_goods(self) -> None:
        self.goods_field.setFocus()
