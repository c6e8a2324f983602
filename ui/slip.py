"""The loyalty slip drawn with Qt: on screen, into an image and on a printer.

Owns: the slip's receipt layout (an 80 mm roll: 72 mm of print between 4 mm margins, ~42
monospaced characters a line, bold totals, the QR code crisp and unsmoothed), :func:`paint_slip`,
:func:`slip_image`, :func:`print_slip` and the :class:`SlipPreview` dialog.  Everything shown comes
from :class:`cashier.slip.Slip`; nothing here decides what a slip says.

Painting on a ``QImage`` or a ``QPrinter`` is allowed outside the GUI thread (Qt's threading
notes), so :func:`slip_image` and :func:`print_slip` may run in a worker; :class:`SlipPreview`
itself is a widget and lives on the GUI thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QPainter,
    QPen,
    QPixmap,
)
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cashier.errors import UserFacingError
from cashier.i18n import _
from cashier.slip import Slip, SlipRow

ROLL_MM = 80.0
"""Paper width the layout is proportioned for."""
MARGIN_MM = 4.0
"""Blank paper on each side (thermal heads print 72 mm of an 80 mm roll)."""
CHARS_PER_LINE = 42
"""Monospaced characters across the printed width (as :meth:`Slip.text`)."""
QR_SHARE = 0.45
"""The QR code's side as a share of the paper width (36 mm on an 80 mm roll)."""
FONT_FAMILIES = ["DejaVu Sans Mono", "Liberation Mono", "Consolas", "Courier New", "monospace"]
STRONG_SCALE = 1.25
"""The amount to pay is printed this much larger than the body (and bold)."""
TOUCH_HEIGHT = 48
"""Minimum height of the dialog's buttons, in pixels (a finger, not a mouse)."""

Op = Callable[[QPainter], None]


class PrintFailed(UserFacingError):
    code = "print_failed"


@dataclass
class _Layout:
    """The slip laid out top to bottom at one width, in the target device's pixels.

    Each block is a band that is never split across pages: (top, height, drawing operations).
    """

    width: float
    base: QFont
    y: float = 0.0
    blocks: list[tuple[float, float, list[Op]]] = field(default_factory=list)

    @property
    def margin(self) -> float:
        return self.width * MARGIN_MM / ROLL_MM

    @property
    def inner(self) -> float:
        return self.width - 2 * self.margin

    def font(self, scale: float = 1.0, *, bold: bool = False) -> QFont:
        font = QFont(self.base)
        font.setPixelSize(max(1, round(self.base.pixelSize() * scale)))
        font.setBold(bold)
        return font

    def line_height(self, font: QFont) -> float:
        return QFontMetricsF(font).lineSpacing()

    def add(self, height: float, ops: list[Op]) -> None:
        self.blocks.append((self.y, height, ops))
        self.y += height

    def gap(self, lines: float = 0.5) -> None:
        self.y += self.line_height(self.base) * lines

    def rule(self) -> None:
        """A dashed rule across the print, half a line of space above and below."""
        step = self.line_height(self.base)
        y = round(self.y + step / 2)  # whole pixels: every rule as thick as the others
        left, right = self.margin, self.width - self.margin
        pen = QPen(QColor(Qt.GlobalColor.black))
        pen.setWidth(max(1, round(self.base.pixelSize() / 12)))
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        pen.setDashPattern([6.0, 3.6])  # in pen widths

        def draw(p: QPainter) -> None:
            p.save()
            p.setPen(pen)
            p.drawLine(QPointF(left, y), QPointF(right, y))
            p.restore()

        self.add(step, [draw])

    def text(
        self,
        text: str,
        font: QFont,
        *,
        align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
        indent: float = 0.0,
    ) -> None:
        """A paragraph, word-wrapped inside the print width."""
        left = self.margin + indent
        lines = wrap_text(text, font, self.inner - indent)
        step = self.line_height(font)
        for line in lines:
            rect = QRectF(left, self.y, self.inner - indent, step)
            self.add(step, [_text_op(rect, line, font, align)])

    def row(self, row: SlipRow, *, indent: float = 0.0, scale: float = 1.0) -> None:
        """A label on the left, its value on the right of the same line (or under it if long)."""
        font = self.font(scale, bold=row.strong)
        metrics = QFontMetricsF(font)
        step = metrics.lineSpacing()
        left = self.margin + indent
        room = self.inner - indent
        value_width = metrics.horizontalAdvance(row.value)
        space = metrics.horizontalAdvance("  ")
        if value_width + space > room * 0.6:  # the value needs most of the line: put it under
            self.text(row.label, font, indent=indent)
            self.text(row.value, font, align=Qt.AlignmentFlag.AlignRight, indent=indent)
            return
        labels = wrap_text(row.label, font, room - value_width - space)
        right = Qt.AlignmentFlag.AlignRight
        for n, line in enumerate(labels):
            rect = QRectF(left, self.y, room, step)
            ops = [_text_op(rect, line, font, Qt.AlignmentFlag.AlignLeft)]
            if n == 0:
                ops.append(_text_op(rect, row.value, font, right))
            self.add(step, ops)

    def image(self, image: QImage) -> None:
        """An image centred on whole device pixels (so a QR's modules stay sharp)."""
        x = math.floor((self.width - image.width()) / 2)
        y = math.ceil(self.y)

        def draw(p: QPainter) -> None:
            p.drawImage(QPointF(x, y), image)

        self.add(y - self.y + image.height(), [draw])


