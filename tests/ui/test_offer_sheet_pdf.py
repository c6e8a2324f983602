"""The offer sheet drawn with Qt: A4 and A5 PDFs read back with pypdf, a page image whose QR
zxing-cpp decodes, many goods over several pages, printing on a QPrinter."""

from __future__ import annotations

import os
import re

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pypdf
import pytest
import zxingcpp
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPageSize, QPainter
from PySide6.QtPrintSupport import QPrinter
from pytestqt.qtbot import QtBot

import ui.offer_sheet
from cashier.i18n import get_language, set_language
from cashier.money import parse_money, parse_quantity
from cashier.offer_sheet import OfferSheet, SheetGood, build_sheet
from cashier.program import load_preset
from cashier.till_types import CustomerView
from ui.offer_sheet import (
    paint_sheet,
    print_sheet,
    sheet_image,
    sheet_pages,
    sheet_pdf,
)
from ui.slip import PrintFailed

NB = load_preset("nbclub")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CUSTOMER = CustomerView(
    id="c_0a1b2c3d4e5f",
    display_name="Анна Петрова",
    tier="gold",
    verified=True,
    phone_masked=None,
    available=Decimal(12500),
)
GOODS = (
    SheetGood(
        "4607000000011",
        "Смартфон Xiaomi Redmi Note 13 Pro 8/256 ГБ, чёрный, с защитным стеклом и чехлом",
        "phones",
        parse_money("29999"),
    ),
    SheetGood("4607000000028", "Чехол-книжка", "accessories", parse_money("1490"), 2000),
    SheetGood("4607000000035", "Кабель USB-C", "cables", parse_money("120"), parse_quantity("1.5")),
    SheetGood("4607000000042", "Наушники Sony WH-1000XM5", "audio", parse_money("34990")),
)
A4_PT = (595, 842)
A5_PT = (420, 595)


@pytest.fixture(autouse=True)
def russian() -> Iterator[None]:
    before = get_language()
    set_language("ru")
    yield
    set_language(before)


def make_sheet(goods: tuple[SheetGood, ...] = GOODS) -> OfferSheet:
    return build_sheet(
        NB,
        CUSTOMER,
        goods,
        issued_at=NOW,
        store_name="iPort, ТЦ Галерея",
        consultant="Иванова А.",
        missing=("email",),
        coupons=[("−10% на аксессуары", "2026-12-31")],
        tz=timezone(timedelta(hours=3)),
    )


def many_goods(n: int) -> tuple[SheetGood, ...]:
    return tuple(
        SheetGood(f"46070000{k:05d}", f"Товар номер {k} с довольно длинным названием", None, 99900)
        for k in range(n)
    )


def squeezed(text: str) -> str:
    """Text with every kind of space removed (pypdf splits words and lines its own way)."""
    return re.sub(r"\s", "", text)


def pdf_text(path: Path) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(path)
    return reader, squeezed("".join(page.extract_text() for page in reader.pages))


