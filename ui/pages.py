"""The screens before a sale: enrolment of a new till, and the cashier's PIN (login and unlock).

Owns: :class:`EnrolPage` and :class:`LoginPage`.  They emit what the cashier typed; the window
runs the work off the GUI thread and calls :meth:`fail` with a message when it did not work.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from cashier.i18n import _
from ui.style import TOUCH, big_button


def _centered(*widgets: QWidget, width: int = 600) -> QVBoxLayout:
    """The widgets in a column of ``width`` pixels in the middle of the page (a column with a
    fixed width, so wrapped labels get the height their text needs)."""
    column = QWidget()
    column.setFixedWidth(width)
    inner = QVBoxLayout(column)
    for w in widgets:
        inner.addWidget(w)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(column)
    row.addStretch(1)
    layout = QVBoxLayout()
    layout.addStretch(1)
    layout.addLayout(row)
    layout.addStretch(2)
    return layout


class EnrolPage(QWidget):
    """First start: the server address and the one-time code from the administrator."""

    submitted = Signal(str, str, str)
    """server, code, till name"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel(_("Connect this till to the loyalty service"))
        title.setObjectName("title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setWordWrap(True)
        hint = QLabel(
            _(
                "Ask the administrator for the service's address and a one-time code "
                "(processing enroll --store STORE)."
            )
        )
        hint.setWordWrap(True)
        self.server = QLineEdit()
        self.server.setPlaceholderText("https://192.168.1.10:8765")
        self.code = QLineEdit()
        self.code.setPlaceholderText(_("one-time code"))
        self.name = QLineEdit(_("Till 1"))
        form_box = QWidget()
        form = QFormLayout(form_box)
        for label, edit in (
            (_("Service address"), self.server),
            (_("Code"), self.code),
            (_("Till name"), self.name),
        ):
            edit.setMinimumHeight(TOUCH)
            edit.setMinimumWidth(420)
            edit.returnPressed.connect(self._submit)
            form.addRow(label, edit)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.button = big_button(_("Connect  Enter"), primary=True)
        self.button.setMinimumWidth(320)
        self.button.clicked.connect(self._submit)
        self.setLayout(_centered(title, hint, form_box, self.error, self.button))

    def _submit(self) -> None:
        if not self.button.isEnabled():  # Enter again while the first try is on its way
            return
        self.error.setText(_("Connecting…"))
        self.button.setEnabled(False)
        self.submitted.emit(self.server.text(), self.code.text(), self.name.text())

    def fail(self, message: str) -> None:
        self.button.setEnabled(True)
        self.error.setText(message)

    def start(self) -> None:
        self.button.setEnabled(True)
        self.error.setText("")
        (self.code if self.server.text() else self.server).setFocus()


class LoginPage(QWidget):
    """The cashier's PIN: to start a shift, or to unlock a locked till."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(_("Cashier login"))
        self.title.setObjectName("title")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.store = QLabel("")
        self.store.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setPlaceholderText(_("PIN"))
        self.pin.setMinimumHeight(TOUCH + 12)
        self.pin.setMinimumWidth(320)
        self.pin.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pin.setMaxLength(12)
        self.pin.setObjectName("pin")
        self.pin.returnPressed.connect(self._submit)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.button = big_button(_("Log in  Enter"), primary=True)
        self.button.setMinimumWidth(320)
        self.button.clicked.connect(self._submit)
        self.setLayout(_centered(self.title, self.store, self.pin, self.error, self.button))

    def _submit(self) -> None:
        pin = self.pin.text()
        self.pin.clear()
        if pin:
            self.submitted.emit(pin)

    def fail(self, message: str) -> None:
        self.error.setText(message)
        self.pin.setFocus()

    def start(self, *, locked_by: str | None, store: str) -> None:
        self.title.setText(
            _("Locked by {name}: enter the PIN").format(name=locked_by)
            if locked_by
            else _("Cashier login")
        )
        self.store.setText(store)
        self.error.setText("")
        self.pin.setFocus()
