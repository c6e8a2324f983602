"""The personal-offer sheet drawn with Qt: to a PDF, into an image and on a printer.

Owns: the sheet's page layout (A4 or A5 portrait: store and date, the customer, a table of the
goods, the totals, a "how to earn more" box beside the QR code, the validity and the notes; long
names wrap, a table that does not fit continues on the next page under its headings again),
:func:`paint_sheet`, :func:`sheet_pdf` (searchable text, 300 dpi), :func:`sheet_image` (the same
painting, for a preview and tests) and :func:`print_sheet`.  Everything shown comes from
:class:`cashier.offer_sheet.OfferSheet`; nothing here decides what a sheet says.

Sizes are in millimetres and points, turned into the device's pixels from the page's width, so
the PDF, the image and the print are the same drawing.  Painting on a ``QImage``, a
``QPdfWriter`` or a ``QPrinter`` is allowed outside the GUI thread, so all of these may run in a
worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)
from PySide6.QtPrintSupport import QPrinter

from cashier.i18n import _
from cashier.offer_sheet import OfferSheet, SheetLine, SheetRow
from ui.slip import PrintFailed, wrap_text

PageSize = Literal["A4", "A5"]

PAGE_MM: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "A5": (148.0, 210.0)}
"""Portrait paper, width × height."""
MARGIN_MM: dict[str, float] = {"A4": 15.0, "A5": 10.0}
BODY_PT: dict[str, float] = {"A4": 10.0, "A5": 8.5}
"""The body text's size; every other size is a multiple of it."""
QR_MM: dict[str, float] = {"A4": 50.0, "A5": 42.0}
"""The QR code's side, its 4-module quiet zone included (at least)."""
QR_MAX_MM: dict[str, float] = {"A4": 70.0, "A5": 50.0}
QR_MODULE_MM = 0.5
"""A QR module is made at least this big (up to ``QR_MAX_MM``): a sheet of many goods carries a
denser code, printed larger so a till's scanner still reads it from paper."""
COLUMNS: dict[str, tuple[float, float, float, float, float]] = {
    "A4": (0.36, 0.16, 0.16, 0.18, 0.14),
    "A5": (0.30, 0.18, 0.16, 0.20, 0.16),
}
"""The goods table's column widths as shares of the text width: item, price, points usable,
personal price, points earned."""
A5_BELOW_MM = 180.0
"""A printer page narrower than this gets the A5 layout (A5 is 148 mm wide, A4 210 mm)."""
SPACING: dict[str, float] = {"A4": 1.0, "A5": 0.6}
"""The blank space between the parts of the sheet, relative to A4's."""
PDF_DPI = 300
FONT_FAMILIES = ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica", "sans-serif"]

INK = QColor("#000000")
MUTED = QColor("#555555")
LINE = QColor("#9e9e9e")
FILL = QColor("#f1f1f1")
HEAD_FILL = QColor("#e0e0e0")

Draw = Callable[[QPainter, float], None]
"""Paints a band with its top at the given y (page coordinates)."""


@dataclass(frozen=True)
class _Band:
    """A horizontal strip of the page that is never split across pages."""

    height: float
    draw: Draw
    kind: str = "block"
    """``block``, ``space`` (dropped at the top of a page), ``head`` (the table's headings) or
    ``row`` (a table row: on a new page the headings are repeated above it)."""
    keep: float = 0.0
    """Room needed below the band on the same page (the headings keep their first row)."""


class _Style:
    """Page geometry and fonts for one page size at one resolution."""

    def __init__(self, size: PageSize, width_px: float, height_px: float) -> None:
        self.size = size
        self.px_mm = width_px / PAGE_MM[size][0]
        self.width = width_px
        self.height = height_px
        self.margin = self.mm(MARGIN_MM[size])
        self.inner = width_px - 2 * self.margin
        self.pad = self.mm(1.6)

    def mm(self, value: float) -> float:
        return value * self.px_mm

    def font(self, scale: float = 1.0, *, bold: bool = False) -> QFont:
        font = QFont()
        font.setFamilies(FONT_FAMILIES)
        font.setStyleHint(QFont.StyleHint.SansSerif)
        font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
        points = BODY_PT[self.size] * scale
        font.setPixelSize(max(1, round(points * 25.4 / 72 * self.px_mm)))
        font.setBold(bold)
        return font

    @property
    def footer_height(self) -> float:
        return QFontMetricsF(self.font(0.8)).lineSpacing() * 1.5


