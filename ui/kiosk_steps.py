"""The kiosk's steps and their building blocks: phone, SMS code, profile, member, consents,
done, the administrator's PIN; the fields, the consent rows and the input checks.

Owns: the step widgets :class:`PhoneStep` … :class:`AdminStep` and the helpers the kiosk window
(:mod:`ui.kiosk`) drives them with.  The steps draw and collect; the window runs the work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QMouseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cashier.errors import UserFacingError
from cashier.i18n import _, ngettext
from ui.keypad import KEY, DigitKeypad, LetterKeyboard

if TYPE_CHECKING:
    from cashier.till import CustomerView

Clock = Callable[[], datetime]

IDLE_S = 90.0
DONE_S = 15.0
HOLD_MS = 2000
"""A press on the title this long opens the administrator's PIN pad."""
TOUCH = 72
"""Buttons and fields of the kiosk, in pixels (touch targets are at least 64)."""

KIOSK_STYLE = """
QWidget { font-size: 20pt; }
QLabel#kioskTitle { font-size: 20pt; font-weight: bold; color: #1b5e20; }
QLabel#stepTitle { font-size: 30pt; font-weight: bold; }
QLabel#hint { color: #455a64; }
QLabel#message { color: #0d47a1; }
QLabel#message[error="true"] { color: #b71c1c; font-weight: bold; }
QLabel#offline { color: #e65100; font-weight: bold; }
QLabel#countdown { color: #455a64; }
QLabel#headline { font-size: 34pt; font-weight: bold; color: #1b5e20; }
QLabel#bonus { font-size: 28pt; font-weight: bold; color: #2e7d32; }
QLabel#handoff { font-size: 24pt; font-weight: bold; color: #0d47a1; }
QLabel#unverified { color: #e65100; }
QLineEdit { font-size: 28pt; padding: 4px 12px; border: 2px solid #90a4ae; border-radius: 8px; }
QLineEdit:focus { border: 3px solid #1565c0; }
QPushButton { padding: 8px 24px; border-radius: 8px; background: #eceff1;
    border: 1px solid #b0bec5; }
QPushButton:disabled { color: #9e9e9e; }
QPushButton#primary { background: #2e7d32; color: white; font-weight: bold; font-size: 22pt; }
QPushButton#primary:disabled { background: #9e9e9e; }
QPushButton#corner { background: transparent; border: none; }
QCheckBox::indicator { width: 48px; height: 48px; }
QWidget#consent { background: #f5f5f5; border-radius: 8px; }
"""

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")
_NAME = re.compile(r"[^\W\d_]+(?:[ '’-][^\W\d_]+)*")
_ACTIVITY = (
    QEvent.Type.MouseButtonPress,
    QEvent.Type.KeyPress,
    QEvent.Type.TouchBegin,
    QEvent.Type.TouchUpdate,
    QEvent.Type.Wheel,
)


# -- small building blocks -----------------------------------------------------------------------
class _Field(QLineEdit):
    """A field that says when a finger (or the focus) chose it: its keyboard follows."""

    touched = Signal()

    def __init__(self, placeholder: str = "", *, max_length: int = 64) -> None:
        super().__init__()
        self.setPlaceholderText(placeholder)
        self.setMaxLength(max_length)
        self.setMinimumHeight(TOUCH)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.touched.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        super().mousePressEvent(event)
        self.touched.emit()


class _LongPress(QLabel):
    """A label that emits :attr:`held` when pressed for ``hold_ms``."""

    held = Signal()

    def __init__(self, text: str, hold_ms: int = HOLD_MS) -> None:
        super().__init__(text)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(hold_ms)
        self._timer.timeout.connect(self.held.emit)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._timer.start()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._timer.stop()
        event.accept()


