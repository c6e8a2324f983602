"""The till window: enrolment, login, the sale, and the status bar — one window, F-keys.

Owns: :class:`MainWindow`.  It opens the till's runtime off the GUI thread, starts the background
sync loop, switches between the enrolment, login and sale pages, maps every key of
:mod:`ui.shortcuts` to its action, and shows the connection in the status bar (online, or offline
since HH:MM; what waits to be sent and since when; the last sync; a click shows the details).
Closing it stops the camera, the sync loop and the workers, then releases the till's store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from cashier.errors import UserFacingError
from cashier.i18n import LANGUAGE_FILE, _
from ui.camera import Camera
from ui.pages import EnrolPage, LoginPage
from ui.shortcuts import SHORTCUTS
from ui.style import STYLE, local_time
from ui.tasks import Tasks

if TYPE_CHECKING:  # the till's core loads on the worker while the first screen is up
    from PySide6.QtPrintSupport import QPrinter

    from cashier.scanning.decoders import Frame
    from cashier.slip import Slip
    from cashier.till import CashierView
    from sync.handoff import HandoffWatcher
    from sync.runtime import Background, Status, TillRuntime
    from ui.desk import DeskPage
    from ui.dialogs import StatusDialog
    from ui.sale import SalePage

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
STORE_FILE = "till.db"
"""The till's database in its data folder (``cashier.store.db.DB_NAME``; a test keeps them equal)."""


