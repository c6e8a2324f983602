"""The slip drawn with Qt: the image, its QR read back by zxing-cpp, a PDF print, the preview."""

from __future__ import annotations

import os
import re

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

import ui.slip
from cashier.i18n import get_language, set_language
from cashier.money import parse_money, parse_quantity
from cashier.program import PaymentMethod, load_preset
from cashier.quote import CartLine, CustomerState, Payment, quote
from cashier.slip import Slip, build_slip
from cashier.till_types import Committed, CustomerView, Item, Priced, Served
from ui.slip import PrintFailed, SlipPreview, print_slip, slip_height, slip_image

NB = load_preset("nbclub")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SALE_ID = "3f2a9c1e-1111-4222-8333-444455556666"


@pytest.fixture(autouse=True)
def russian() -> Iterator[None]:
    before = get_language()
    set_language("ru")
    yield
    set_language(before)


def make_slip(n_lines: int = 3, *, customer: bool = True) -> Slip:
    items = tuple(
        Item(
            f"SKU-{n}",
            parse_quantity("0.742") if n % 3 == 1 else parse_quantity("2"),
            parse_money("499.90"),
            None,
            f"Товар номер {n} с довольно длинным названием для переноса",
            f"L{n}",
        )
        for n in range(n_lines)
    )
    lines = [CartLine(i.line_id, i.sku, i.qty, i.unit_price) for i in items]
    view = CustomerView("c1", "Анна П.", "start", True, "+7 *** ***-45-67", Decimal(300))
    state = CustomerState(available=Decimal(300), verified=True) if customer else None
    q = quote(
        NB, state, lines, occurred_at=NOW, redeem="max", payments=[Payment(PaymentMethod.SBP)]
    )
    priced = Priced(q, view if customer else None, Served.OFFLINE, items)
    committed = Committed(SALE_ID, 1, Served.QUEUED, q, "done", True)
    return build_slip(
        committed,
        priced,
        store_name="iPort, ТЦ Галерея",
        cashier_name="Иванова А.",
        printed_at=NOW,
        tz=timezone(timedelta(hours=3)),
    )


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def grey(image: QImage) -> np.ndarray:
    """The image as an 8-bit grayscale array (rows × columns), stride removed."""
    g = image.convertToFormat(QImage.Format.Format_Grayscale8)
    data = np.frombuffer(g.constBits(), dtype=np.uint8, count=g.sizeInBytes())
    return data.reshape(g.height(), g.bytesPerLine())[:, : g.width()].copy()


@pytest.mark.parametrize("dpi", [203, 300])
def test_image_is_80mm_wide_and_not_blank(qtbot: QtBot, dpi: int) -> None:
    slip = make_slip()
    image = slip_image(slip, dpi=dpi)
    assert image.width() == round(80 / 25.4 * dpi)
    assert image.height() == pytest.approx(slip_height(slip, image.width()), abs=1)
    assert image.height() > image.width()  # a receipt: longer than wide
    pixels = grey(image)
    dark = pixels < 128
    assert dark.mean() > 0.03  # text, rules and the QR
    # 4 mm margins on either side stay blank
    margin = int(4 / 25.4 * dpi) - 2
    assert not dark[:, :margin].any()
    assert not dark[:, -margin:].any()


@pytest.mark.parametrize("customer", [True, False])
def test_qr_decodes_to_the_payload(qtbot: QtBot, customer: bool) -> None:
    slip = make_slip(customer=customer)
    results = zxingcpp.read_barcodes(grey(slip_image(slip)))
    assert [r.text for r in results if r.format == zxingcpp.BarcodeFormat.QRCode] == [
        "LS1." + SALE_ID
    ]


def test_qr_is_crisp(qtbot: QtBot) -> None:
    pixels = grey(slip_image(make_slip()))
    (found,) = zxingcpp.read_barcodes(pixels)
    corners = found.position
    xs = [corners.top_left.x, corners.top_right.x, corners.bottom_left.x, corners.bottom_right.x]
    ys = [corners.top_left.y, corners.top_right.y, corners.bottom_left.y, corners.bottom_right.y]
    qr = pixels[min(ys) : max(ys) + 1, min(xs) : max(xs) + 1]
    assert qr.shape[0] > 150
    assert qr.shape[1] > 150
    # drawn without smoothing: only pure black and pure white, no grey edges
    assert set(np.unique(qr).tolist()) == {0, 255}


def test_print_to_pdf(qtbot: QtBot, tmp_path: Path) -> None:
    out = tmp_path / "slip.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(out))
    print_slip(printer, make_slip())
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(data) > 2000
    assert pdf_pages(data) == 1


def test_a_long_slip_prints_on_several_pages(qtbot: QtBot, tmp_path: Path) -> None:
    out = tmp_path / "long.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(out))
    print_slip(printer, make_slip(120))
    assert pdf_pages(out.read_bytes()) >= 2


def test_an_unwritable_output_is_a_clear_error(qtbot: QtBot, tmp_path: Path) -> None:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "no-such-folder" / "slip.pdf"))
    with pytest.raises(PrintFailed, match="принтер"):
        print_slip(printer, make_slip())


def test_preview_opens_and_closes_with_escape(qtbot: QtBot) -> None:
    preview = SlipPreview(make_slip())
    qtbot.addWidget(preview)
    preview.show()
    qtbot.waitExposed(preview)
    assert preview.isVisible()
    assert preview.print_button.minimumHeight() >= 48
    assert preview.close_button.minimumHeight() >= 48
    assert preview.print_button.text() == "Печать (F9)"
    assert preview.close_button.text() == "Закрыть (Esc)"
    pixmap = preview.image_label.pixmap()
    assert pixmap.width() == round(80 / 25.4 * 203)
    qtbot.keyClick(preview, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not preview.isVisible())
    assert preview.result() == QDialog.DialogCode.Rejected


def test_f9_asks_for_the_printer_then_hands_it_over(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[QPrinter] = []

    class AcceptingDialog:
        def __init__(self, printer: QPrinter, parent: object = None) -> None:
            asked.append(printer)

        def setWindowTitle(self, title: str) -> None:
            pass

        def exec(self) -> QDialog.DialogCode:
            return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ui.slip, "QPrintDialog", AcceptingDialog)
    handed: list[QPrinter] = []
    preview = SlipPreview(make_slip(), on_print=handed.append)
    qtbot.addWidget(preview)
    preview.show()
    qtbot.waitExposed(preview)
    with qtbot.waitSignal(preview.print_requested, timeout=2000) as signal:
        qtbot.keyClick(preview, Qt.Key.Key_F9)
    assert isinstance(signal.args[0], QPrinter)
    assert handed == [signal.args[0]] == asked