def paint_slip(painter: QPainter, page: QRectF, slip: Slip) -> None:
    """Paint the slip at the top of ``page``, proportioned to its width as an 80 mm roll.

    The slip is as long as its content (:func:`slip_height`), whatever the page's height.
    """
    layout = _layout(slip, page.width())
    painter.save()
    try:
        painter.translate(page.topLeft())
        _paint(painter, layout.blocks)
    finally:
        painter.restore()


def slip_height(slip: Slip, width: float) -> float:
    """How tall the slip is when painted ``width`` device pixels wide."""
    return _layout(slip, width).y


def slip_image(slip: Slip, dpi: int = 203) -> QImage:
    """The slip as a white image, 80 mm wide at ``dpi`` (203 dpi: a thermal printer's dots)."""
    width = round(ROLL_MM / 25.4 * dpi)
    layout = _layout(slip, width)
    image = QImage(width, math.ceil(layout.y), QImage.Format.Format_RGB32)
    dots_per_metre = round(dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    image.fill(QColor(Qt.GlobalColor.white))
    painter = QPainter(image)
    try:
        _paint(painter, layout.blocks)
    finally:
        painter.end()
    return image


def print_slip(printer: QPrinter, slip: Slip) -> None:
    """Print the slip: 80 mm wide (or the page's width, if narrower) at the top left of the page,
    continued on further pages when it is longer than one.

    Raises:
        PrintFailed: the printer (or the output file) cannot be opened.
    """
    painter = QPainter()
    if not painter.begin(printer):
        raise PrintFailed(
            _("The slip cannot be printed: check that the printer is on and has paper.")
        )
    try:
        page = printer.pageRect(QPrinter.Unit.DevicePixel)
        roll = ROLL_MM / 25.4 * printer.resolution()
        layout = _layout(slip, min(roll, page.width()))
        for n, page_blocks in enumerate(_pages(layout.blocks, page.height())):
            if n:
                printer.newPage()
            painter.save()
            painter.translate(0, -math.floor(page_blocks[0][0]))  # whole pixels: a sharp QR
            _paint(painter, page_blocks)
            painter.restore()
    finally:
        painter.end()


class SlipPreview(QDialog):
    """The slip as it will print, with Print (F9) and Close (Esc).

    Print asks for the printer (``QPrintDialog``, on the GUI thread) and then emits
    :attr:`print_requested` with it; the caller prints, e.g. ``print_slip`` in a worker.
    """

    print_requested = Signal(object)
    """Emitted with the chosen ``QPrinter`` once the cashier confirms the print dialog."""

    def __init__(
        self,
        slip: Slip,
        parent: QWidget | None = None,
        *,
        printer: QPrinter | None = None,
        on_print: Callable[[QPrinter], None] | None = None,
        dpi: int = 203,
    ) -> None:
        super().__init__(parent)
        self.slip = slip
        self.printer = printer
        self.setWindowTitle(_("Loyalty slip"))
        if on_print is not None:
            self.print_requested.connect(on_print)

        image = slip_image(slip, dpi)
        self.image_label = QLabel()
        self.image_label.setPixmap(QPixmap.fromImage(image))
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidget(self.image_label)
        scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(image.width() + 2 * scroll.frameWidth() + 24)
        scroll.setStyleSheet("QScrollArea { background: #808080; }")

        self.print_button = QPushButton(_("Print (F9)"))
        self.print_button.clicked.connect(self.ask_printer)
        self.close_button = QPushButton(_("Close (Esc)"))
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for button in (self.print_button, self.close_button):
            button.setMinimumHeight(TOUCH_HEIGHT)
            button.setMinimumWidth(TOUCH_HEIGHT * 3)
            font = button.font()
            font.setPointSizeF(max(font.pointSizeF(), 12.0) * 1.2)
            button.setFont(font)
            button.setAutoDefault(False)
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        screen = (
            parent.screen() if parent is not None else None
        ) or QGuiApplication.primaryScreen()
        room = screen.availableGeometry().height() - 60 if screen is not None else 900
        self.resize(scroll.minimumWidth() + 24, max(300, min(image.height() + 120, room)))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """F9 prints from anywhere in the dialog (Esc closes it: ``QDialog`` does that)."""
        if event.key() == Qt.Key.Key_F9 and not event.isAutoRepeat():
            event.accept()
            self.ask_printer()
            return
        super().keyPressEvent(event)

    def ask_printer(self) -> None:
        """Ask which printer (on the GUI thread); on OK emit :attr:`print_requested`."""
        printer = self.printer or QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        dialog.setWindowTitle(_("Print the loyalty slip"))
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.printer = printer
            self.print_requested.emit(printer)


def _layout(slip: Slip, width: float) -> _Layout:
    layout = _Layout(width=width, base=_base_font(width))
    layout.gap(0.5)
    layout.text(slip.store_name, layout.font(1.5, bold=True), align=Qt.AlignmentFlag.AlignHCenter)
    layout.text(slip.heading, layout.base, align=Qt.AlignmentFlag.AlignHCenter)
    layout.rule()
    for row in slip.info:
        layout.row(row)
    layout.rule()
    indent = QFontMetricsF(layout.base).horizontalAdvance("  ")
    for line in slip.lines:
        layout.text(line.name, layout.base)
        layout.row(SlipRow(line.quantity, line.amount), indent=indent)
        for detail in line.details:
            layout.row(detail, indent=indent)
    layout.rule()
    for row in slip.totals:
        layout.row(row, scale=STRONG_SCALE if row.strong else 1.0)
    for row in slip.payments:
        layout.row(row)
    if slip.loyalty_heading is not None:
        layout.rule()
        layout.text(
            slip.loyalty_heading, layout.font(bold=True), align=Qt.AlignmentFlag.AlignHCenter
        )
        for row in slip.loyalty:
            layout.row(row)
    if slip.notes:
        layout.rule()
        for note in slip.notes:
            layout.text(note, layout.base)
    layout.rule()
    layout.text(slip.qr_caption, layout.font(bold=True), align=Qt.AlignmentFlag.AlignHCenter)
    layout.gap(0.25)
    layout.image(_qr_image(slip.qr_payload, width * QR_SHARE))
    layout.text(slip.qr_payload, layout.font(0.75), align=Qt.AlignmentFlag.AlignHCenter)
    layout.gap(1.5)
    return layout


def _base_font(width: float) -> QFont:
    """The monospaced body font, sized so CHARS_PER_LINE characters fill the print width."""
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFixedPitch(True)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    font.setPixelSize(100)
    advance = QFontMetricsF(font).horizontalAdvance("0" * CHARS_PER_LINE) / 100
    inner = width * (ROLL_MM - 2 * MARGIN_MM) / ROLL_MM
    font.setPixelSize(max(6, math.floor(inner / advance)))
    return font


def _qr_image(payload: str, side: float) -> QImage:
    """The payload's QR code (error correction M, 4-module quiet zone), each module a whole number
    of pixels, scaled without smoothing."""
    import qrcode  # on first use: not on the till's start-up path
    import qrcode.constants

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=4)
    code.add_data(payload)
    code.make(fit=True)
    matrix = code.get_matrix()
    n = len(matrix)
    stride = (n + 3) // 4 * 4  # QImage rows start on 32-bit boundaries
    data = b"".join(bytes(0 if dark else 255 for dark in row) + bytes(stride - n) for row in matrix)
    modules = QImage(data, n, n, stride, QImage.Format.Format_Grayscale8).copy()  # own the pixels
    module = max(1, math.floor(side / n))
    return modules.scaled(
        n * module,
        n * module,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )


