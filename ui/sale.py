"""The sale screen: identify, ring up, spend points, pay — keyboard first.

Owns: :class:`SalePage`.  Every step runs on the till's lane through :class:`ui.tasks.Tasks` and
comes back as a :class:`cashier.counter.SaleView` snapshot that the page draws; the page itself
keeps no rule.  Keys: see :mod:`ui.shortcuts`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from cashier.counter import Counter, Good, SaleView
from cashier.desk import Coupon, cached_coupons
from cashier.i18n import _
from cashier.identifiers import IdentifierKind, classify
from cashier.money import display_money
from cashier.offer_sheet import SHEET_PREFIX
from cashier.slip import Slip, build_slip
from cashier.till import Committed, Identified, Priced, Returned, TillError
from ui.dialogs import FreeLineDialog, QtyDialog, ReturnDialog, SmsDialog, SplitDialog
from ui.shortcuts import label
from ui.style import big_button, two_columns
from ui.tasks import Tasks
from ui.widgets import CartTable, CustomerPanel, HandoffBanner, ScanField, TotalsPanel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NeedsCode:
    """The service asks for the customer's SMS code before spending this many points."""

    message: str


class SalePage(QWidget):
    """The sale being rung up; ``paid(slip)`` after a sale is written."""

    paid = Signal(object)
    message = Signal(str)
    """A line for the status bar (what happened, what to do)."""

    def __init__(
        self,
        tasks: Tasks,
        counter: Counter,
        *,
        store_name: Callable[[], str],
        after_sale: Callable[[], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.counter = counter
        self.store_name = store_name
        self.after_sale = after_sale
        self.view: SaleView | None = None
        self._quote_dirty = False
        self._quoting = False
        self.paying = False
        self.dialog: QDialog | None = None
        self.categories: list[str] = ["other"]
        """For a free-amount line: the catalogue's categories, loaded once on the lane."""

        self.customer_field = ScanField(_("Phone, card or QR of the customer — F2"))
        self.goods_field = ScanField(_("SKU or barcode — F3; a word finds goods"))
        self.customer_field.entered.connect(self.identify)
        self.goods_field.entered.connect(self.goods_entered)
        self.customer_field.delete_on_empty.connect(self.remove_line)
        self.goods_field.delete_on_empty.connect(self.remove_line)
        self.handoff = HandoffBanner()
        self.handoff.accepted.connect(self.accept_handoff)
        self.info = QLabel("")
        self.info.setObjectName("info")
        self.info.setWordWrap(True)
        self.cart = CartTable()
        self.customer = CustomerPanel()
        self.totals = TotalsPanel()
        self.totals.redeem_entered.connect(self.set_redeem)
        self.pay_button = big_button(label("pay"), primary=True)
        self.pay_button.setMinimumHeight(72)
        self.pay_button.clicked.connect(self.pay)

        self._lay_out()
        self.draw(None)

    def _lay_out(self) -> None:
        left = QVBoxLayout()
        left.addWidget(self.handoff)
        left.addWidget(self.customer_field)
        left.addWidget(self.goods_field)
        left.addWidget(self.info)
        left.addWidget(self.cart, 1)
        row = QGridLayout()
        for n, (action, slot) in enumerate(
            (
                ("qty", self.change_qty),
                ("remove", self.remove_line),
                ("free", self.free_line),
                ("split", self.split),
                ("return", self.open_return),
                ("void", self.void),
            )
        ):
            button = big_button(label(action))
            button.clicked.connect(slot)
            row.addWidget(button, n // 3, n % 3)
        left.addLayout(row)
        right = QVBoxLayout()
        right.addWidget(self.customer, 1)
        right.addWidget(self.totals)
        methods = QHBoxLayout()
        method = big_button(label("method"))
        method.clicked.connect(self.next_method)
        methods.addWidget(method)
        right.addLayout(methods)
        right.addWidget(self.pay_button)
        splitter = two_columns(left, right, (800, 460))
        column = splitter.widget(1)
        if column is not None:
            column.setMinimumWidth(420)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.addWidget(splitter)

    def show_dialog(self, dialog: QDialog) -> None:
        """Open a dialog window-modal without a nested event loop; kept for the tests."""
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: self._dialog_closed(dialog))
        dialog.open()

    def _dialog_closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    # -- running and drawing -------------------------------------------------------------------
    def say(self, text: str, *, error: bool = False) -> None:
        self.info.setProperty("error", error)
        self.info.setText(text)
        self.info.style().unpolish(self.info)
        self.info.style().polish(self.info)
        self.message.emit(text)

    def fail(self, text: str) -> None:
        self.say(text, error=True)

    def do(
        self,
        step: Callable[[], Any],
        after: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Run a step of the sale on the till's lane, then draw the sale as it stands."""
        counter = self.counter

        def job() -> tuple[Any, SaleView, list[Coupon]]:
            result = step()
            view = counter.snapshot()
            coupons = cached_coupons(counter.till, view.customer.id) if view.customer else []
            return result, view, coupons

        def done(got: tuple[Any, SaleView, list[Coupon]]) -> None:
            result, view, coupons = got
            self.draw(view, coupons)
            if after is not None:
                after(result)

        self.tasks.run(job, done, on_error or self.fail)

    def refresh(self) -> None:
        self.do(lambda: None)

    def draw(self, view: SaleView | None, coupons: list[Coupon] | None = None) -> None:
        if view is None:
            self.cart.setRowCount(0)
            self.customer.show_customer(None, self.counter.customer_served, [])
            return
        self.view = view
        scale = view.priced.quote.program.points_scale if view.priced else 0
        if coupons is not None:
            self.customer.show_customer(view.customer, view.customer_served, coupons, scale)
        self.cart.show_sale(view)
        self.totals.show_sale(view)
        self.pay_button.setEnabled(bool(view.lines))

    # -- customer ------------------------------------------------------------------------------
    def offer_handoff(self, item: dict[str, Any]) -> None:
        """A customer identified or registered on the store's tablet: offered, not imposed."""
        self.handoff.offer(item)

    def accept_handoff(self) -> None:
        item = self.handoff.current
        if item is None:
            return
        self.identify(str(item["customer_id"]))

    def identify(self, text: str, scanned: bool = False) -> None:
        counter = self.counter
        self.customer_field.clear()
        self.do(lambda: counter.identify(text), self._identified)

    def _identified(self, found: Identified) -> None:
        if found.customer is not None:
            text = _("Customer found: {name}").format(name=found.customer.display_name)
            if found.served.value != "online":
                text += " " + _("(by this till's data: the service did not answer)")
            self.say(text)
            self.handoff.clear()  # the customer is on the sale: an offer no longer stands
            self.goods_field.setFocus()
            return
        texts = {
            "not_found": _(
                "No customer with this phone or card. Check it, or the customer can join on the "
                "tablet."
            ),
            "card_blocked": _("The card is blocked: ask for the phone number instead."),
        }
        self.fail(found.message or texts.get(found.status) or _("The code was not recognised."))
        self.customer_field.setFocus()

    def clear_customer(self) -> None:
        self.do(self.counter.clear_customer)

    # -- goods ---------------------------------------------------------------------------------
    def goods_entered(self, text: str, scanned: bool) -> None:
        """A SKU or barcode adds the good; a customer's QR scanned here identifies them; a word
        searches the catalogue."""
        self.goods_field.clear()
        counter = self.counter
        if text.strip().upper().startswith(SHEET_PREFIX):
            self.do(lambda: counter.load_sheet(text), self._sheet_loaded)
            return
        if scanned and _is_customer_code(text):
            self.identify(text, scanned)
            return

        def step() -> Any:
            try:
                good = counter.find_good(text)
            except TillError:
                if scanned or text.strip().isdigit():
                    raise
                found = counter.search_goods(text, limit=8)
                if len(found) != 1:
                    if not found:
                        raise
                    return found
                good = found[0]
            if good.weighed:
                return good  # weighed (or by the metre): the quantity is asked first
            return counter.add_good(good)

        self.do(step, self._added)

    def _sheet_loaded(self, got: tuple[int, Identified | None]) -> None:
        added, _found = got
        self.say(_("The offer sheet's goods are in the cart: {n}.").format(n=added))

    def _added(self, result: Any) -> None:
        if isinstance(result, Good):
            self.weigh(result)
            return
        if isinstance(result, list):
            self.say(
                _("Several goods match: {list}. Type the SKU.").format(
                    list="; ".join(f"{g.sku} — {g.name}" for g in result)
                )
            )
            return
        self.say(_("Added: {name}").format(name=result.name or result.category or result.sku))

    def change_qty(self) -> None:
        row = self.cart.currentRow()
        if self.view is None or not 0 <= row < len(self.view.lines):
            self.fail(_("Choose a line of the receipt first."))
            return
        line = self.view.lines[row]
        current = str(line.qty // 1000) if line.qty % 1000 == 0 else f"{line.qty / 1000:.3f}"
        dialog = QtyDialog(current, line.name or line.sku, self)

        def change() -> None:
            qty = dialog.qty.text()  # read on the GUI thread, while the dialog exists
            self.do(lambda: self.counter.set_qty(row, qty))

        dialog.accepted.connect(change)
        self.show_dialog(dialog)

    def weigh(self, good: Good) -> None:
        """A weighed good (or one sold by the metre): the quantity first, then the line."""
        dialog = QtyDialog(
            "", _("{name}: weight in kg or length in m").format(name=good.name), self
        )

        def add() -> None:
            qty = dialog.qty.text()  # read here, on the GUI thread, while the dialog exists
            self.do(
                lambda: self.counter.add_good(good, qty),
                lambda item: self.say(_("Added: {name}").format(name=item.name or item.sku)),
            )

        dialog.accepted.connect(add)
        self.show_dialog(dialog)

    def remove_line(self) -> None:
        row = self.cart.currentRow()
        if self.view is None or not 0 <= row < len(self.view.lines):
            self.fail(_("Choose a line of the receipt first."))
            return
        line_id = self.view.lines[row].line_id
        self.do(lambda: self.counter.remove(row, line_id))

    def free_line(self) -> None:
        categories = self.categories
        dialog = FreeLineDialog(categories, self)

        def add() -> None:
            category, amount = dialog.category.currentText(), dialog.amount.text()
            self.do(lambda: self.counter.add_free(category, amount))

        dialog.accepted.connect(add)
        self.show_dialog(dialog)

    def load_categories(self) -> None:
        self.tasks.run(
            self.counter.categories, lambda c: setattr(self, "categories", c), quiet=True
        )

    # -- points and payment ----------------------------------------------------------------------
    def set_redeem(self, text: str) -> None:
        self.do(lambda: self.counter.set_redeem(text))
        self.goods_field.setFocus()

    def focus_points(self) -> None:
        if self.view is None or self.view.customer is None:
            self.fail(_("Identify the customer first (F2)."))
            return
        self.totals.redeem.setFocus()
        self.totals.redeem.selectAll()

    def next_method(self) -> None:
        self.do(self.counter.next_payment)

    def split(self) -> None:
        if self.view is None or self.view.priced is None:
            self.fail(_("The receipt is empty: add goods first."))
            return
        dialog = SplitDialog(self.view.priced.quote.to_pay, self)

        def split() -> None:
            amounts, rest = dialog.amounts()
            self.do(lambda: self.counter.set_split(amounts, rest))

        dialog.accepted.connect(split)
        self.show_dialog(dialog)

    def toggle_points(self) -> None:
        self.cart.show_points(not self.cart.points_shown)

    def pay(self) -> None:
        if self.paying:
            return
        if self.view is None or not self.view.lines:
            self.fail(_("The receipt is empty: add goods first."))
            return
        self.paying = True
        self.pay_button.setEnabled(False)
        counter = self.counter
        store = self.store_name()
        seen = self.view.fingerprint

        def job() -> Any:
            try:
                priced, committed = counter.pay(seen)
            except TillError as exc:
                if exc.code == "otp_required":
                    return NeedsCode(exc.message)
                raise
            counter.new_sale()  # the sale is written: whatever happens next, a new one starts
            try:
                slip = _slip(counter, priced, committed, store)
            except Exception:  # the sale stands; only its slip could not be made
                log.exception("the slip of sale %s could not be made", committed.sale_id)
                slip = None
            return slip, committed

        def failed(message: str) -> None:
            self._pay_done()
            self.fail(message)

        self.do(job, self._paid, failed)

    def _pay_done(self) -> None:
        self.paying = False
        self.pay_button.setEnabled(bool(self.view and self.view.lines))

    def _paid(self, result: Any) -> None:
        self._pay_done()
        if isinstance(result, NeedsCode):
            self.say(result.message)
            phone = (self.view.identified_by if self.view else None) or ""
            try:
                phone = phone if classify(phone).kind is IdentifierKind.PHONE else ""
            except Exception:  # noqa: BLE001 - not a phone: the cashier types it
                phone = ""
            dialog = SmsDialog(self.tasks, self.counter, phone, self)
            dialog.accepted.connect(self.pay)
            self.show_dialog(dialog)
            if phone:
                dialog.send()
            return
        slip, committed = result
        self.say(committed.message)
        self.handoff.clear()
        self.customer_field.setFocus()
        if slip is not None:
            self.paid.emit(slip)
        self.after_sale()

    def void(self) -> None:
        self.handoff.clear()
        self.do(self.counter.void, lambda _r: self.say(_("New sale.")))
        self.customer_field.setFocus()

    # -- returns --------------------------------------------------------------------------------
    def open_return(self) -> None:
        self.show_dialog(ReturnDialog(self.tasks, self.counter, self._returned, self))

    def _returned(self, returned: Returned) -> None:
        self.say(
            _(
                "Return saved: refund {money}; points given back {restored}, taken back {revoked}."
            ).format(
                money=display_money(returned.refund_amount),
                restored=returned.points_restored,
                revoked=returned.points_revoked,
            )
        )
        self.after_sale()


def _is_customer_code(text: str) -> bool:
    try:
        kind = classify(text).kind
    except Exception:  # noqa: BLE001 - not a customer's code: a good's
        return False
    return kind in (IdentifierKind.WALLET_TOKEN, IdentifierKind.MINDBOX_QR)


def _slip(counter: Counter, priced: Priced, committed: Committed, store: str) -> Slip:
    cashier = counter.cashier.name if counter.cashier else None
    return build_slip(
        committed, priced, store_name=store, cashier_name=cashier, printed_at=counter.till.clock()
    )
