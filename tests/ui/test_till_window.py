"""The till window's flows, driven by keys, against a real processing service on loopback.

Each test types what a cashier types (pytest-qt key events), waits for the worker's result to be
drawn, and checks the effect where it matters: the till's store and the service's database.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import qrcode
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from cashier.store.models import OutboxItem, Sale
from processing.admin import create_enrolment_code
from processing.db import transaction
from processing.models import Purchase
from sync.runtime import enroll
from tests.faults.proxy import FaultProxy
from tests.processing.conftest import NOW, Service
from tests.ui.conftest import login, open_window, till_threads
from ui.dialogs import ReturnDialog, SmsDialog
from ui.sale import SalePage
from ui.window import MainWindow

PHONE = "+79001234567"
PHONE_TYPED = "8 (900) 123-45-67"
PHONE_SKU = "4600000000035"  # 39 990,00 ₽
CASE_SKU = "4600000000011"  # 1 500,00 ₽


def page_of(window: MainWindow) -> SalePage:
    assert window.sale_page is not None
    return window.sale_page


def settle(qtbot: QtBot, window: MainWindow) -> None:
    """Wait until the till's lane has drawn everything it was asked to do."""
    qtbot.waitUntil(lambda: window.tasks.running == 0, timeout=10000)


def type_in(qtbot: QtBot, field, text: str, *, delay: int = -1) -> None:
    qtbot.keyClicks(field, text, delay=delay)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def identify(qtbot: QtBot, window: MainWindow, text: str = PHONE_TYPED) -> None:
    page = page_of(window)
    page.customer_field.setFocus()
    type_in(qtbot, page.customer_field, text)
    settle(qtbot, window)


def add(qtbot: QtBot, window: MainWindow, sku: str) -> None:
    page = page_of(window)
    window.actions_["goods"].trigger()
    type_in(qtbot, page.goods_field, sku)
    settle(qtbot, window)


def close_slip(qtbot: QtBot, window: MainWindow) -> None:
    from ui.slip import SlipPreview

    qtbot.waitUntil(lambda: window.findChild(SlipPreview) is not None, timeout=5000)
    preview = window.findChild(SlipPreview)
    qtbot.keyClick(preview, Qt.Key.Key_Escape)


def purchases(service: Service, purchase_id: str) -> int:
    with transaction(service.factory) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Purchase)
                .where(Purchase.purchase_id == purchase_id)
            )
            or 0
        )


def last_sale(window: MainWindow) -> Sale:
    assert window.runtime is not None
    with window.runtime.store.read() as s:
        sale = s.scalars(
            select(Sale).order_by(Sale.created_at.desc(), Sale.monotonic_ns.desc())
        ).first()
        assert sale is not None
        s.expunge(sale)
        return sale


# -- a sale with points, online ----------------------------------------------------------------
def test_sale_with_points_online_confirmed_by_sms(
    qtbot: QtBot, window: MainWindow, shop: Service
) -> None:
    """Phone + Enter, a good, F12: spending the maximum (above the program's 500) asks for the
    customer's SMS code; with it the sale is held, written and sent — once."""
    page = page_of(window)
    identify(qtbot, window)
    assert page.view is not None and page.view.customer is not None
    assert page.view.customer.id == "c_1"
    assert "1000" in page.customer.points.text()
    add(qtbot, window, PHONE_SKU)
    assert page.view.priced is not None
    q = page.view.priced.quote
    assert q.redeem_points == Decimal(1000)  # the maximum by default
    assert "баланс" in page.totals.cap.text()  # the reason for the maximum is on screen
    window.actions_["pay"].trigger()
    qtbot.waitUntil(lambda: isinstance(page.dialog, SmsDialog), timeout=10000)
    dialog = page.dialog
    assert isinstance(dialog, SmsDialog)
    qtbot.waitUntil(lambda: dialog.otp_id is not None, timeout=10000)
    _phone, text = shop.sms.sent[-1]
    code = next(w.strip(".:,") for w in text.split() if w.strip(".:,").isdigit())
    type_in(qtbot, dialog.code, code)
    close_slip(qtbot, window)
    settle(qtbot, window)
    sale = last_sale(window)
    assert sale.redeem_points == Decimal(1000)
    assert sale.path == "online"
    assert purchases(shop, sale.id) == 1
    with shop.client() as client:
        balance = client.get("/customers/c_1/balance").json()
    assert Decimal(balance["available"]) == 0
    assert page.view is not None and not page.view.lines  # a new sale is ready
    assert window.focusWidget() is page.customer_field