def wrap_text(text: str, font: QFont, width: float) -> list[str]:
    """Word-wrap ``text`` to lines no wider than ``width``; over-long words are cut."""
    metrics = QFontMetricsF(font)
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if metrics.horizontalAdvance(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while metrics.horizontalAdvance(word) > width and len(word) > 1:
                cut = len(word)
                while cut > 1 and metrics.horizontalAdvance(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        lines.append(current)
    return lines


def _text_op(rect: QRectF, text: str, font: QFont, align: Qt.AlignmentFlag) -> Op:
    flags = align | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine

    def draw(p: QPainter) -> None:
        if p.font() != font:
            p.setFont(font)
        p.drawText(rect, flags, text)

    return draw


def _paint(painter: QPainter, blocks: list[tuple[float, float, list[Op]]]) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    painter.setPen(QColor(Qt.GlobalColor.black))
    for _top, _height, ops in blocks:
        for op in ops:
            op(painter)


def _pages(
    blocks: list[tuple[float, float, list[Op]]], page_height: float
) -> list[list[tuple[float, float, list[Op]]]]:
    """Blocks split into pages of ``page_height``; a block is never cut in two."""
    pages: list[list[tuple[float, float, list[Op]]]] = [[]]
    page_top = blocks[0][0] if blocks else 0.0
    for block in blocks:
        top, height, _ops = block
        if pages[-1] and top + height - page_top > page_height:
            pages.append([])
            page_top = top
        pages[-1].append(block)
    return pages
