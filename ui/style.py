"""The till window's look: large type and touch-sized targets, one colour per meaning; the
small helpers every screen uses (no import of the till's core, so the first screen is quick).
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLayout, QPushButton, QSplitter, QWidget

TOUCH = 52
"""Minimum height of a button or field, in pixels: a finger, not a mouse pointer."""


def big_button(text: str, *, primary: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setMinimumHeight(TOUCH)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay in the fields; F-keys act
    if primary:
        button.setObjectName("primary")
    return button


def two_columns(left: QLayout, right: QLayout, sizes: tuple[int, int]) -> QSplitter:
    """A page's two columns side by side, the divider movable; ``sizes`` in pixels to start."""
    left_w, right_w = QWidget(), QWidget()
    left_w.setLayout(left)
    right_w.setLayout(right)
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(left_w)
    splitter.addWidget(right_w)
    splitter.setStretchFactor(0, sizes[0])
    splitter.setStretchFactor(1, sizes[1])
    splitter.setSizes(list(sizes))
    return splitter


def local_time(moment: datetime | None, fmt: str = "%H:%M") -> str:
    if moment is None:
        return "—"
    return moment.astimezone().strftime(fmt)


STYLE = """
QWidget { font-size: 13pt; }
QLabel#title { font-size: 22pt; font-weight: bold; }
QLabel#customerName { font-size: 17pt; font-weight: bold; }
QLabel#points { font-size: 17pt; color: #1b5e20; font-weight: bold; }
QLabel#toPay { font-size: 22pt; font-weight: bold; }
QLabel#caption { color: #555; }
QLabel#hint { color: #555; font-size: 11pt; }
QLabel#error, QLabel#info[error="true"] { color: #b71c1c; }
QLabel#info { color: #0d47a1; }
QFrame#panel { background: #fafafa; border: 1px solid #ddd; border-radius: 6px; }
QPushButton { padding: 6px 14px; }
QPushButton#primary { background: #2e7d32; color: white; font-weight: bold; font-size: 16pt;
    border-radius: 6px; }
QPushButton#primary:disabled { background: #9e9e9e; }
QPushButton#status { text-align: left; padding: 2px 8px; }
QFrame#handoff { background: #fff8e1; border: 2px solid #ffb300; border-radius: 6px; }
QPushButton#status[offline="true"] { color: #e65100; font-weight: bold; }
QLineEdit#pin { font-size: 22pt; letter-spacing: 6px; }
QTableWidget { font-size: 13pt; }
"""