class ConsentRow(QWidget):
    """A large tick box with its wrapped text; a touch anywhere on the row ticks it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.setObjectName("consent")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.box = QCheckBox()
        self.box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.box.setMinimumSize(64, 64)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.box, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.label, 1)
        self.setMinimumHeight(TOUCH + 8)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.box.isEnabled():
            self.box.toggle()
        event.accept()


def _button(text: str, *, primary: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setMinimumHeight(TOUCH)
    button.setMinimumWidth(200)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if primary:
        button.setObjectName("primary")
    return button


def _label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def points_text(points: Decimal) -> str:
    """``200`` → "200 баллов" (plural by the number; fractions read as "балла")."""
    whole = points == points.to_integral_value()
    shown = str(int(points)) if whole else format(points.normalize(), "f")
    return ngettext("{n} point", "{n} points", int(points) if whole else 2).format(n=shown)


def format_birth(text: str) -> str:
    """Typed digits as ``DD.MM.YYYY`` (the dots come by themselves)."""
    digits = re.sub(r"\D", "", text)[:8]
    parts = [digits[:2], digits[2:4], digits[4:]]
    return ".".join(p for p in parts if p)


def parse_birth(text: str, today: date) -> date:
    """``DD.MM.YYYY`` → a date between 1900 and today; a :class:`UserFacingError` otherwise."""
    m = re.fullmatch(r"(\d{2})\.(\d{2})\.(\d{4})", text.strip())
    if m is None:
        raise UserFacingError(_("Enter the birth date as DD.MM.YYYY, for example 25.04.1990."))
    try:
        born = date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        raise UserFacingError(_("There is no such date: check the day and the month.")) from None
    if born > today or born.year < 1900:
        raise UserFacingError(_("Check the year of birth."))
    return born


def check_name(text: str) -> str:
    """A first name in letters (a space, a hyphen or an apostrophe between parts)."""
    name = text.strip()
    if not _NAME.fullmatch(name):
        raise UserFacingError(_("Enter your first name in letters."))
    return name


def check_email(text: str) -> str | None:
    """An e-mail address or nothing; a :class:`UserFacingError` when it cannot be one."""
    email = text.strip()
    if not email:
        return None
    if not _EMAIL.fullmatch(email):
        raise UserFacingError(
            _("This does not look like an e-mail address: check it, or leave the field empty.")
        )
    return email


# -- the steps -----------------------------------------------------------------------------------
class _Step(QWidget):
    """A step: its title, a hint, the message line (what went wrong, or what is happening)."""

    def __init__(self, title: str, hint: str = "") -> None:
        super().__init__()
        self.title = _label(title, "stepTitle")
        self.hint = _label(hint, "hint")
        self.hint.setVisible(bool(hint))
        self.message = _label("", "message")
        self.message.setMinimumHeight(40)

    def say(self, text: str, *, error: bool = False) -> None:
        self.message.setProperty("error", error)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setText(text)

    def fail(self, text: str) -> None:
        self.say(text, error=True)

    def wipe(self) -> None:
        self.say("")

    def _buttons(self, *buttons: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(16)
        for b in buttons:
            row.addWidget(b)
        return row

    def _with_keypad(self, left: QVBoxLayout, keypad: QWidget) -> None:
        """The step's column on the left, the keypad on the right (a landscape tablet)."""
        outer = QHBoxLayout(self)
        outer.setContentsMargins(48, 24, 48, 24)
        outer.setSpacing(48)
        column = QWidget()
        column.setLayout(left)
        outer.addWidget(column, 3)
        outer.addWidget(keypad, 2, Qt.AlignmentFlag.AlignVCenter)


class PhoneStep(_Step):
    submitted = Signal()

    def __init__(self) -> None:
        super().__init__(
            _("Join the loyalty program"),
            _("Enter your mobile phone number: we will send you an SMS code."),
        )
        self.phone = _Field("+7 900 000-00-00", max_length=18)
        self.phone.setMinimumWidth(460)
        self.phone.returnPressed.connect(self.submitted.emit)
        self.keypad = DigitKeypad(self.phone, key=112)
        self.next = _button(_("Next"), primary=True)
        self.next.clicked.connect(self.submitted.emit)
        left = QVBoxLayout()
        left.setSpacing(16)
        for w in (self.title, self.hint, self.phone, self.message):
            left.addWidget(w)
        left.addStretch(1)
        left.addLayout(self._buttons(self.next))
        self._with_keypad(left, self.keypad)

    def wipe(self) -> None:
        super().wipe()
        self.phone.clear()
        self.next.setEnabled(True)


