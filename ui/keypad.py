"""On-screen keys for a touch screen without a keyboard: a digit keypad and a letter keyboard.

Owns: :class:`DigitKeypad` (0–9, Backspace, Clear) and :class:`LetterKeyboard` (Russian ЙЦУКЕН
and Latin layouts with a switch key, a digits row, ``@ . - _`` for e-mails, Shift, space,
Backspace, Clear).  Both type into the :class:`~PySide6.QtWidgets.QLineEdit` they are given
(:meth:`set_target`) through the field's own editing (``insert``, ``backspace``), so its
validator and maximum length apply.  The keys never take the focus: the field keeps its cursor.
Every key is at least :data:`KEY` pixels in both directions (a finger, not a pointer).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cashier.i18n import _

KEY = 68
"""The side of a key, in pixels (touch targets are at least 64)."""

RUSSIAN = ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбюё")
LATIN = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
DIGITS = "1234567890"
SYMBOLS = "@.-_"

KEYPAD_STYLE = """
QPushButton#key { font-size: 24pt; background: #eceff1; border: 1px solid #b0bec5;
    border-radius: 8px; padding: 0px 4px; }
QPushButton#key:pressed { background: #b0bec5; }
QPushButton#key[wide="true"] { font-size: 20pt; background: #cfd8dc; }
QPushButton#key:checked { background: #1565c0; color: white; }
"""


def _key(text: str, *, width: int = KEY, wide: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName("key")
    button.setProperty("wide", wide)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    button.setAutoRepeat(False)
    button.setMinimumSize(width, KEY)
    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return button


class _Keys(QWidget):
    """What both key sets share: the field they type into."""

    typed = Signal()
    """A key was pressed (the kiosk counts it as activity)."""

    def __init__(self, target: QLineEdit | None, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.target = target
        self.setStyleSheet(KEYPAD_STYLE)

    def set_target(self, target: QLineEdit | None) -> None:
        self.target = target

    def _insert(self, text: str) -> None:
        if self.target is not None and self.target.isEnabled():
            self.target.insert(text)
        self.typed.emit()

    def backspace(self) -> None:
        if self.target is not None and self.target.isEnabled():
            self.target.backspace()
        self.typed.emit()

    def clear(self) -> None:
        if self.target is not None and self.target.isEnabled():
            self.target.clear()
        self.typed.emit()

    def _connect(self, button: QPushButton, action: Callable[[], None]) -> QPushButton:
        button.clicked.connect(lambda _checked=False: action())
        return button


class DigitKeypad(_Keys):
    """1–9, then Backspace, 0, Clear: a phone number, a code, a date or a PIN."""

    def __init__(
        self, target: QLineEdit | None = None, parent: QWidget | None = None, *, key: int = 96
    ) -> None:
        super().__init__(target, parent)
        grid = QGridLayout(self)
        grid.setSpacing(10)
        grid.setContentsMargins(0, 0, 0, 0)
        self.keys: dict[str, QPushButton] = {}
        for i, digit in enumerate("123456789"):
            self.keys[digit] = self._digit(digit, key)
            grid.addWidget(self.keys[digit], i // 3, i % 3)
        self.keys["backspace"] = self._connect(_key("⌫", width=key, wide=True), self.backspace)
        self.keys["0"] = self._digit("0", key)
        self.keys["clear"] = self._connect(_key(_("Clear"), width=key, wide=True), self.clear)
        grid.addWidget(self.keys["backspace"], 3, 0)
        grid.addWidget(self.keys["0"], 3, 1)
        grid.addWidget(self.keys["clear"], 3, 2)
        for button in self.keys.values():
            button.setMinimumHeight(key - 8)
        for column in range(3):  # equal columns, whatever the labels' lengths
            grid.setColumnStretch(column, 1)
            grid.setColumnMinimumWidth(column, key)

    def _digit(self, digit: str, size: int) -> QPushButton:
        return self._connect(_key(digit, width=size), lambda: self._insert(digit))

    def type(self, text: str) -> None:
        """Press the keys for ``text`` (digits only), as a finger would."""
        for ch in text:
            if ch in self.keys:
                self.keys[ch].click()


class LetterKeyboard(_Keys):
    """Letters (Russian or Latin, a key switches), a digits row, ``@ . - _``, Shift, space,
    Backspace and Clear.  ``capitalize`` (for names) makes the first letter of a word capital."""

    def __init__(
        self,
        target: QLineEdit | None = None,
        parent: QWidget | None = None,
        *,
        layout: str = "ru",
        capitalize: bool = False,
    ) -> None:
        super().__init__(target, parent)
        self.layout_name = layout
        self.capitalize = capitalize
        self.rows = QVBoxLayout(self)
        self.rows.setSpacing(6)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.keys: dict[str, QPushButton] = {}
        digits = self._row()
        for ch in DIGITS:
            digits.addWidget(self._char(ch))
        # both layouts are built once; the switch shows one and hides the other
        self.layouts: dict[str, list[QPushButton]] = {"ru": [], "en": []}
        for i in range(3):
            row = self._row()
            row.addStretch(1)
            for name, rows in (("ru", RUSSIAN), ("en", LATIN)):
                for ch in rows[i]:
                    button = self._char(ch)
                    self.layouts[name].append(button)
                    row.addWidget(button, 2)
            row.addStretch(1)
        bottom = self._row()
        self.switch = self._connect(_key("ABC", width=110, wide=True), self.switch_layout)
        self.shift = _key("⇧", wide=True)
        self.shift.setCheckable(True)
        self.shift.clicked.connect(lambda _c=False: self._shifted())
        bottom.addWidget(self.switch)
        bottom.addWidget(self.shift)
        for ch in SYMBOLS:
            bottom.addWidget(self._char(ch))
        self.space = self._connect(_key(_("Space"), width=200, wide=True), lambda: self.press(" "))
        bottom.addWidget(self.space, 3)
        self.keys["backspace"] = self._connect(_key("⌫", width=96, wide=True), self.backspace)
        self.keys["clear"] = self._connect(_key(_("Clear"), width=120, wide=True), self.clear)
        bottom.addWidget(self.keys["backspace"])
        bottom.addWidget(self.keys["clear"])
        self.set_layout(layout)

    def _row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        self.rows.addLayout(row)
        return row

    def _char(self, ch: str) -> QPushButton:
        button = self._connect(_key(ch), lambda: self.press(ch))
        self.keys[ch] = button
        return button

    @property
    def letter_keys(self) -> list[QPushButton]:
        """The letters of the layout shown now."""
        return self.layouts[self.layout_name]

    def set_target(
        self, target: QLineEdit | None, *, layout: str | None = None, capitalize: bool = False
    ) -> None:
        super().set_target(target)
        self.capitalize = capitalize
        self.shift.setChecked(False)
        if layout is not None and layout != self.layout_name:
            self.set_layout(layout)
        self._show_case()

    def switch_layout(self) -> None:
        self.set_layout("en" if self.layout_name == "ru" else "ru")
        self.typed.emit()

    def set_layout(self, layout: str) -> None:
        """``ru`` (ЙЦУКЕН) or ``en`` (QWERTY)."""
        self.layout_name = layout
        for name, buttons in self.layouts.items():
            for button in buttons:
                button.setVisible(name == layout)
        self.switch.setText("ABC" if layout == "ru" else "АБВ")
        self._show_case()

    def _shifted(self) -> None:
        self._show_case()
        self.typed.emit()

    def _upper_next(self) -> bool:
        if self.shift.isChecked():
            return True
        if not self.capitalize or self.target is None:
            return False
        before = self.target.text()[: self.target.cursorPosition()]
        return not before or before[-1] in " -"

    def _show_case(self) -> None:
        upper = self._upper_next()
        for button in self.letter_keys:
            button.setText(button.text().upper() if upper else button.text().lower())

    def press(self, ch: str) -> None:
        """Type ``ch`` (a letter in the current case, a digit, a symbol or a space)."""
        if ch.isalpha():
            ch = ch.upper() if self._upper_next() else ch.lower()
            self.shift.setChecked(False)
        self._insert(ch)
        self._show_case()

    def backspace(self) -> None:
        super().backspace()
        self._show_case()

    def clear(self) -> None:
        super().clear()
        self._show_case()

    def type(self, text: str) -> None:
        """Press the keys for ``text``, as a finger would (switching the layout as needed)."""
        for ch in text:
            low = ch.lower()
            shown = "".join(RUSSIAN if self.layout_name == "ru" else LATIN)
            if low.isalpha() and low not in shown:
                self.switch_layout()
            if ch.isalpha() and ch.isupper() != self._upper_next():
                self.shift.setChecked(ch.isupper())
            if ch == " ":
                self.space.click()
            elif low in self.keys:
                self.keys[low].click()