def test_spending_under_the_threshold_takes_four_keys(qtbot: QtBot, window: MainWindow) -> None:
    """After phone + Enter: F5, the points, Enter, F12 — and the sale is done."""
    page = page_of(window)
    add(qtbot, window, CASE_SKU)
    identify(qtbot, window)
    window.actions_["points"].trigger()
    assert window.focusWidget() is page.totals.redeem
    type_in(qtbot, page.totals.redeem, "300")
    settle(qtbot, window)
    assert page.view is not None and page.view.priced is not None
    assert page.view.priced.quote.redeem_points == Decimal(300)
    window.actions_["pay"].trigger()
    close_slip(qtbot, window)
    settle(qtbot, window)
    assert last_sale(window).redeem_points == Decimal(300)


# -- offline ------------------------------------------------------------------------------------
@pytest.fixture
def proxied(qtbot: QtBot, shop: Service, tmp_path: Path) -> Iterator[tuple[MainWindow, FaultProxy]]:
    host, port = shop.base_url.removeprefix("http://").split(":")
    with FaultProxy(upstream=(host, int(port))) as proxy:
        with transaction(shop.factory) as session:
            code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
        folder = tmp_path / "till-proxied"
        enroll(folder, proxy.url, code, "till 2")
        baseline = {t.ident for t in threading.enumerate()}
        window = open_window(qtbot, folder, budget=0.8)
        login(qtbot, window, "2222")
        yield window, proxy
        window.close()
        proxy.up()
        leaked = till_threads(baseline)
        assert not leaked, leaked


def test_offline_sale_is_queued_and_reaches_the_service_once(
    qtbot: QtBot, proxied: tuple[MainWindow, FaultProxy], shop: Service
) -> None:
    window, proxy = proxied
    page = page_of(window)
    proxy.down()
    qtbot.waitUntil(lambda: window.status is not None and not window.status.online, timeout=10000)
    assert "Нет связи" in window.status_button.text()
    identify(qtbot, window)
    assert page.view is not None and page.view.customer is not None
    assert page.view.customer_served.value == "offline"
    add(qtbot, window, CASE_SKU)
    window.actions_["points"].trigger()
    type_in(qtbot, page.totals.redeem, "200")
    settle(qtbot, window)
    window.actions_["pay"].trigger()
    close_slip(qtbot, window)
    settle(qtbot, window)
    sale = last_sale(window)
    assert sale.offline and sale.redeem_points == Decimal(200)
    assert purchases(shop, sale.id) == 0
    qtbot.waitUntil(lambda: window.status is not None and window.status.queued == 1, timeout=10000)
    assert "очереди 1" in window.status_button.text() or "очередь 1" in window.status_button.text()
    proxy.up()
    qtbot.waitUntil(
        lambda: window.status is not None and window.status.online and window.status.queued == 0,
        timeout=20000,
    )
    assert purchases(shop, sale.id) == 1
    window.sync_now()
    time.sleep(0.5)
    assert purchases(shop, sale.id) == 1


