"""The consultant's desk (history, offer sheet) and the tablet → till hand-off, against one real
processing service on loopback."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from cashier.accounts import hand_off
from cashier.store.models import OutboxItem
from processing.admin import create_enrolment_code
from processing.db import transaction
from sync.runtime import TillRuntime, enroll
from tests.processing.conftest import NOW, Service
from tests.ui.conftest import login, open_window
from tests.ui.test_till_window import CASE_SKU, PHONE_SKU, PHONE_TYPED, settle, type_in
from ui.window import MainWindow


def second_till(shop: Service, tmp_path: Path) -> TillRuntime:
    """Another device of the same store (the tablet), with its own data folder."""
    with transaction(shop.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    folder = tmp_path / "tablet"
    enroll(folder, shop.base_url, code, "tablet")
    runtime = TillRuntime.open(folder, clock=lambda: NOW)
    assert runtime.puller is not None
    runtime.puller.all()
    return runtime


def test_a_customer_from_the_tablet_appears_on_the_till_and_is_taken(
    qtbot: QtBot, window: MainWindow, shop: Service, tmp_path: Path
) -> None:
    tablet = second_till(shop, tmp_path)
    try:
        qtbot.waitUntil(lambda: window.handoffs is not None and window.handoffs.after is not None)
        assert hand_off(tablet.till, "c_1")
        page = window.sale_page
        assert page is not None
        qtbot.waitUntil(lambda: page.handoff.isVisible(), timeout=5000)
        assert "Иван" in page.handoff.text.text()
        assert page.view is None or page.view.customer is None  # offered, not imposed
        window.actions_["accept_handoff"].trigger()
        settle(qtbot, window)
        assert page.view is not None and page.view.customer is not None
        assert page.view.customer.id == "c_1"
        assert not page.handoff.isVisible()
    finally:
        tablet.close()


def test_the_tills_own_hand_offs_and_ignored_ones_do_not_stick(
    qtbot: QtBot, window: MainWindow, shop: Service, tmp_path: Path
) -> None:
    tablet = second_till(shop, tmp_path)
    try:
        qtbot.waitUntil(lambda: window.handoffs is not None and window.handoffs.after is not None)
        assert hand_off(tablet.till, "c_1")
        page = window.sale_page
        assert page is not None
        qtbot.waitUntil(lambda: page.handoff.isVisible(), timeout=5000)
        page.handoff.clear()  # the cashier ignores it
        assert page.handoff.current is None
        identify_text = PHONE_TYPED
        page.customer_field.setFocus()
        type_in(qtbot, page.customer_field, identify_text)
        settle(qtbot, window)
        assert not page.handoff.isVisible()
    finally:
        tablet.close()


def test_consultant_history_and_an_offer_sheet(
    qtbot: QtBot, enrolled: Path, shop: Service, tmp_path: Path
) -> None:
    window = open_window(qtbot, enrolled)
    window.mode = "consultant"
    login(qtbot, window, "2222")
    qtbot.waitUntil(lambda: window.desk_page is not None, timeout=5000)
    desk = window.desk_page
    assert desk is not None and window.pages.currentWidget() is desk
    type_in(qtbot, desk.customer_field, PHONE_TYPED)
    settle(qtbot, window)
    assert desk.customer is not None and desk.customer.id == "c_1"
    assert desk.history.rowCount() >= 1  # the opening balance at least
    type_in(qtbot, desk.goods_field, PHONE_SKU)
    settle(qtbot, window)
    desk.goods_field.setText("Чехол")  # QTest types ASCII only; a word from the name
    qtbot.keyClick(desk.goods_field, Qt.Key.Key_Return)
    settle(qtbot, window)
    assert [g.sku for g in desk.picked] == [PHONE_SKU, CASE_SKU]
    settle(qtbot, window)
    sheet = None

    def built(s: object) -> None:
        nonlocal sheet
        sheet = s

    desk._with_sheet(built)
    settle(qtbot, window)
    assert sheet is not None
    pdf = tmp_path / "sheet.pdf"
    desk.write_pdf(sheet, pdf, "A4")
    qtbot.waitUntil(lambda: pdf.exists() and pdf.stat().st_size > 1000, timeout=10000)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: "Предложение" in desk.info.text(), timeout=10000)
    assert window.runtime is not None
    with window.runtime.store.read() as s:
        kinds = [r.kind for r in s.scalars(select(OutboxItem))]
    assert "offer_sheet" in kinds
    qtbot.waitUntil(lambda: window.status is not None and window.status.queued == 0, timeout=10000)
    with shop.client() as client:
        sheets = client.get("/customers/c_1/offer-sheets").json()
    listed = sheets["items"] if isinstance(sheets, dict) else sheets
    assert [x["sheet_id"] for x in listed].count(sheet.sheet_id) == 1

    # the sheet's QR at the till: its goods go into the cart, its customer onto the sale
    window.actions_["desk"].trigger()
    page = window.sale_page
    assert page is not None and window.pages.currentWidget() is page
    window.actions_["goods"].trigger()
    type_in(qtbot, page.goods_field, sheet.qr_payload)
    settle(qtbot, window)
    assert page.view is not None
    assert [line.sku for line in page.view.lines] == [PHONE_SKU, CASE_SKU]
    assert page.view.customer is not None and page.view.customer.id == "c_1"
    window.close()


def test_an_expired_or_broken_sheet_code_changes_nothing(qtbot: QtBot, window: MainWindow) -> None:
    page = window.sale_page
    assert page is not None
    window.actions_["goods"].trigger()
    type_in(qtbot, page.goods_field, "OS1.bm90LWpzb24")
    settle(qtbot, window)
    assert page.info.property("error") is True
    assert page.view is not None and not page.view.lines


def test_a_customer_who_joins_on_the_kiosk_is_served_at_the_till_without_typing(
    qtbot: QtBot, window: MainWindow, shop: Service, tmp_path: Path
) -> None:
    """The kiosk (its own device of the store) and the till window, one real service: a new
    customer registers on the tablet and appears on the till's sale, taken with one key."""
    from tests.ui.test_kiosk import enter_code, enter_phone, fill_profile, open_kiosk, sms_code, tap
    from tests.ui.test_kiosk import settle as settle_kiosk

    with transaction(shop.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    folder = tmp_path / "kiosk"
    enroll(folder, shop.base_url, code, "kiosk")
    kiosk = open_kiosk(qtbot, folder)
    try:
        qtbot.waitUntil(lambda: window.handoffs is not None and window.handoffs.after is not None)
        phone = "+79005550123"
        enter_phone(qtbot, kiosk, phone)
        enter_code(qtbot, kiosk, sms_code(shop, phone))
        fill_profile(qtbot, kiosk)
        tap(qtbot, kiosk.profile_page.next)
        settle_kiosk(qtbot, kiosk)
        tap(qtbot, kiosk.consents_page.pd.box)
        tap(qtbot, kiosk.consents_page.join)
        qtbot.waitUntil(lambda: kiosk.handed_off is not None, timeout=10000)
        assert kiosk.handed_off is True
        page = window.sale_page
        assert page is not None
        qtbot.waitUntil(lambda: page.handoff.isVisible(), timeout=5000)
        assert "Мария" in page.handoff.text.text()
        window.actions_["accept_handoff"].trigger()
        settle(qtbot, window)
        assert page.view is not None and page.view.customer is not None
        assert page.view.customer.display_name.startswith("Мария")
        assert page.view.customer.verified
    finally:
        kiosk.shutdown()
        kiosk.close()