class CodeStep(_Step):
    submitted = Signal()
    resend = Signal()
    back = Signal()

    def __init__(self) -> None:
        super().__init__(_("Enter the code from the SMS"), "")
        self.code = _Field("0000", max_length=6)
        self.code.setMaximumWidth(320)
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code.returnPressed.connect(self.submitted.emit)
        self.keypad = DigitKeypad(self.code, key=112)
        self.countdown = _label("", "countdown")
        self.again = _button(_("Send the code again"))
        self.again.clicked.connect(self.resend.emit)
        self.change = _button(_("Change the number"))
        self.change.clicked.connect(self.back.emit)
        self.confirm = _button(_("Confirm"), primary=True)
        self.confirm.clicked.connect(self.submitted.emit)
        left = QVBoxLayout()
        left.setSpacing(16)
        for w in (self.title, self.hint, self.code, self.message, self.countdown):
            left.addWidget(w)
        left.addWidget(self.again, 0, Qt.AlignmentFlag.AlignLeft)
        left.addStretch(1)
        left.addLayout(self._buttons(self.change, self.confirm))
        self._with_keypad(left, self.keypad)

    def start(self, phone_masked: str) -> None:
        self.hint.setText(_("We sent it to {phone}.").format(phone=phone_masked))
        self.hint.setVisible(True)
        self.code.clear()

    def show_left(self, seconds: int) -> None:
        """The countdown before a new code may be asked for (0: it may be asked for now)."""
        if seconds > 0:
            self.countdown.setText(
                _("A new code can be sent in {time}.").format(
                    time=f"{seconds // 60}:{seconds % 60:02d}"
                )
            )
        else:
            self.countdown.setText(_("No SMS? You can ask for a new code."))
        self.again.setEnabled(seconds <= 0)

    def wipe(self) -> None:
        super().wipe()
        self.code.clear()
        self.hint.clear()
        self.countdown.clear()
        self.again.setEnabled(False)


