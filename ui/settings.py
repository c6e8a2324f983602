"""The till's own settings: QR decoder, camera, language, the slip after a sale.

Owns: :data:`SETTINGS_KEYS`, :func:`read_settings` (from the till's store, off the GUI thread) and
:class:`SettingsDialog`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QWidget

from cashier.i18n import _
from ui.dialogs import Dialog
from ui.style import TOUCH

if TYPE_CHECKING:
    from sync.runtime import TillRuntime

SETTINGS_KEYS = ("qr_decoder", "camera_source", "language", "show_slip")


def read_settings(runtime: TillRuntime) -> dict[str, str]:
    return {k: v for k in SETTINGS_KEYS if (v := runtime.meta(k)) is not None}


class SettingsDialog(Dialog):
    def __init__(self, current: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(_("Settings"), parent)
        form = QFormLayout()
        self.decoder = QComboBox()
        for value, text in (
            ("auto", _("automatic (zxing-cpp, else pyzbar, else OpenCV)")),
            ("zxing", "zxing-cpp"),
            ("zbar", "pyzbar"),
            ("opencv", "OpenCV"),
        ):
            self.decoder.addItem(text, value)
        self.decoder.setCurrentIndex(
            max(0, self.decoder.findData(current.get("qr_decoder", "auto")))
        )
        self.camera = QLineEdit(current.get("camera_source", "0"))
        self.camera.returnPressed.connect(self.accept)
        self.language = QComboBox()
        self.language.addItem("Русский", "ru")
        self.language.addItem("English", "en")
        self.language.setCurrentIndex(max(0, self.language.findData(current.get("language", "ru"))))
        self.slip = QComboBox()
        self.slip.addItem(_("show after each sale"), "1")
        self.slip.addItem(_("do not show (Ctrl+P shows the last one)"), "0")
        self.slip.setCurrentIndex(max(0, self.slip.findData(current.get("show_slip", "1"))))
        for label_, widget in (
            (_("QR decoder"), self.decoder),
            (_("Camera (number or address)"), self.camera),
            (_("Language"), self.language),
            (_("Loyalty slip"), self.slip),
        ):
            widget.setMinimumHeight(TOUCH)
            form.addRow(label_, widget)
        self.layout_.addLayout(form)
        self.add_button(_("Save  Enter"), self.accept, primary=True)
        self.add_button(_("Cancel  Esc"), self.reject)
        self.finish_layout()

    def values(self) -> dict[str, str]:
        return {
            "qr_decoder": str(self.decoder.currentData()),
            "camera_source": self.camera.text().strip() or "0",
            "language": str(self.language.currentData()),
            "show_slip": str(self.slip.currentData()),
        }
