"""Take the README's screenshots of the till window: every screen, on a real X server (Xvfb).

    xvfb-run -s "-screen 0 1280x800x24" .venv/bin/python tools/screenshots.py [OUT_DIR]

Starts the processing service on loopback with the deterministic demo data (a temporary SQLite
file), puts a fault proxy between it and the till (to show the offline screens), enrols a till in
a temporary folder, and drives the window with key events as a cashier would.  Each picture is
the whole X screen (dialogs over the window), written to ``docs/screenshots/`` by default.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LOYALTY_KEYRING", "file")
os.environ.setdefault("LOYALTY_LANG", "ru")

import uvicorn  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402
from sqlalchemy import select  # noqa: E402

from processing.admin import create_enrolment_code  # noqa: E402
from processing.app import create_app  # noqa: E402
from processing.db import make_engine, migrate, session_factory, transaction  # noqa: E402
from processing.demo_data import load_demo_data  # noqa: E402
from processing.models import CatalogueItem  # noqa: E402
from processing.sms import LogGateway  # noqa: E402
from tests.faults.proxy import FaultProxy  # noqa: E402
from ui.app import make_app  # noqa: E402
from ui.window import MainWindow  # noqa: E402


def pump(done: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        QApplication.processEvents()
        time.sleep(0.01)


def pause(seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def shoot(out: Path, name: str) -> None:
    pause(0.4)
    screen = QApplication.primaryScreen()
    path = out / f"{name}.png"
    screen.grabWindow(0).save(str(path))
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def type_in(widget: QWidget, text: str) -> None:
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="loyalty-shots-"))
    url = f"sqlite:///{work / 'processing.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    now = datetime.now(UTC)
    with transaction(factory) as session:
        summary = load_demo_data(session, now=now)
        code, _ = create_enrolment_code(session, "iport-msk-1", now)
        tablet_code, _ = create_enrolment_code(session, "iport-msk-1", now)
        goods = {
            row.category: row.sku
            for row in session.scalars(select(CatalogueItem).order_by(CatalogueItem.price))
        }
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(url, engine=engine, sms=LogGateway(work / "sms.log")),
            host="127.0.0.1",
            port=0,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    pump(lambda: server.started, 20)
    port = server.servers[0].sockets[0].getsockname()[1]
    proxy = FaultProxy(upstream=("127.0.0.1", port)).start()
    app = make_app()
    try:
        shots(out, work, proxy, code, summary.gold_phone, goods, tablet_code)
    finally:
        proxy.stop()
        server.should_exit = True
        thread.join(10)
    del app
    return 0


def shots(
    out: Path,
    work: Path,
    proxy: FaultProxy,
    code: str,
    phone: str,
    goods: dict[str, str],
    tablet_code: str,
) -> None:
    folder = work / "till"
    window = MainWindow(folder, probe_every=1.0)
    window.resize(1280, 770)
    window.move(0, 0)
    window.show()
    pump(lambda: window.pages.currentWidget() is window.enrol_page)
    window.enrol_page.server.setText(proxy.url)
    window.enrol_page.code.setText(code)
    shoot(out, "01-enrol")
    QTest.keyClick(window.enrol_page.code, Qt.Key.Key_Return)
    pump(lambda: window.pages.currentWidget() is window.login_page, 60)
    pump(lambda: window.status is not None and bool(window.status.last_pull_at), 60)
    shoot(out, "02-login")
    type_in(window.login_page.pin, "1111")
    pump(lambda: window.sale_page is not None and window.pages.currentWidget() is window.sale_page)
    page = window.sale_page
    assert page is not None

    def idle() -> None:
        pump(lambda: window.tasks.running == 0)

    type_in(page.customer_field, phone)
    idle()
    for category in ("smartphones", "accessories", "cables"):
        if category in goods:
            window.actions_["goods"].trigger()
            type_in(page.goods_field, goods[category])
            idle()
    window.actions_["per_line"].trigger()
    shoot(out, "03-sale")
    window.actions_["split"].trigger()
    pump(lambda: page.dialog is not None)
    shoot(out, "04-split")
    page.dialog.reject()
    window.actions_["history"].trigger()
    pump(lambda: page.dialog is not None)
    idle()
    shoot(out, "05-history")
    page.dialog.reject()
    window.actions_["pay"].trigger()
    pump(lambda: page.dialog is not None or window.last_slip is not None, 20)
    if page.dialog is not None:  # the SMS confirmation for spending above the threshold
        pause(1.0)
        shoot(out, "06-sms-code")
        sms = (work / "sms.log").read_text(encoding="utf-8").split()
        digits = [
            w.strip(".:,")
            for w in sms
            if w.strip(".:,").isdigit() and len(w.strip(".:,")) in (4, 5, 6)
        ]
        type_in(page.dialog.code, digits[-1])
    pump(lambda: window.last_slip is not None, 20)
    shoot(out, "07-slip")
    from ui.slip import SlipPreview

    preview = window.findChild(SlipPreview)
    if preview is not None:
        preview.reject()
    idle()
    window.actions_["return"].trigger()
    pump(lambda: page.dialog is not None)
    dialog = page.dialog
    type_in(dialog.ref, window.last_slip.qr_payload)
    pump(lambda: dialog.found is not None)
    dialog.table.item(0, 4).setText("1")
    shoot(out, "08-return")
    dialog.reject()
    proxy.down()
    pump(lambda: window.status is not None and not window.status.online, 20)
    type_in(page.customer_field, phone)
    idle()
    window.actions_["goods"].trigger()
    type_in(page.goods_field, goods.get("accessories") or next(iter(goods.values())))
    idle()
    shoot(out, "09-offline-sale")
    window.actions_["pay"].trigger()
    pump(lambda: window.findChild(SlipPreview) is not None, 20)
    pause(0.5)
    shoot(out, "10-offline-slip")
    window.findChild(SlipPreview).reject()
    pump(lambda: window.status is not None and window.status.queued > 0, 20)
    window.show_status()
    shoot(out, "11-status")
    window.status_dialog.reject()
    window.actions_["review"].trigger()
    pump(lambda: page.dialog is not None)
    idle()
    shoot(out, "12-review")
    page.dialog.reject()
    window.actions_["help"].trigger()
    pause(0.3)
    shoot(out, "13-keys")
    for w in QApplication.topLevelWidgets():
        if w is not window and w.isVisible():
            w.close()
    proxy.up()
    pump(lambda: window.status is not None and window.status.online, 20)
    desk_and_handoff(out, work, window, proxy, phone, goods, tablet_code)
    window.close()


def desk_and_handoff(
    out: Path,
    work: Path,
    window: MainWindow,
    proxy: FaultProxy,
    phone: str,
    goods: dict[str, str],
    tablet_code: str,
) -> None:
    """The consultant's desk with a sheet, the sheet itself, and a tablet's hand-off."""
    from cashier.accounts import hand_off
    from sync.runtime import TillRuntime, enroll
    from ui.offer_sheet import sheet_image

    def idle() -> None:
        pump(lambda: window.tasks.running == 0)

    window.actions_["desk"].trigger()
    desk = window.desk_page
    assert desk is not None
    type_in(desk.customer_field, phone)
    idle()
    for category in ("smartphones", "headphones", "accessories"):
        if category in goods:
            type_in(desk.goods_field, goods[category])
            idle()
    shoot(out, "14-desk")
    sheets: list[object] = []
    desk._with_sheet(sheets.append)
    idle()
    sheet_image(sheets[0], "A4", dpi=110).save(str(out / "15-offer-sheet.png"))
    print(f"  {out / '15-offer-sheet.png'}")
    window.actions_["desk"].trigger()
    folder = work / "tablet"
    enroll(folder, proxy.url, tablet_code, "tablet")
    tablet = TillRuntime.open(folder)
    try:
        assert tablet.puller is not None
        tablet.puller.all()
        customer = tablet.till.identify(phone).customer
        assert customer is not None
        pump(lambda: window.handoffs is not None and window.handoffs.after is not None, 20)
        hand_off(tablet.till, customer.id)
        page = window.sale_page
        assert page is not None
        pump(lambda: page.handoff.isVisible(), 10)
        shoot(out, "16-handoff")
    finally:
        tablet.close()


if __name__ == "__main__":
    sys.exit(main())