class _FormStep(_Step):
    """Fields above one keyboard area: the letter keyboard for text, the keypad for a date."""

    def __init__(self, title: str, hint: str = "") -> None:
        super().__init__(title, hint)
        self.letters = LetterKeyboard()
        self.digits = DigitKeypad(key=80)
        pad = QWidget()
        pad_row = QHBoxLayout(pad)
        pad_row.setContentsMargins(0, 0, 0, 0)
        pad_row.addStretch(1)
        self.digits.setFixedWidth(3 * 140)
        pad_row.addWidget(self.digits)
        pad_row.addStretch(1)
        self.keys = QStackedWidget()
        self.keys.addWidget(self.letters)
        self.keys.addWidget(pad)
        self.keys.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.keys.setFixedHeight(5 * KEY + 4 * 6)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(16)
        self.grid.setVerticalSpacing(10)
        self.kinds: dict[_Field, str] = {}
        self.rows: dict[_Field, QLabel] = {}
        self.side = QVBoxLayout()
        self.side.setSpacing(12)

    def add_field(self, label: str, field: _Field, kind: str) -> None:
        """``kind``: ``name`` (Russian letters, capitals), ``email`` (Latin) or ``date``."""
        row = self.grid.rowCount()
        caption = _label(label)
        caption.setWordWrap(False)
        self.grid.addWidget(caption, row, 0)
        self.grid.addWidget(field, row, 1)
        self.kinds[field] = kind
        self.rows[field] = caption
        field.touched.connect(lambda f=field: self.choose(f))
        if kind == "date":
            field.textChanged.connect(lambda text, f=field: _reformat_date(f, text))

    def finish(self, *buttons: QPushButton) -> None:
        """The title with the step's buttons; the fields with the message beside them; the
        keyboard across the bottom (it all fits a 1280×800 tablet)."""
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 4, 40, 12)
        outer.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(self.title, 1)
        for b in buttons:
            top.addWidget(b)
        outer.addLayout(top)
        outer.addWidget(self.hint)
        middle = QHBoxLayout()
        middle.setSpacing(32)
        fields = QWidget()
        fields.setLayout(self.grid)
        middle.addWidget(fields, 3)
        self.side.addWidget(self.message)
        self.side.addStretch(1)
        middle.addLayout(self.side, 2)
        outer.addLayout(middle, 1)
        outer.addWidget(self.keys)

    def choose(self, field: _Field) -> None:
        """Type into ``field``: its keyboard comes up."""
        kind = self.kinds[field]
        if kind == "date":
            self.digits.set_target(field)
            self.letters.set_target(None)
            self.keys.setCurrentIndex(1)
        else:
            self.letters.set_target(
                field, layout="en" if kind == "email" else "ru", capitalize=kind == "name"
            )
            self.digits.set_target(None)
            self.keys.setCurrentIndex(0)
        if not field.hasFocus():
            field.setFocus()

    def first(self) -> None:
        for field in self.kinds:
            if field.isVisible() or not self.isVisible():
                self.choose(field)
                return

    def show_field(self, field: _Field, shown: bool) -> None:
        field.setVisible(shown)
        self.rows[field].setVisible(shown)

    def wipe(self) -> None:
        super().wipe()
        for field in self.kinds:
            field.clear()


def _reformat_date(field: QLineEdit, text: str) -> None:
    shaped = format_birth(text)
    if shaped != text:
        field.setText(shaped)


class ProfileStep(_FormStep):
    submitted = Signal()
    back = Signal()

    def __init__(self) -> None:
        super().__init__(_("About you"))
        self.name = _Field(_("Anna"), max_length=50)
        self.birth = _Field(_("DD.MM.YYYY"), max_length=10)
        self.email = _Field(_("optional"), max_length=100)
        self.add_field(_("First name"), self.name, "name")
        self.add_field(_("Birth date"), self.birth, "date")
        self.add_field(_("E-mail"), self.email, "email")
        self.restart = _button(_("Start over"))
        self.restart.clicked.connect(self.back.emit)
        self.next = _button(_("Next"), primary=True)
        self.next.clicked.connect(self.submitted.emit)
        self.finish(self.restart, self.next)


class MemberStep(_FormStep):
    submitted = Signal()
    back = Signal()

    def __init__(self) -> None:
        super().__init__(_("You are already a member"))
        self.who = _label("", "bonus")
        self.side.addWidget(self.who)
        self.email = _Field(_("name@example.ru"), max_length=100)
        self.birth = _Field(_("DD.MM.YYYY"), max_length=10)
        self.add_field(_("E-mail"), self.email, "email")
        self.add_field(_("Birth date"), self.birth, "date")
        self.restart = _button(_("Start over"))
        self.restart.clicked.connect(self.back.emit)
        self.next = _button(_("Continue"), primary=True)
        self.next.clicked.connect(self.submitted.emit)
        self.finish(self.restart, self.next)

    def start(self, customer: CustomerView) -> None:
        if customer.available is not None:
            self.who.setText(
                _("{name}, you have {points}.").format(
                    name=customer.display_name, points=points_text(customer.available)
                )
            )
        else:
            self.who.setText(customer.display_name)
        missing = set(customer.missing)
        self.show_field(self.email, "email" in missing)
        self.show_field(self.birth, "birth_date" in missing)
        self.keys.setVisible(bool(missing))
        if missing:
            self.hint.setText(
                _("Your profile lacks a few details: add them if you like, then tap Continue.")
            )
        else:
            self.hint.setText(_("Your profile is complete. Tap Continue."))
        self.hint.setVisible(True)