# -- returns ------------------------------------------------------------------------------------
def test_partial_return_by_the_slip_code(qtbot: QtBot, window: MainWindow, shop: Service) -> None:
    page = page_of(window)
    identify(qtbot, window)
    add(qtbot, window, CASE_SKU)
    add(qtbot, window, CASE_SKU)  # the same good again: quantity 2 on one line
    assert page.view is not None and page.view.lines[0].qty == 2000
    window.actions_["points"].trigger()
    type_in(qtbot, page.totals.redeem, "0")
    settle(qtbot, window)
    window.actions_["pay"].trigger()
    close_slip(qtbot, window)
    settle(qtbot, window)
    sale = last_sale(window)
    assert window.last_slip is not None and window.last_slip.qr_payload == f"LS1.{sale.id}"
    window.actions_["return"].trigger()
    qtbot.waitUntil(lambda: isinstance(page.dialog, ReturnDialog), timeout=5000)
    dialog = page.dialog
    assert isinstance(dialog, ReturnDialog)
    type_in(qtbot, dialog.ref, window.last_slip.qr_payload)
    qtbot.waitUntil(lambda: dialog.found is not None, timeout=5000)
    dialog.table.item(0, 4).setText("1")
    assert "Возврат" in dialog.summary.text() or dialog.summary.text()
    assert dialog.error.text() == ""
    qtbot.keyClick(dialog, Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: page.dialog is None, timeout=10000)
    settle(qtbot, window)
    assert window.runtime is not None
    with window.runtime.store.read() as s:
        kinds = [r.kind for r in s.scalars(select(OutboxItem).order_by(OutboxItem.seq))]
    assert kinds[-1] == "return"
    qtbot.waitUntil(lambda: window.status is not None and window.status.queued == 0, timeout=10000)
    with shop.client() as client:
        body = client.get(f"/purchases/{sale.id}").json()
    assert [line["returned_qty"] for line in body["lines"]] in (["1.000"], ["1"], ["1.0"])


def test_returning_more_than_bought_is_refused_and_changes_nothing(
    qtbot: QtBot, window: MainWindow
) -> None:
    page = page_of(window)
    add(qtbot, window, CASE_SKU)
    window.actions_["pay"].trigger()
    close_slip(qtbot, window)
    settle(qtbot, window)
    sale = last_sale(window)
    window.actions_["return"].trigger()
    qtbot.waitUntil(lambda: isinstance(page.dialog, ReturnDialog), timeout=5000)
    dialog = page.dialog
    assert isinstance(dialog, ReturnDialog)
    type_in(qtbot, dialog.ref, sale.id[:8])  # the short number printed on the slip
    qtbot.waitUntil(lambda: dialog.found is not None, timeout=5000)
    dialog.table.item(0, 4).setText("3")
    assert dialog.error.text()
    qtbot.keyClick(dialog, Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: bool(dialog.error.text()), timeout=5000)
    settle(qtbot, window)
    assert window.runtime is not None
    with window.runtime.store.read() as s:
        assert "return" not in [r.kind for r in s.scalars(select(OutboxItem))]
    dialog.reject()


# -- scanner input --------------------------------------------------------------------------------
def wallet_token(shop: Service, customer_id: str = "c_1") -> str:
    from cashier.wallet_token import sign_wallet_token

    return sign_wallet_token(shop.wallet_private(), customer_id, NOW + timedelta(days=30))


def test_a_scanner_burst_in_the_goods_field_identifies_the_customer(
    qtbot: QtBot, window: MainWindow, shop: Service
) -> None:
    """A wallet QR typed by a 2D scanner (a burst, no delay between keys) into the goods field
    is a customer, not a good; typed by hand (80 ms a key) the same field reads a SKU."""
    page = page_of(window)
    token = wallet_token(shop)
    window.actions_["goods"].trigger()
    type_in(qtbot, page.goods_field, token)
    settle(qtbot, window)
    assert page.view is not None and page.view.customer is not None
    assert page.view.customer.id == "c_1"
    assert page.view.customer.wallet_token == token
    assert not page.view.lines
    type_in(qtbot, page.goods_field, CASE_SKU, delay=80)
    settle(qtbot, window)
    assert len(page.view.lines) == 1


def test_a_bad_qr_says_what_to_do_and_changes_nothing(qtbot: QtBot, window: MainWindow) -> None:
    page = page_of(window)
    identify(qtbot, window)
    before = page.view
    assert before is not None and before.customer is not None
    identify(qtbot, window, "LW1.not-a-real-token")
    assert page.info.property("error") is True
    assert page.info.text()
    assert page.view is not None and page.view.customer == before.customer