def grey(image: QImage) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The image as an 8-bit grayscale array (rows × columns), stride removed."""
    g = image.convertToFormat(QImage.Format.Format_Grayscale8)
    data = np.frombuffer(g.constBits(), dtype=np.uint8, count=g.sizeInBytes())
    return data.reshape(g.height(), g.bytesPerLine())[:, : g.width()].copy()


@pytest.mark.parametrize(("size", "points"), [("A4", A4_PT), ("A5", A5_PT)])
def test_pdf_is_searchable_and_has_the_offer(
    qtbot: QtBot, tmp_path: Path, size: ui.offer_sheet.PageSize, points: tuple[int, int]
) -> None:
    sheet = make_sheet()
    out = tmp_path / f"sheet-{size}.pdf"
    pages = sheet_pdf(sheet, out, size)
    reader, text = pdf_text(out)
    assert len(reader.pages) == pages == sheet_pages(sheet, size)
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == points  # portrait
    for needle in (
        sheet.customer_name,
        sheet.title,
        sheet.validity,
        *(line.name for line in sheet.lines),
        *(line.personal_price for line in sheet.lines),
        *(line.price for line in sheet.lines),
        *(row.value for row in sheet.totals),
    ):
        assert squeezed(needle) in text, needle
    assert "Gold:до99%" in text
    assert "Укажитеe-mail" not in text  # NBclub has no profile bonus


def test_page_image_is_not_blank_and_its_qr_decodes(qtbot: QtBot, tmp_path: Path) -> None:
    sheet = make_sheet()
    image = sheet_image(sheet, "A4", dpi=100)
    assert (image.width(), image.height()) == (827, 1169)  # A4 at 100 dpi
    png = tmp_path / "sheet.png"
    assert image.save(str(png))
    pixels = grey(QImage(str(png)))
    dark = pixels < 128
    assert 0.02 < dark.mean() < 0.3
    margin = int(15 / 25.4 * 100) - 2  # 15 mm margins stay blank
    assert not dark[:, :margin].any()
    assert not dark[:, -margin:].any()
    assert not dark[:margin, :].any()
    results = zxingcpp.read_barcodes(pixels)
    assert [r.text for r in results if r.format == zxingcpp.BarcodeFormat.QRCode] == [
        sheet.qr_payload
    ]
    # drawn without smoothing: the code is only pure black and pure white
    (found,) = results
    corners = found.position
    xs = [corners.top_left.x, corners.top_right.x, corners.bottom_left.x, corners.bottom_right.x]
    ys = [corners.top_left.y, corners.top_right.y, corners.bottom_left.y, corners.bottom_right.y]
    qr = pixels[min(ys) : max(ys) + 1, min(xs) : max(xs) + 1]
    assert set(np.unique(qr).tolist()) == {0, 255}


def test_a5_image_qr_decodes(qtbot: QtBot) -> None:
    sheet = make_sheet(GOODS[:2])
    assert sheet_pages(sheet, "A5") == 1
    image = sheet_image(sheet, "A5", dpi=150)
    assert (image.width(), image.height()) == (874, 1240)
    (found,) = zxingcpp.read_barcodes(grey(image))
    assert found.text == sheet.qr_payload


def test_thirty_goods_flow_onto_more_pages(qtbot: QtBot, tmp_path: Path) -> None:
    sheet = make_sheet(many_goods(30))
    out = tmp_path / "long.pdf"
    pages = sheet_pdf(sheet, out, "A4")
    reader = pypdf.PdfReader(out)
    assert len(reader.pages) == pages >= 2
    texts = [squeezed(page.extract_text()) for page in reader.pages]
    for n, text in enumerate(texts):
        assert squeezed(sheet.customer_name) in text  # every page says whose it is
        assert squeezed(f"Стр.{n + 1}из{pages}") in text
    assert squeezed("(продолжение)") in texts[1]
    assert squeezed("Ваша цена") in texts[1]  # the table's headings again
    everything = "".join(texts)
    for k in range(30):
        assert squeezed(f"Товар номер {k} с") in everything
    # the last page's image still carries a readable code (denser: 30 goods)
    last = sheet_image(sheet, "A4", dpi=150, page=pages - 1)
    (found,) = zxingcpp.read_barcodes(grey(last))
    assert found.text == sheet.qr_payload


def test_several_pages_need_a_paged_device(qtbot: QtBot) -> None:
    sheet = make_sheet(many_goods(30))
    image = QImage(827, 1169, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    try:
        with pytest.raises(ValueError, match="paged device"):
            paint_sheet(painter, QRectF(0, 0, 827, 1169), sheet, "A4")
        with pytest.raises(ValueError, match="page 9"):
            paint_sheet(painter, QRectF(0, 0, 827, 1169), sheet, "A4", page=9)
        assert paint_sheet(painter, QRectF(0, 0, 827, 1169), sheet, "A4", page=1) >= 2
    finally:
        painter.end()


@pytest.mark.parametrize(
    ("paper", "layout", "points"),
    [(QPageSize.PageSizeId.A4, "A4", A4_PT), (QPageSize.PageSizeId.A5, "A5", A5_PT)],
)
def test_print_chooses_the_layout_by_the_paper(
    qtbot: QtBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    paper: QPageSize.PageSizeId,
    layout: str,
    points: tuple[int, int],
) -> None:
    chosen: list[str] = []
    real = ui.offer_sheet.paint_sheet

    def spy(painter: QPainter, rect: QRectF, sheet: OfferSheet, size: Any, **kw: Any) -> int:
        chosen.append(size)
        return real(painter, rect, sheet, size, **kw)

    monkeypatch.setattr(ui.offer_sheet, "paint_sheet", spy)
    out = tmp_path / "printed.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(out))
    printer.setPageSize(QPageSize(paper))
    sheet = make_sheet()
    pages = print_sheet(printer, sheet)
    assert chosen == [layout]
    reader, text = pdf_text(out)
    assert len(reader.pages) == pages
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == points
    assert squeezed(sheet.customer_name) in text
    assert squeezed(sheet.lines[0].personal_price) in text


def test_an_unwritable_pdf_is_a_clear_error(qtbot: QtBot, tmp_path: Path) -> None:
    with pytest.raises(PrintFailed, match="папка существует"):
        sheet_pdf(make_sheet(), tmp_path / "no-such-folder" / "sheet.pdf")


def test_an_unwritable_print_is_a_clear_error(qtbot: QtBot, tmp_path: Path) -> None:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "no-such-folder" / "sheet.pdf"))
    with pytest.raises(PrintFailed, match="принтер"):
        print_sheet(printer, make_sheet())