class ConsentsStep(_Step):
    submitted = Signal()
    back = Signal()

    def __init__(self) -> None:
        super().__init__(_("Your consent"))
        self.pd = ConsentRow("")
        self.sms = ConsentRow(_("Send me offers and news by SMS (optional)."))
        self.mail = ConsentRow(_("Send me offers and news by e-mail (optional)."))
        self.previous = _button(_("Back"))
        self.previous.clicked.connect(self.back.emit)
        self.join = _button(_("Join"), primary=True)
        self.join.clicked.connect(self.submitted.emit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 24, 64, 24)
        layout.setSpacing(16)
        for w in (self.title, self.pd, self.sms, self.mail, self.message):
            layout.addWidget(w)
        layout.addStretch(1)
        layout.addLayout(self._buttons(self.previous, self.join))

    def start(self, terms_version: str, *, email_given: bool) -> None:
        self.pd.label.setText(
            _(
                "I agree to the processing of my personal data (phone, name, birth date, e-mail) "
                "to take part in the loyalty program, under the terms version {version}. "
                "Required."
            ).format(version=terms_version)
        )
        self.mail.setVisible(email_given)  # marketing by e-mail needs an address
        if not email_given:
            self.mail.box.setChecked(False)

    def wipe(self) -> None:
        super().wipe()
        for row in (self.pd, self.sms, self.mail):
            row.box.setChecked(False)


class DoneStep(_Step):
    finished = Signal()

    def __init__(self) -> None:
        super().__init__("")
        self.headline = _label("", "headline")
        self.bonus = _label("", "bonus")
        self.details = _label("")
        self.unverified = _label("", "unverified")
        self.handoff = _label("", "handoff")
        self.countdown = _label("", "countdown")
        self.finish_button = _button(_("Finish"), primary=True)
        self.finish_button.clicked.connect(self.finished.emit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(96, 24, 96, 32)
        layout.setSpacing(24)
        layout.addStretch(1)
        for w in (self.headline, self.bonus, self.details, self.unverified, self.handoff):
            layout.addWidget(w)
        layout.addStretch(2)
        row = QHBoxLayout()
        row.addWidget(self.countdown, 1)
        row.addWidget(self.finish_button)
        layout.addLayout(row)

    def show_text(self, headline: str, bonus: str, details: str, unverified: str) -> None:
        for label, text in (
            (self.headline, headline),
            (self.bonus, bonus),
            (self.details, details),
            (self.unverified, unverified),
        ):
            label.setText(text)
            label.setVisible(bool(text))
        self.handoff.setText("")

    def wipe(self) -> None:
        super().wipe()
        self.show_text("", "", "", "")
        self.countdown.setText("")


class AdminStep(_Step):
    submitted = Signal()
    cancelled = Signal()

    def __init__(self) -> None:
        super().__init__(
            _("Leave kiosk mode"), _("A senior cashier's PIN closes the registration screen.")
        )
        self.pin = _Field(_("PIN"), max_length=12)
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaximumWidth(360)
        self.pin.returnPressed.connect(self.submitted.emit)
        self.keypad = DigitKeypad(self.pin, key=112)
        self.cancel = _button(_("Cancel"))
        self.cancel.clicked.connect(self.cancelled.emit)
        self.exit = _button(_("Close the kiosk"), primary=True)
        self.exit.clicked.connect(self.submitted.emit)
        left = QVBoxLayout()
        left.setSpacing(16)
        for w in (self.title, self.hint, self.pin, self.message):
            left.addWidget(w)
        left.addStretch(1)
        left.addLayout(self._buttons(self.cancel, self.exit))
        self._with_keypad(left, self.keypad)

    def wipe(self) -> None:
        super().wipe()
        self.pin.clear()


# -- the window ----------------------------------------------------------------------------------