def test_camera_scan_identifies_the_customer(qtbot: QtBot, enrolled: Path, shop: Service) -> None:
    """The camera loop (frames generated here instead of a device) decodes the wallet QR on its
    thread; the code comes back by the tasks' route and identifies the customer."""
    token = wallet_token(shop)
    image = qrcode.make(token, box_size=6, border=4).get_image().convert("L")
    frame = np.full((720, 1280), 255, dtype=np.uint8)
    qr = np.asarray(image, dtype=np.uint8)
    frame[100 : 100 + qr.shape[0], 300 : 300 + qr.shape[1]] = qr

    def frames() -> Iterator[np.ndarray]:
        for _ in range(200):
            time.sleep(0.01)
            yield frame

    baseline = {t.ident for t in threading.enumerate()}
    window = MainWindow(
        enrolled, clock=lambda: NOW, budget=5.0, probe_every=0.3, camera_frames=frames
    )
    qtbot.addWidget(window)
    window.show()
    login(qtbot, window)
    window.actions_["camera"].trigger()
    page = page_of(window)
    qtbot.waitUntil(lambda: page.view is not None and page.view.customer is not None, timeout=10000)
    assert page.view is not None and page.view.customer is not None
    assert page.view.customer.id == "c_1"
    window.close()
    leaked = till_threads(baseline)
    assert not leaked, leaked


# -- cashier, shift, status -------------------------------------------------------------------------
def test_wrong_pin_lock_and_unlock(qtbot: QtBot, window: MainWindow) -> None:
    window.actions_["lock"].trigger()
    assert window.pages.currentWidget() is window.login_page
    type_in(qtbot, window.login_page.pin, "0000")
    qtbot.waitUntil(lambda: bool(window.login_page.error.text()), timeout=5000)
    assert window.pages.currentWidget() is window.login_page
    type_in(qtbot, window.login_page.pin, "2222")  # another, not senior: refused
    qtbot.waitUntil(
        lambda: (
            "заблокирована" in window.login_page.error.text()
            or window.login_page.error.text() != ""
        ),
        timeout=5000,
    )
    assert window.pages.currentWidget() is window.login_page
    type_in(qtbot, window.login_page.pin, "1111")
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.sale_page, timeout=5000)


def test_closing_the_shift_logs_out(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.status is not None and window.status.queued == 0, timeout=10000)
    window.close_shift()
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.login_page, timeout=5000)
    assert window.cashier is None


def test_review_list_is_for_a_senior(qtbot: QtBot, window: MainWindow) -> None:
    window.actions_["review"].trigger()
    page = page_of(window)
    qtbot.waitUntil(lambda: page.dialog is not None, timeout=5000)
    assert page.dialog is not None
    page.dialog.reject()


def test_first_start_asks_for_the_server_and_code(
    qtbot: QtBot, shop: Service, tmp_path: Path
) -> None:
    window = open_window(qtbot, tmp_path / "new-till")
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.enrol_page, timeout=10000)
    enrol = window.enrol_page
    type_in(qtbot, enrol.server, "ftp://nowhere")
    qtbot.waitUntil(lambda: "http" in enrol.error.text(), timeout=5000)
    with transaction(shop.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    enrol.server.setText(shop.base_url)
    enrol.code.setText(code)
    qtbot.keyClick(enrol.code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.login_page, timeout=20000)
    window.close()


def test_no_void_call_leaks_a_reference_to_none() -> None:
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None per void call (the process
    aborted later); the pin in pyproject.toml keeps it out."""
    from PySide6.QtCore import QPointF

    assert QApplication.instance() is not None or True
    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(1000):
        point.setX(1.0)
    assert sys.getrefcount(None) >= before - 10


def test_the_window_knows_the_store_file_name() -> None:
    """The first screen is chosen before the store's code loads; the name must agree."""
    from cashier.store.db import DB_NAME
    from ui.window import STORE_FILE

    assert STORE_FILE == DB_NAME


def test_the_window_module_loads_without_the_till_core() -> None:
    """Cold start: the window's module must not pull SQLAlchemy, httpx, numpy or Alembic in
    (they load on the worker while the PIN page is already up)."""
    import subprocess

    code = (
        "import sys, ui.window; "
        "print(sorted(m for m in ('sqlalchemy', 'httpx', 'numpy', 'alembic', 'qrcode') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_data_folder_variable_is_the_command_lines() -> None:
    from sync.cli import ENV_DATA as cli
    from ui.app import ENV_DATA as window

    assert cli == window


def test_the_readme_lists_every_key() -> None:
    from ui.shortcuts import SHORTCUTS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [s.key for s in SHORTCUTS if f"| `{s.key}` |" not in readme]
    assert not missing, f"README's key table lacks {missing}"


def test_a_weighed_good_asks_for_the_quantity(qtbot: QtBot, window: MainWindow) -> None:
    """A cable sold by the metre: the quantity dialog opens; 2.5 m makes the line."""
    from ui.dialogs import QtyDialog

    page = page_of(window)
    add(qtbot, window, "4600000000042")
    qtbot.waitUntil(lambda: isinstance(page.dialog, QtyDialog), timeout=5000)
    dialog = page.dialog
    assert isinstance(dialog, QtyDialog)
    type_in(qtbot, dialog.qty, "2,5")
    settle(qtbot, window)
    assert page.view is not None and [ln.qty for ln in page.view.lines] == [2500]
    assert page.view.priced is not None and page.view.priced.quote.base_total == 30000


def test_pay_refuses_a_sale_that_changed_after_the_cashier_looked(
    qtbot: QtBot, window: MainWindow
) -> None:
    """F12 right after a scan whose line is not drawn yet: the till does not charge for a
    receipt the cashier has not seen; nothing is written, and the next F12 pays what is shown."""
    page = page_of(window)
    add(qtbot, window, CASE_SKU)
    window.actions_["goods"].trigger()
    type_in(qtbot, page.goods_field, PHONE_SKU)  # queued on the till's lane, not drawn yet
    window.actions_["pay"].trigger()
    settle(qtbot, window)
    assert "F12" in page.info.text() and page.info.property("error") is True
    assert window.runtime is not None
    with window.runtime.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Sale)) == 0
    assert page.view is not None and len(page.view.lines) == 2
    window.actions_["pay"].trigger()
    close_slip(qtbot, window)
    settle(qtbot, window)
    assert last_sale(window).to_pay == 1_500_00 + 39_990_00