def paint_sheet(
    painter: QPainter,
    page_rect: QRectF,
    sheet: OfferSheet,
    page_size: PageSize = "A4",
    *,
    page: int | None = None,
) -> int:
    """Paint the sheet on a page laid out as ``page_size``, proportioned to ``page_rect``'s width.

    ``page_rect`` is the whole sheet of paper in the painter's coordinates (the layout keeps its
    own margins).  With ``page`` None every page is painted, the painter's device turning to a new
    page between them (a ``QPdfWriter`` or a ``QPrinter``); with a number only that page (from 0).

    Returns:
        How many pages the sheet has.

    Raises:
        ValueError: ``page`` is out of range, or the sheet needs several pages and the device
            has no pages to turn.
    """
    style = _Style(page_size, page_rect.width(), page_rect.height())
    pages = _pages(sheet, style)
    if page is not None and not 0 <= page < len(pages):
        raise ValueError(f"page {page} of a {len(pages)}-page sheet")
    device = painter.device()
    if page is None and len(pages) > 1 and not isinstance(device, QPagedPaintDevice):
        raise ValueError("a sheet of several pages needs a paged device (PDF or printer)")
    chosen = range(len(pages)) if page is None else [page]
    painter.save()
    try:
        painter.translate(page_rect.topLeft())
        for count, n in enumerate(chosen):
            if count and isinstance(device, QPagedPaintDevice):
                device.newPage()
            _paint_page(painter, style, sheet, pages[n], n, len(pages))
    finally:
        painter.restore()
    return len(pages)


def sheet_pages(sheet: OfferSheet, page_size: PageSize = "A4", dpi: int = PDF_DPI) -> int:
    """How many pages the sheet takes at ``page_size``."""
    width, height = _page_px(page_size, dpi)
    return len(_pages(sheet, _Style(page_size, width, height)))