class MainWindow(QMainWindow):
    def __init__(
        self,
        folder: Path,
        *,
        clock: Clock | None = None,
        budget: float | None = None,
        probe_every: float = 5.0,
        camera_frames: Callable[[], Iterator[Frame]] | None = None,
        handoff_wait: float = 1.5,
        mode: str = "till",
    ) -> None:
        super().__init__()
        self.folder = folder
        self.clock = clock
        self.budget = budget
        self.probe_every = probe_every
        self.setWindowTitle(_("Loyalty till"))
        self.setStyleSheet(STYLE)
        self.tasks = Tasks(self)
        self.runtime: TillRuntime | None = None
        self.background: Background | None = None
        self.handoffs: HandoffWatcher | None = None
        self.handoff_wait = handoff_wait
        self.mode = mode
        self.desk_page: DeskPage | None = None
        self.cashier: CashierView | None = None
        self.locked_by: CashierView | None = None
        self.shift_no: int | None = None
        self.status: Status | None = None
        self.status_dialog: StatusDialog | None = None
        self.last_slip: Slip | None = None
        self.preview: QWidget | None = None
        self.store_name = ""
        self.settings: dict[str, str] = {}
        self.camera = Camera(
            self.tasks, self._camera_code, self._camera_problem, frames=camera_frames
        )

        self.pages = QStackedWidget()
        self.loading = QLabel(_("Opening the till…"))
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.enrol_page = EnrolPage()
        self.enrol_page.submitted.connect(self._enrol)
        self.login_page = LoginPage()
        self.login_page.submitted.connect(self._login)
        self.sale_page: SalePage | None = None
        for page in (self.loading, self.enrol_page, self.login_page):
            self.pages.addWidget(page)
        self.setCentralWidget(self.pages)

        self._build_bars()
        self.resize(1280, 800)

        folder_, clock_, budget_ = folder, clock, budget

        def open_runtime() -> tuple[TillRuntime, str, dict[str, str]]:
            from sync.runtime import TillRuntime
            from ui.settings import read_settings

            runtime = TillRuntime.open(folder_, clock=clock_, budget=budget_)
            self.runtime = runtime  # here, not in the callback: a PIN typed meanwhile waits for it
            return runtime, runtime.meta("store_name") or "", read_settings(runtime)

        if (folder / STORE_FILE).exists():  # an existing till: the PIN can be typed at once
            self._show_login()
        self.tasks.run(open_runtime, self._opened, self._open_failed)

    def _build_bars(self) -> None:
        bar = self.statusBar()
        self.status_button = QPushButton(_("Checking the connection…"))
        self.status_button.setFlat(True)
        self.status_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.status_button.setObjectName("status")
        self.status_button.clicked.connect(self.show_status)
        self.who = QLabel("")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setVisible(False)
        bar.addPermanentWidget(self.busy)
        bar.addPermanentWidget(self.who)
        bar.addPermanentWidget(self.status_button)
        self.tasks.busy_changed.connect(self.busy.setVisible)
        self.tasks.failed.connect(self.say)

        self.actions_: dict[str, QAction] = {}
        handlers = self._handlers()
        for s in SHORTCUTS:
            action = QAction(_(s.text), self)
            keys = [QKeySequence(s.key)]
            if s.key == "Ctrl+Return":  # the keypad's Enter too
                keys.append(QKeySequence("Ctrl+Enter"))
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(handlers[s.action])
            self.addAction(action)
            self.actions_[s.action] = action
        menu = self.menuBar().addMenu(_("Till"))
        settings = QAction(_("Settings…"), self)
        settings.triggered.connect(self.open_settings)
        menu.addAction(settings)
        for name in ("status", "lock", "close_shift", "help"):
            menu.addAction(self.actions_[name])

    # -- opening, enrolment ----------------------------------------------------------------------
    def _opened(self, got: tuple[TillRuntime, str, dict[str, str]]) -> None:
        self.runtime, self.store_name, self.settings = got
        self.login_page.store.setText(self.store_name)
        if not self.runtime.enrolled:
            self.pages.setCurrentWidget(self.enrol_page)
            self.enrol_page.start()
            self.status_button.setText(_("Not connected to a service"))
            return
        self._start_background()
        self.tasks.run(_preload, lane="io", quiet=True)
        if self.pages.currentWidget() is not self.login_page:
            self._show_login()

    def _open_failed(self, message: str) -> None:
        self.loading.setText(message)
        self.say(message)

    def _enrol(self, server: str, code: str, name: str) -> None:
        old = self.runtime
        folder, clock, budget = self.folder, self.clock, self.budget

        def job() -> tuple[TillRuntime, str | None, str]:
            from sync.runtime import TillRuntime, enroll

            if old is not None:
                old.close()
            problem = None
            try:
                enroll(folder, server, code, name or "till")
            except UserFacingError as exc:
                problem = exc.message
            runtime = TillRuntime.open(folder, clock=clock, budget=budget)
            if problem is None and runtime.puller is not None:
                runtime.puller.all()
            return runtime, problem, runtime.meta("store_name") or ""

        def done(got: tuple[TillRuntime, str | None, str]) -> None:
            self.runtime, problem, self.store_name = got
            if problem is not None:
                self.enrol_page.fail(problem)
                return
            self._start_background()
            self._show_login()
            self.say(_("The till is connected to {store}.").format(store=self.store_name))

        self.tasks.run(job, done, self.enrol_page.fail)

    def _start_background(self) -> None:
        from sync.runtime import Background

        assert self.runtime is not None
        self.background = Background(
            self.runtime,
            lambda status: self.tasks.post(self._status_changed, status),
            probe_every=self.probe_every,
            clock=self.clock,
        )
        self.background.start()
        runtime = self.runtime
        if runtime.server and runtime.token:
            from sync.handoff import HandoffWatcher

            self.handoffs = HandoffWatcher(
                runtime.server,
                runtime.token,
                lambda items: self.tasks.post(self._handed_off, items),
                wait=self.handoff_wait,
            )
            self.handoffs.start()

    def _handed_off(self, items: list[dict[str, Any]]) -> None:
        if self.sale_page is not None and self.cashier is not None:
            self.sale_page.offer_handoff(items[-1])
            self.say(_("A customer from the tablet: Ctrl+Enter puts them on this sale."))

    # -- login, lock, shift ----------------------------------------------------------------------
    def _show_login(self) -> None:
        self.pages.setCurrentWidget(self.login_page)
        self.login_page.start(
            locked_by=self.locked_by.name if self.locked_by else None, store=self.store_name
        )

    def _login(self, pin: str) -> None:
        locked = self.locked_by

        def job() -> tuple[CashierView, int]:
            from cashier.till import TillError

            if self.runtime is None:  # the till's store did not open: the page says why
                raise UserFacingError(
                    _("The till's data could not be opened: see the message on the screen.")
                )
            till = self.runtime.till
            cashier = till.login(pin)
            if locked is not None and cashier.id != locked.id and cashier.role != "senior":
                raise TillError(
                    _("The till is locked by {name}: their PIN or a senior cashier's.").format(
                        name=locked.name
                    )
                )
            return cashier, till.open_shift(locked or cashier)

        self.tasks.run(job, self._logged_in, self.login_page.fail)

    def _logged_in(self, got: tuple[CashierView, int]) -> None:
        assert self.runtime is not None
        cashier, shift = got
        unlocking = self.locked_by is not None
        self.locked_by = None
        if not unlocking or self.cashier is None:
            self.cashier = cashier
        self.shift_no = shift
        if self.sale_page is None:
            from cashier.counter import Counter
            from ui.sale import SalePage

            counter = Counter(self.runtime.till, self.cashier, shift)
            self.sale_page = SalePage(
                self.tasks,
                counter,
                store_name=lambda: self.store_name,
                after_sale=self._after_sale,
            )
            self.sale_page.paid.connect(self._show_slip)
            self.sale_page.customer_field.entered.connect(self._close_preview)
            self.sale_page.goods_field.entered.connect(self._close_preview)
            self.sale_page.message.connect(self.say)
            self.pages.addWidget(self.sale_page)
            self.sale_page.load_categories()
        else:
            counter, cashier_now = self.sale_page.counter, self.cashier
            # on the till's lane, like every change of the sale: the next one is theirs
            self.sale_page.do(lambda: counter.start_shift(cashier_now, shift))
        if self.mode == "consultant":
            self.show_desk()
        else:
            self.pages.setCurrentWidget(self.sale_page)
        self.who.setText(
            _("{name} · shift {no}").format(
                name=self.cashier.name if self.cashier else "", no=shift
            )
        )
        self.sale_page.refresh()
        self.sale_page.customer_field.setFocus()

    def lock(self) -> None:
        if self.cashier is None or self.pages.currentWidget() not in (
            self.sale_page,
            self.desk_page,
        ):
            return
        self.camera.stop()
        self.locked_by = self.cashier
        self._show_login()

    def close_shift(self) -> None:
        if self.runtime is None or self.cashier is None:
            return
        till = self.runtime.till

        def close(force: bool) -> None:
            self.tasks.run(lambda: till.close_shift(force=force), self._shift_closed)

        def ask(depth: int) -> None:
            if not depth:
                close(False)
                return
            box = QMessageBox(
                QMessageBox.Icon.Question,
                _("Close the shift"),
                _(
                    "{n} operation(s) have not reached the service yet. They stay on this "
                    "till and are sent when it is online. Close the shift anyway?"
                ).format(n=depth),
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                self,
            )
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            yes = QMessageBox.StandardButton.Yes
            box.buttonClicked.connect(  # no nested event loop inside a result's callback
                lambda button: close(True) if box.standardButton(button) == yes else None
            )
            box.open()

        self.tasks.run(lambda: till.queue_status()["depth"], ask)

    def _shift_closed(self, no: int) -> None:
        self.say(_("Shift {no} is closed.").format(no=no))
        self.cashier = None
        self.locked_by = None
        self.who.setText("")
        if self.sale_page is not None:
            counter = self.sale_page.counter
            self.sale_page.handoff.clear()
            self.sale_page.do(lambda: counter.start_shift(None, None))
        self._show_login()

    # -- the sale's helpers ------------------------------------------------------------------------
    def _after_sale(self) -> None:
        if self.background is not None:
            self.background.wake()

    def _show_slip(self, slip: Slip, *, to_print: bool = False) -> None:
        """After a sale the slip shows beside the sale without taking the keyboard (the next
        customer's scan must not land in it) and closes at the next entry; ``Ctrl+P`` opens it
        to print."""
        self.last_slip = slip
        if self.settings.get("show_slip", "1") == "0" and not to_print:
            return
        from ui.slip import SlipPreview

        self._close_preview()
        preview = SlipPreview(slip, self, on_print=lambda printer: self._print(printer, slip))
        preview.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        preview.finished.connect(lambda _r: self._ready_for_next())
        self.preview = preview
        if to_print:
            preview.open()
            return
        preview.setWindowModality(Qt.WindowModality.NonModal)
        preview.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        preview.show()
        self._ready_for_next()

    def _close_preview(self, *_args: object) -> None:
        preview, self.preview = self.preview, None
        if preview is not None and shiboken6.isValid(preview) and preview.isVisible():
            preview.close()

    def _ready_for_next(self) -> None:
        if self.sale_page is not None and self.pages.currentWidget() is self.sale_page:
            self.sale_page.customer_field.setFocus()

    def _print(self, printer: QPrinter, slip: Slip) -> None:
        from ui.slip import print_slip

        self.tasks.run(
            lambda: print_slip(printer, slip),
            lambda _r: self.say(_("The slip was sent to the printer.")),
            lane="io",
        )

    def reprint(self) -> None:
        if self.last_slip is None:
            self.say(_("No slip yet in this session."))
            return
        self._show_slip(self.last_slip, to_print=True)

    def say(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)

    # -- status --------------------------------------------------------------------------------
    def _status_changed(self, status: Status) -> None:
        self.status = status
        if status.online:
            text = "● " + _("Online")
        else:
            text = "○ " + _("Offline since {time}").format(time=local_time(status.offline_since))
        text += " · " + _("queued {n}").format(n=status.queued)
        if status.oldest is not None:
            text += " " + _("(from {time})").format(time=local_time(status.oldest))
        if status.review:
            text += " · " + _("for review {n}").format(n=status.review)
        if status.last_pull_at:
            with contextlib.suppress(ValueError):
                text += " · " + _("synced {time}").format(
                    time=local_time(datetime.fromisoformat(status.last_pull_at))
                )
        self.status_button.setText(text)
        self.status_button.setProperty("offline", not status.online)
        self.status_button.style().unpolish(self.status_button)
        self.status_button.style().polish(self.status_button)
        if self.status_dialog is not None:
            self.status_dialog.update_status(status)

    def show_status(self) -> None:
        from ui.dialogs import StatusDialog

        self.status_dialog = StatusDialog(self.status, self.sync_now, self)
        self.status_dialog.finished.connect(lambda _r: setattr(self, "status_dialog", None))
        self.status_dialog.open()

    def sync_now(self) -> None:
        if self.background is not None:
            self.background.wake()
            self.say(_("Syncing…"))

    # -- actions ---------------------------------------------------------------------------------
    def _handlers(self) -> dict[str, Callable[[], None]]:
        desk_keys: dict[str, Callable[[DeskPage], None]] = {
            "customer": lambda d: d.focus_customer(),
            "goods": lambda d: d.focus_goods(),
            "remove": lambda d: d.remove_good(),
            "pay": lambda d: d.print_sheet(),
            "reprint": lambda d: d.print_sheet(),
            "desk": lambda _d: self.show_sale(),
            "close_shift": lambda _d: self.close_shift(),
        }

        def on_sale(fn: Callable[[SalePage], None], key: str = "") -> Callable[[], None]:
            def run() -> None:
                page = self.pages.currentWidget()
                if self.sale_page is not None and page is self.sale_page:
                    fn(self.sale_page)
                elif self.desk_page is not None and page is self.desk_page and key in desk_keys:
                    desk_keys[key](self.desk_page)

            return run

        return {
            "help": self.show_help,
            "customer": on_sale(lambda p: p.customer_field.setFocus(), "customer"),
            "goods": on_sale(lambda p: p.goods_field.setFocus(), "goods"),
            "qty": on_sale(lambda p: p.change_qty()),
            "points": on_sale(lambda p: p.focus_points()),
            "method": on_sale(lambda p: p.next_method()),
            "split": on_sale(lambda p: p.split()),
            "free": on_sale(lambda p: p.free_line()),
            "return": on_sale(lambda p: p.open_return()),
            "history": on_sale(lambda _p: self.show_history()),
            "review": on_sale(lambda _p: self.show_review()),
            "pay": on_sale(lambda p: p.pay(), "pay"),
            "remove": on_sale(self._delete_key, "remove"),
            "desk": on_sale(lambda _p: self.show_desk(), "desk"),
            "accept_handoff": on_sale(lambda p: p.accept_handoff()),
            "void": on_sale(lambda p: p.void()),
            "per_line": on_sale(lambda p: p.toggle_points()),
            "camera": on_sale(lambda _p: self.toggle_camera()),
            "reprint": on_sale(lambda _p: self.reprint(), "reprint"),
            "status": self.show_status,
            "lock": self.lock,
            "close_shift": on_sale(lambda _p: self.close_shift(), "close_shift"),
        }

    def show_desk(self) -> None:
        """The consultant's desk: history and offer sheets (Shift+F10 goes back to the sale)."""
        if self.runtime is None or self.cashier is None:
            return
        if self.desk_page is None:
            from cashier.counter import Counter
            from ui.desk import DeskPage

            counter = Counter(self.runtime.till, self.cashier, self.shift_no)
            self.desk_page = DeskPage(
                self.tasks, counter, store_name=lambda: self.store_name, say=self.say
            )
            self.pages.addWidget(self.desk_page)
        desk_counter, cashier_now = self.desk_page.counter, self.cashier
        self.tasks.run(lambda: desk_counter.start_shift(cashier_now, self.shift_no))
        self.pages.setCurrentWidget(self.desk_page)
        self.desk_page.focus_customer()

    def show_sale(self) -> None:
        if self.sale_page is not None:
            self.pages.setCurrentWidget(self.sale_page)
            self.sale_page.customer_field.setFocus()

    def show_help(self) -> None:
        from ui.dialogs import HelpDialog

        HelpDialog(self).open()

    def _delete_key(self, page: SalePage) -> None:
        """Del edits a field that has text in it; otherwise it removes the chosen line."""
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit) and focus.text():
            focus.del_()
            return
        page.remove_line()

    def show_history(self) -> None:
        from ui.dialogs import TableDialog, history_rows

        assert self.sale_page is not None
        assert self.runtime is not None
        view = self.sale_page.view
        if view is None or view.customer is None:
            self.sale_page.fail(_("Identify the customer first (F2)."))
            return
        customer, till = view.customer, self.runtime.till
        dialog = TableDialog(
            _("Points history: {name}").format(name=customer.display_name),
            [_("When"), _("What"), _("Points"), _("Note"), _("Chain · store · sale")],
            self,
        )
        dialog.note.setText(_("Loading…"))

        def done(got: tuple[list[dict[str, Any]], Any]) -> None:
            items, served = got
            dialog.fill(history_rows(items))
            dialog.note.setText(
                _("From the service.")
                if served.value == "online"
                else _("Offline: only this till's sales are shown.")
            )

        self.tasks.run(lambda: till.history(customer.id), done, dialog.fail, owner=dialog)
        self.sale_page.show_dialog(dialog)

    def show_review(self) -> None:
        from cashier.desk import review_items
        from ui.dialogs import TableDialog, review_rows

        assert self.runtime is not None
        if self.cashier is None or self.cashier.role != "senior":
            self.say(_("The review list is for a senior cashier: ask them to open it."))
            if self.sale_page is not None:
                self.sale_page.fail(
                    _("The review list is for a senior cashier: ask them to open it.")
                )
            return
        till = self.runtime.till
        dialog = TableDialog(
            _("Review list: operations the service refused"),
            [_("No."), _("Kind"), _("Sale or customer"), _("When"), _("Reason")],
            self,
        )
        dialog.note.setText(
            _(
                "These were not applied by the service and are not retried. Settle them with the "
                "chain's office (processing review)."
            )
        )
        self.tasks.run(
            lambda: review_rows(review_items(till)), dialog.fill, dialog.fail, owner=dialog
        )
        if self.sale_page is not None:
            self.sale_page.show_dialog(dialog)

    # -- camera ----------------------------------------------------------------------------------
    def toggle_camera(self) -> None:
        if self.camera.running:
            self.camera.stop()
            self.say(_("Camera off."))
            return
        source: int | str = self.settings.get("camera_source", "0")
        if isinstance(source, str) and source.isdigit():
            source = int(source)
        try:
            self.say(self.camera.start(self.settings.get("qr_decoder", "auto"), source))
        except UserFacingError as exc:  # DecoderUnavailable: what to install or choose
            self.say(exc.message)

    def _camera_code(self, text: str) -> None:
        if self.sale_page is None or self.pages.currentWidget() is not self.sale_page:
            return
        self.sale_page.goods_entered(text, True)  # a customer's QR, a sheet's, or a good's

    def _camera_problem(self, message: str) -> None:
        self.say(message)

    # -- settings --------------------------------------------------------------------------------
    def open_settings(self) -> None:
        if self.runtime is None:
            return
        from ui.settings import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        dialog.accepted.connect(lambda: self._save_settings(dialog.values()))
        dialog.open()

    def _save_settings(self, values: dict[str, str]) -> None:
        assert self.runtime is not None
        till = self.runtime.till

        folder = self.folder

        def job() -> dict[str, str]:
            for key_, value in values.items():
                till.set_meta(key_, value)
            (folder / LANGUAGE_FILE).write_text(values["language"] + "\n", encoding="utf-8")
            return values

        def done(saved: dict[str, str]) -> None:
            self.settings.update(saved)
            self.say(_("Settings saved. The language changes at the next start."))

        self.tasks.run(job, done)

    # -- closing ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the camera, the sync loop and the workers; release the store."""
        self.camera.stop()
        ended = True
        if self.handoffs is not None:
            self.handoffs.stop()
            self.handoffs = None
        if self.background is not None:
            ended = self.background.stop()
            self.background = None
        ended = self.tasks.shutdown() and ended
        if self.runtime is not None:
            if ended:
                self.runtime.close()
            else:  # a thread still writes: the store (and its folder lock) stays with it
                log.warning("a till thread did not stop in time: the store is left open")
            self.runtime = None


def _preload() -> None:
    """The sale's screens load on a worker while the cashier types the PIN."""
    import ui.dialogs
    import ui.sale
    import ui.slip  # noqa: F401


def _customer_like(text: str) -> bool:
    from ui.sale import _is_customer_code

    return _is_customer_code(text)