def test_del_in_an_empty_field_removes_the_chosen_line(qtbot: QtBot, window: MainWindow) -> None:
    page = page_of(window)
    add(qtbot, window, CASE_SKU)
    add(qtbot, window, PHONE_SKU)
    assert page.view is not None and len(page.view.lines) == 2
    assert window.focusWidget() is page.goods_field and not page.goods_field.text()
    qtbot.keyClick(page.goods_field, Qt.Key.Key_Delete)
    qtbot.keyClick(page.goods_field, Qt.Key.Key_Delete)  # the second press: the line is gone
    settle(qtbot, window)
    assert [line.sku for line in page.view.lines] in ([CASE_SKU], [PHONE_SKU])


def test_after_a_shift_change_the_sale_is_the_new_cashiers(
    qtbot: QtBot, window: MainWindow
) -> None:
    qtbot.waitUntil(lambda: window.status is not None and window.status.queued == 0, timeout=10000)
    first_shift = window.shift_no
    window.close_shift()
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.login_page, timeout=5000)
    type_in(qtbot, window.login_page.pin, "2222")
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.sale_page, timeout=5000)
    settle(qtbot, window)
    page = page_of(window)
    assert window.shift_no != first_shift
    assert page.counter.cashier is not None and page.counter.cashier.name == "Борис Котов"
    assert page.counter.draft.shift_no == window.shift_no


def test_unlocking_keeps_the_sale_in_progress(qtbot: QtBot, window: MainWindow) -> None:
    page = page_of(window)
    add(qtbot, window, CASE_SKU)
    window.actions_["lock"].trigger()
    assert window.pages.currentWidget() is window.login_page
    type_in(qtbot, window.login_page.pin, "1111")
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.sale_page, timeout=5000)
    settle(qtbot, window)
    assert page.view is not None and [line.sku for line in page.view.lines] == [CASE_SKU]


def test_a_piece_good_takes_whole_quantities_only(qtbot: QtBot, window: MainWindow) -> None:
    """Typing "1.5" for a phone case is refused with a message and changes nothing."""
    from ui.dialogs import QtyDialog

    page = page_of(window)
    add(qtbot, window, CASE_SKU)
    window.actions_["qty"].trigger()
    qtbot.waitUntil(lambda: isinstance(page.dialog, QtyDialog), timeout=5000)
    dialog = page.dialog
    assert isinstance(dialog, QtyDialog)
    dialog.qty.clear()
    type_in(qtbot, dialog.qty, "1.5")
    settle(qtbot, window)
    assert page.info.property("error") is True
    assert page.view is not None and [ln.qty for ln in page.view.lines] == [1000]