def sheet_pdf(sheet: OfferSheet, path: str | Path, page_size: PageSize = "A4") -> int:
    """Write the sheet to a PDF (portrait ``page_size``, 300 dpi, real text); how many pages.

    Raises:
        PrintFailed: the file cannot be written.
    """
    writer = QPdfWriter(str(path))
    writer.setResolution(PDF_DPI)
    size_id = QPageSize.PageSizeId.A5 if page_size == "A5" else QPageSize.PageSizeId.A4
    writer.setPageLayout(
        QPageLayout(
            QPageSize(size_id),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setTitle(f"{sheet.title} {sheet.short_id}")
    writer.setCreator("loyalty-till")
    painter = QPainter()
    if not painter.begin(writer):
        raise PrintFailed(
            _(
                "The offer sheet cannot be saved to {path}: check that the folder exists and can "
                "be written to."
            ).format(path=str(path))
        )
    try:
        width, height = _page_px(page_size, PDF_DPI)
        return paint_sheet(painter, QRectF(0, 0, width, height), sheet, page_size)
    finally:
        painter.end()


def sheet_image(
    sheet: OfferSheet, page_size: PageSize = "A4", dpi: int = 100, *, page: int = 0
) -> QImage:
    """One page of the sheet as a white image of the paper's size at ``dpi``."""
    width, height = _page_px(page_size, dpi)
    image = QImage(round(width), round(height), QImage.Format.Format_RGB32)
    dots_per_metre = round(dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    image.fill(QColor(Qt.GlobalColor.white))
    painter = QPainter(image)
    try:
        paint_sheet(painter, QRectF(0, 0, width, height), sheet, page_size, page=page)
    finally:
        painter.end()
    return image


def print_sheet(printer: QPrinter, sheet: OfferSheet) -> int:
    """Print the sheet on the printer's paper: the A5 layout on paper narrower than
    :data:`A5_BELOW_MM`, else the A4 one; how many pages.

    Raises:
        PrintFailed: the printer (or the output file) cannot be opened.
    """
    painter = QPainter()
    if not painter.begin(printer):
        raise PrintFailed(
            _("The offer sheet cannot be printed: check that the printer is on and has paper.")
        )
    try:
        paper = printer.paperRect(QPrinter.Unit.DevicePixel)
        printable = printer.pageRect(QPrinter.Unit.DevicePixel)
        width_mm = printer.paperRect(QPrinter.Unit.Millimeter).width()
        size: PageSize = "A5" if width_mm < A5_BELOW_MM else "A4"
        # the painter's origin is the printable area's corner; the layout wants the paper's
        rect = QRectF(paper).translated(-printable.left(), -printable.top())
        return paint_sheet(painter, rect, sheet, size)
    finally:
        painter.end()


# --- layout -----------------------------------------------------------------------------------
def _page_px(page_size: PageSize, dpi: int) -> tuple[float, float]:
    width_mm, height_mm = PAGE_MM[page_size]
    return (round(width_mm / 25.4 * dpi), round(height_mm / 25.4 * dpi))


Placed = list[tuple[float, _Band]]


def _pages(sheet: OfferSheet, style: _Style) -> list[Placed]:
    """The bands placed on pages: a band never split, the table's headings repeated."""
    head = _table_head(sheet, style)
    more = _continued(sheet, style)
    top = style.margin
    bottom = style.height - style.margin - style.footer_height
    pages: list[Placed] = [[]]
    y = top
    for band in _bands(sheet, style, head):
        if band.kind == "space":
            if pages[-1] and y > top:
                y += band.height
            continue
        if pages[-1] and y + band.height + band.keep > bottom:
            pages.append([(top, more)])
            y = top + more.height
            if band.kind == "row":
                pages[-1].append((y, head))
                y += head.height
        pages[-1].append((y, band))
        y += band.height
    return pages


def _paint_page(
    painter: QPainter, style: _Style, sheet: OfferSheet, placed: Placed, n: int, total: int
) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    painter.setPen(INK)
    for y, band in placed:
        band.draw(painter, y)
    # the page's foot: the sheet's number, and the page when there are several
    font = style.font(0.8)
    step = QFontMetricsF(font).lineSpacing()
    y = style.height - style.margin - step
    rect = QRectF(style.margin, y, style.inner, step)
    left = _("{title} no. {number} · {customer}").format(
        title=sheet.title, number=sheet.short_id, customer=sheet.customer_name
    )
    _text(painter, rect, left, font, MUTED)
    if total > 1:
        where = _("Page {n} of {total}").format(n=n + 1, total=total)
        _text(painter, rect, where, font, MUTED, Qt.AlignmentFlag.AlignRight)


def _bands(sheet: OfferSheet, style: _Style, head: _Band) -> list[_Band]:
    bands = [_header(sheet, style), _space(style, 4), _customer(sheet, style), _space(style, 5)]
    rows = [_row(line, style) for line in sheet.lines]
    bands.append(_Band(head.height, head.draw, "head", keep=rows[0].height if rows else 0.0))
    bands += rows
    bands += [_space(style, 6), _summary(sheet, style), _space(style, 4)]
    bands += [_note(note, style) for note in sheet.footer]
    return bands


def _space(style: _Style, mm: float) -> _Band:
    """Blank space between parts (tighter on A5), dropped at the top of a page."""
    return _Band(style.mm(mm * SPACING[style.size]), lambda p, y: None, "space")


def _header(sheet: OfferSheet, style: _Style) -> _Band:
    """Store and title on the left, date, consultant and number on the right, a rule under."""
    store_font = style.font(1.2, bold=True)
    title_font = style.font(2.0 if style.size == "A4" else 1.45, bold=True)
    label_font, value_font = style.font(0.9), style.font(0.9, bold=True)
    gap = style.mm(3)
    label_w = max(QFontMetricsF(label_font).horizontalAdvance(r.label) for r in sheet.info)
    value_w = max(QFontMetricsF(value_font).horizontalAdvance(r.value) for r in sheet.info)
    right_w = label_w + gap + value_w
    room = style.inner * 0.45
    if right_w > room:  # a long consultant's name: the values wrap first, then the labels
        right_w = room
        value_w = max(room - label_w - gap, room * 0.45)
        label_w = room - value_w - gap
    left_w = style.inner - right_w - style.mm(4)
    store = wrap_text(sheet.store_name, store_font, left_w)
    title = wrap_text(sheet.title, title_font, left_w)
    s_step, t_step, i_step = _step(store_font), _step(title_font), _step(value_font)
    info = [
        (wrap_text(row.label, label_font, label_w), wrap_text(row.value, value_font, value_w))
        for row in sheet.info
    ]
    left_h = len(store) * s_step + len(title) * t_step
    right_h = sum(max(len(lb), len(v)) for lb, v in info) * i_step
    rule_gap, rule_w = style.mm(2.5), style.mm(0.6)
    height = max(left_h, right_h) + rule_gap + rule_w

    def draw(p: QPainter, y: float) -> None:
        x = style.margin
        top = y
        for line in store:
            _text(p, QRectF(x, top, left_w, s_step), line, store_font, MUTED)
            top += s_step
        for line in title:
            _text(p, QRectF(x, top, left_w, t_step), line, title_font)
            top += t_step
        rx = style.margin + style.inner - right_w
        top = y
        right = Qt.AlignmentFlag.AlignRight
        for labels, values in info:
            for n, line in enumerate(labels):
                _text(p, QRectF(rx, top + n * i_step, label_w, i_step), line, label_font, MUTED)
            for n, line in enumerate(values):
                rect = QRectF(rx + label_w + gap, top + n * i_step, value_w, i_step)
                _text(p, rect, line, value_font, INK, right)
            top += max(len(labels), len(values)) * i_step
        line_y = y + height - rule_w / 2
        _hline(p, style.margin, style.margin + style.inner, line_y, rule_w, INK)

    return _Band(height, draw)


def _customer(sheet: OfferSheet, style: _Style) -> _Band:
    """A shaded box: customer, tier and points available side by side, label over value."""
    label_font, value_font = style.font(0.85), style.font(1.35, bold=True)
    shares = (0.5, 0.22, 0.28)
    cells = []
    for row, share in zip(sheet.customer, shares, strict=False):
        width = style.inner * share - 2 * style.pad
        cells.append(
            (
                row,
                wrap_text(row.label, label_font, width),
                wrap_text(row.value, value_font, width),
                share,
            )
        )
    l_step, v_step = _step(label_font), _step(value_font)
    content = max(len(lb) * l_step + len(v) * v_step for _r, lb, v, _s in cells)
    height = content + 2 * style.pad

    def draw(p: QPainter, y: float) -> None:
        _box(p, style, QRectF(style.margin, y, style.inner, height), FILL)
        x = style.margin
        for n, (_row, labels, values, share) in enumerate(cells):
            width = style.inner * share
            top = y + style.pad
            for line in labels:
                _text(p, QRectF(x + style.pad, top, width, l_step), line, label_font, MUTED)
                top += l_step
            for line in values:
                _text(p, QRectF(x + style.pad, top, width, v_step), line, value_font)
                top += v_step
            if n:
                _vline(p, x, y + style.pad, y + height - style.pad, style.mm(0.25), LINE)
            x += width

    return _Band(height, draw)


def _column_rects(style: _Style, y: float, height: float) -> list[QRectF]:
    rects = []
    x = style.margin
    for share in COLUMNS[style.size]:
        width = style.inner * share
        rects.append(QRectF(x + style.pad, y, width - 2 * style.pad, height))
        x += width
    return rects


def _table_head(sheet: OfferSheet, style: _Style) -> _Band:
    font = style.font(0.85, bold=True)
    step = _step(font)
    cols = _column_rects(style, 0, 0)
    wrapped = [
        wrap_text(text, font, rect.width()) for text, rect in zip(sheet.columns, cols, strict=True)
    ]
    height = max(len(w) for w in wrapped) * step + 2 * style.pad

    def draw(p: QPainter, y: float) -> None:
        p.fillRect(QRectF(style.margin, y, style.inner, height), HEAD_FILL)
        for n, (lines, rect) in enumerate(
            zip(wrapped, _column_rects(style, y, height), strict=True)
        ):
            align = Qt.AlignmentFlag.AlignLeft if n == 0 else Qt.AlignmentFlag.AlignRight
            top = y + height - style.pad - len(lines) * step  # headings sit on the bottom line
            for line in lines:
                _text(p, QRectF(rect.x(), top, rect.width(), step), line, font, INK, align)
                top += step

    return _Band(height, draw)


def _row(line: SheetLine, style: _Style) -> _Band:
    """One good: name (wrapped) and quantity; price; points and their limit; your price; earned."""
    name_font, small = style.font(1.0), style.font(0.8)
    value_font, strong = style.font(1.0), style.font(1.0, bold=True)
    cols = _column_rects(style, 0, 0)
    names = wrap_text(line.name, name_font, cols[0].width())
    qty = wrap_text(line.quantity, small, cols[0].width()) if line.quantity else []
    limits = wrap_text(line.limit, small, cols[2].width()) if line.limit else []
    n_step, s_step, v_step = _step(name_font), _step(small), _step(value_font)
    content = max(len(names) * n_step + len(qty) * s_step, v_step + len(limits) * s_step)
    height = content + 2 * style.pad

    def draw(p: QPainter, y: float) -> None:
        rects = _column_rects(style, y + style.pad, v_step)
        top = y + style.pad
        for text in names:
            _text(p, QRectF(rects[0].x(), top, rects[0].width(), n_step), text, name_font)
            top += n_step
        for text in qty:
            _text(p, QRectF(rects[0].x(), top, rects[0].width(), s_step), text, small, MUTED)
            top += s_step
        right = Qt.AlignmentFlag.AlignRight
        _fitted(p, rects[1], line.price, value_font, INK, right)
        _fitted(p, rects[2], line.points, strong, INK, right)
        _fitted(p, rects[3], line.personal_price, strong, INK, right)
        _fitted(p, rects[4], line.earn, value_font, INK, right)
        top = y + style.pad + v_step
        for text in limits:
            _text(p, QRectF(rects[2].x(), top, rects[2].width(), s_step), text, small, MUTED, right)
            top += s_step
        _hline(p, style.margin, style.margin + style.inner, y + height, style.mm(0.2), LINE)

    return _Band(height, draw, "row")


Block = tuple[float, Callable[[QPainter, float, float], None]]
"""A block's height and what paints it with its top left at (x, y)."""


def _summary(sheet: OfferSheet, style: _Style) -> _Band:
    """Under the table: on the left the totals and then the "how to earn more" box; on the
    right the validity, the QR code and its caption."""
    matrix = _qr_matrix(sheet.qr_payload)
    qr_mm = min(max(QR_MM[style.size], len(matrix) * QR_MODULE_MM), QR_MAX_MM[style.size])
    qr_col = style.mm(qr_mm)
    left_w = style.inner - qr_col - style.mm(6)
    totals_h, totals = _totals(sheet, style, left_w)
    tips_h, tips = _earn_more(sheet, style, left_w)
    gap = style.mm(4) if tips_h else 0.0
    qr_h, qr = _qr_block(sheet, style, qr_col, matrix)
    height = max(totals_h + gap + tips_h, qr_h)

    def draw(p: QPainter, y: float) -> None:
        totals(p, style.margin, y)
        if tips_h:
            tips(p, style.margin, y + totals_h + gap)
        qr(p, style.margin + style.inner - qr_col, y)

    return _Band(height, draw)


def _totals(sheet: OfferSheet, style: _Style, width: float) -> Block:
    """The totals of buying everything, in a shaded box."""
    inner_w = width - 2 * style.pad
    head_font, note_font = style.font(1.0, bold=True), style.font(0.8)
    body, strong = style.font(1.0), style.font(1.3, bold=True)
    heading = wrap_text(sheet.totals_heading, head_font, inner_w)
    rows: list[tuple[SheetRow, QFont, list[str], list[str]]] = []
    for row in sheet.totals:
        font = strong if row.strong else body
        value_w = min(QFontMetricsF(font).horizontalAdvance(row.value), inner_w * 0.6)
        labels = wrap_text(row.label, font, inner_w - value_w - style.pad)
        values = wrap_text(row.value, font, inner_w * 0.6)
        rows.append((row, font, labels, values))
    note = wrap_text(sheet.totals_note, note_font, inner_w) if sheet.totals_note else []
    content = len(heading) * _step(head_font) + style.pad + len(note) * _step(note_font)
    for row, font, labels, values in rows:
        content += max(len(labels), len(values)) * _step(font) + (style.pad if row.strong else 0)
    height = content + 2 * style.pad

    def draw(p: QPainter, x: float, y: float) -> None:
        _box(p, style, QRectF(x, y, width, height), FILL)
        left = x + style.pad
        top = y + style.pad
        for text in heading:
            _text(p, QRectF(left, top, inner_w, _step(head_font)), text, head_font)
            top += _step(head_font)
        top += style.pad
        for row, font, labels, values in rows:
            step = _step(font)
            if row.strong:
                _hline(p, left, left + inner_w, top + style.pad * 0.45, style.mm(0.3), INK)
                top += style.pad
            for n, text in enumerate(labels):
                _text(p, QRectF(left, top + n * step, inner_w, step), text, font)
            for n, text in enumerate(values):
                rect = QRectF(left, top + n * step, inner_w, step)
                _text(p, rect, text, font, INK, Qt.AlignmentFlag.AlignRight)
            top += max(len(labels), len(values)) * step
        for text in note:
            _text(p, QRectF(left, top, inner_w, _step(note_font)), text, note_font, MUTED)
            top += _step(note_font)

    return height, draw


def _earn_more(sheet: OfferSheet, style: _Style, width: float) -> Block:
    """The "how to earn more" box, one bullet a tip; no box (height 0) without tips."""
    if not sheet.earn_more:
        return 0.0, lambda p, x, y: None
    inner_w = width - 2 * style.pad
    head_font, body = style.font(1.1, bold=True), style.font(0.95)
    bullet = "•  "
    indent = QFontMetricsF(body).horizontalAdvance(bullet)
    heading = wrap_text(sheet.earn_more_heading, head_font, inner_w)
    tips = [wrap_text(tip, body, inner_w - indent) for tip in sheet.earn_more]
    b_step, h_step, tip_gap = _step(body), _step(head_font), style.pad * 0.6
    height = (
        2 * style.pad
        + len(heading) * h_step
        + style.pad
        + sum(len(t) * b_step for t in tips)
        + tip_gap * (len(tips) - 1)
    )

    def draw(p: QPainter, x: float, y: float) -> None:
        _box(p, style, QRectF(x, y, width, height), QColor("#ffffff"), pen=INK)
        left = x + style.pad
        top = y + style.pad
        for text in heading:
            _text(p, QRectF(left, top, inner_w, h_step), text, head_font)
            top += h_step
        top += style.pad
        for lines in tips:
            _text(p, QRectF(left, top, indent, b_step), bullet, body)
            for text in lines:
                _text(p, QRectF(left + indent, top, inner_w - indent, b_step), text, body)
                top += b_step
            top += tip_gap

    return height, draw


def _qr_block(sheet: OfferSheet, style: _Style, width: float, matrix: list[list[bool]]) -> Block:
    """The validity (bold), the QR code that fills the cart, and its caption, centred."""
    valid_font, cap_font = style.font(1.1, bold=True), style.font(0.95, bold=True)
    valid = wrap_text(sheet.validity, valid_font, width)
    caption = wrap_text(sheet.qr_caption, cap_font, width)
    module = max(1, math.floor(width / len(matrix)))
    side = module * len(matrix)
    v_step, c_step = _step(valid_font), _step(cap_font)
    height = len(valid) * v_step + side + len(caption) * c_step
    centre = Qt.AlignmentFlag.AlignHCenter

    def draw(p: QPainter, x: float, y: float) -> None:
        top = y
        for text in valid:
            _text(p, QRectF(x, top, width, v_step), text, valid_font, INK, centre)
            top += v_step
        _qr(p, matrix, math.floor(x + (width - side) / 2), math.floor(top), module)
        top += side
        for text in caption:
            _text(p, QRectF(x, top, width, c_step), text, cap_font, INK, centre)
            top += c_step

    return height, draw


def _note(note: str, style: _Style) -> _Band:
    """One of the notes at the foot of the sheet, small and grey."""
    font = style.font(0.8)
    step = _step(font)
    lines = wrap_text(note, font, style.inner)

    def draw(p: QPainter, y: float) -> None:
        for n, text in enumerate(lines):
            _text(p, QRectF(style.margin, y + n * step, style.inner, step), text, font, MUTED)

    return _Band(len(lines) * step, draw)


def _continued(sheet: OfferSheet, style: _Style) -> _Band:
    """What a following page starts with: whose sheet it is, continued."""
    font = style.font(1.1, bold=True)
    step = _step(font)
    text = _("{title} — {customer} (continued)").format(
        title=sheet.title, customer=sheet.customer_name
    )
    lines = wrap_text(text, font, style.inner)
    height = len(lines) * step + style.mm(4)

    def draw(p: QPainter, y: float) -> None:
        for n, line in enumerate(lines):
            _text(p, QRectF(style.margin, y + n * step, style.inner, step), line, font)

    return _Band(height, draw)


# --- drawing helpers --------------------------------------------------------------------------
def _step(font: QFont) -> float:
    return QFontMetricsF(font).lineSpacing()


def _text(
    p: QPainter,
    rect: QRectF,
    text: str,
    font: QFont,
    colour: QColor = INK,
    align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
) -> None:
    p.setFont(font)
    p.setPen(colour)
    p.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine, text)


def _fitted(
    p: QPainter, rect: QRectF, text: str, font: QFont, colour: QColor, align: Qt.AlignmentFlag
) -> None:
    """One line of text, made smaller (to 60 %) when it is wider than its cell."""
    width = QFontMetricsF(font).horizontalAdvance(text)
    if width > rect.width():
        font = QFont(font)
        font.setPixelSize(max(1, math.floor(font.pixelSize() * max(0.6, rect.width() / width))))
    _text(p, rect, text, font, colour, align)


def _hline(p: QPainter, x1: float, x2: float, y: float, width: float, colour: QColor) -> None:
    p.save()
    pen = QPen(colour)
    pen.setWidthF(width)
    pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    p.setPen(pen)
    p.drawLine(QPointF(x1, y), QPointF(x2, y))
    p.restore()


def _vline(p: QPainter, x: float, y1: float, y2: float, width: float, colour: QColor) -> None:
    p.save()
    pen = QPen(colour)
    pen.setWidthF(width)
    p.setPen(pen)
    p.drawLine(QPointF(x, y1), QPointF(x, y2))
    p.restore()


def _box(p: QPainter, style: _Style, rect: QRectF, fill: QColor, *, pen: QColor = LINE) -> None:
    p.save()
    outline = QPen(pen)
    outline.setWidthF(style.mm(0.3))
    p.setPen(outline)
    p.setBrush(QBrush(fill))
    radius = style.mm(2)
    p.drawRoundedRect(rect, radius, radius)
    p.restore()


def _qr_matrix(payload: str) -> list[list[bool]]:
    """The payload's QR modules (error correction M, the 4-module quiet zone included)."""
    import qrcode  # on first use: not on the till's start-up path
    import qrcode.constants

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=4)
    code.add_data(payload)
    code.make(fit=True)
    return [[bool(dark) for dark in row] for row in code.get_matrix()]


def _qr(p: QPainter, matrix: list[list[bool]], x: int, y: int, module: int) -> None:
    """The QR code with its top left at (x, y), each module ``module`` device pixels: whole
    pixels at whole-pixel positions, so it is sharp in an image and on paper."""
    n = len(matrix)
    p.save()
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.fillRect(QRectF(x, y, n * module, n * module), QColor(Qt.GlobalColor.white))
        black = QColor(Qt.GlobalColor.black)
        for r, row in enumerate(matrix):
            c = 0
            while c < n:  # one rectangle per run of dark modules: no seams between them
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < n and row[c]:
                    c += 1
                rect = QRectF(x + start * module, y + r * module, (c - start) * module, module)
                p.fillRect(rect, black)
    finally:
        p.restore()
