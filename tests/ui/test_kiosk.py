"""The store tablet's self-registration window against a real processing service on loopback.

Each test presses the on-screen keys a customer presses, waits for the worker's answer to be
drawn, and checks the effect where it matters: the service's database and the till's store.

``KIOSK_SHOTS=/tmp/kiosk`` saves a picture of every step on the way (``NN-step.png``); run under
``xvfb-run -a -s "-screen 0 1280x800x24"`` for the real X platform.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from cashier.accounts import TERMS_VERSION
from cashier.errors import UserFacingError
from processing.admin import create_enrolment_code
from processing.db import transaction
from processing.models import Customer
from sync.runtime import enroll
from tests.faults.proxy import FaultProxy
from tests.processing.conftest import NOW, Service
from tests.ui.conftest import till_threads
from ui.kiosk import KioskWindow, format_birth, parse_birth, points_text

NEW_PHONE = "+79005550101"
MEMBER_PHONE = "+79001234567"  # c_1 of the shop: 1 000 points, verified, no e-mail


# -- helpers ---------------------------------------------------------------------------------------
def shoot(window: KioskWindow, name: str) -> None:
    """A picture of the screen for a person to look at (only when ``KIOSK_SHOTS`` is set)."""
    folder = os.environ.get("KIOSK_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    window.grab().save(str(Path(folder) / f"{name}.png"))


def open_kiosk(qtbot: QtBot, folder: Path, **kwargs: Any) -> KioskWindow:
    # A generous budget: these tests are about the flow online, not about a loaded machine's
    # latency (a send that misses the budget counts as offline and skips the code step).
    kwargs = {"clock": lambda: NOW, "budget": 5.0, "probe_every": 0.3, **kwargs}
    window = KioskWindow(folder, **kwargs)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    # the first sync round brings the rules (the phone's hash key) and the cashiers (admin PIN)
    qtbot.waitUntil(
        lambda: window.status is not None and bool(window.status.last_pull_at), timeout=20000
    )
    return window


def settle(qtbot: QtBot, window: KioskWindow) -> None:
    qtbot.waitUntil(lambda: window.tasks.running == 0 and not window._busy, timeout=10000)


def tap(qtbot: QtBot, widget: Any) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def sms_code(shop: Service, phone: str) -> str:
    texts = [text for to, text in shop.sms.sent if to == phone]
    assert texts, f"no SMS was sent to {phone}"
    return next(w for w in re.findall(r"\d+", texts[-1]) if 4 <= len(w) <= 6)


def customers_with(shop: Service, phone: str) -> list[Customer]:
    with transaction(shop.factory) as session:
        rows = list(session.scalars(select(Customer).where(Customer.phone == phone)))
        for row in rows:
            session.expunge(row)
        return rows


def handed_off(shop: Service) -> list[str]:
    """The customers another till of the store is offered now (``GET /handoffs``)."""
    with shop.client() as client:
        reply = client.get("/handoffs", params={"after": 0})
    assert reply.status_code == 200, reply.text
    return [item["customer_id"] for item in reply.json()["items"]]


def enter_phone(qtbot: QtBot, window: KioskWindow, phone: str) -> None:
    page = window.phone_page
    page.keypad.type(phone.removeprefix("+7"))
    tap(qtbot, page.next)
    settle(qtbot, window)


def enter_code(qtbot: QtBot, window: KioskWindow, code: str) -> None:
    window.code_page.keypad.type(code)
    tap(qtbot, window.code_page.confirm)
    settle(qtbot, window)


def fill_profile(
    qtbot: QtBot, window: KioskWindow, *, email: str = "", shots: bool = False
) -> None:
    page = window.profile_page
    said = (window.phone_page.message.text(), window.code_page.message.text())
    assert window.step == "profile", said
    page.choose(page.name)
    page.letters.type("мария")  # the first letter comes capital by itself
    if shots:
        shoot(window, "03-profile-name")
    page.choose(page.birth)
    page.digits.type("15031990")  # the dots come by themselves
    if shots:
        shoot(window, "04-profile-birth")
    if email:
        page.choose(page.email)
        page.letters.type(email)


@pytest.fixture
def enrolled(shop: Service, tmp_path: Path) -> Path:
    """A store tablet enrolled as a kiosk (``processing enroll --role kiosk``): it reaches only
    the kiosk's part of the API, no customers' data, no sales."""
    with transaction(shop.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW, role="kiosk")
    folder = tmp_path / "tablet"
    enroll(folder, shop.base_url, code, "tablet 1")
    return folder


@pytest.fixture
def kiosk_factory(qtbot: QtBot, enrolled: Path) -> Iterator[Callable[..., KioskWindow]]:
    baseline = {t.ident for t in threading.enumerate()}
    opened: list[KioskWindow] = []

    def make(**kwargs: Any) -> KioskWindow:
        window = open_kiosk(qtbot, enrolled, **kwargs)
        opened.append(window)
        return window

    yield make
    for window in opened:
        window.shutdown()
        window.close()
    leaked = till_threads(baseline)
    assert not leaked, f"threads left running after the kiosk closed: {leaked}"


@pytest.fixture
def kiosk(kiosk_factory: Callable[..., KioskWindow]) -> KioskWindow:
    return kiosk_factory()


# -- a new customer --------------------------------------------------------------------------------
def test_a_new_customer_joins_with_an_sms_code(
    qtbot: QtBot, kiosk: KioskWindow, shop: Service
) -> None:
    window = kiosk
    shoot(window, "01-phone")
    enter_phone(qtbot, window, NEW_PHONE)
    assert window.step == "code", window.phone_page.message.text()
    code_page = window.code_page
    assert "***" in code_page.hint.text()
    assert re.search(r"\d+:\d\d", code_page.countdown.text())  # the wait before "send again"
    assert not code_page.again.isEnabled()
    shoot(window, "02-code")
    enter_code(qtbot, window, sms_code(shop, NEW_PHONE))
    assert window.step == "profile", code_page.message.text()
    assert window.token is not None
    fill_profile(qtbot, window, email="maria@example.ru", shots=True)
    page = window.profile_page
    assert page.name.text() == "Мария"
    assert page.birth.text() == "15.03.1990"
    assert page.email.text() == "maria@example.ru"
    shoot(window, "05-profile-email")
    tap(qtbot, page.next)
    assert window.step == "consents", page.message.text()
    consents = window.consents_page
    assert TERMS_VERSION in consents.pd.label.text()
    assert not any(r.box.isChecked() for r in (consents.pd, consents.sms, consents.mail))
    tap(qtbot, consents.join)  # without the required consent: refused, nothing sent
    assert window.step == "consents"
    assert "согласие" in consents.message.text()
    tap(qtbot, consents.pd.label)  # a touch on the text ticks the box
    tap(qtbot, consents.sms.box)
    assert consents.pd.box.isChecked() and consents.sms.box.isChecked()
    shoot(window, "06-consents")
    tap(qtbot, consents.join)
    settle(qtbot, window)
    assert window.step == "done", consents.message.text()
    reg = window.registered
    assert reg is not None and reg.status == "created" and reg.customer.verified
    done = window.done_page
    assert "Мария" in done.headline.text()
    if reg.welcome_points:  # the service decides; the kiosk explains
        assert "+" in done.bonus.text()
    else:
        assert "первой покупки" in done.details.text()
    assert not done.unverified.isVisible()
    qtbot.waitUntil(lambda: window.handed_off is not None, timeout=10000)
    assert window.handed_off is True
    assert "Подойдите к кассе" in done.handoff.text()
    shoot(window, "07-done")

    [row] = customers_with(shop, NEW_PHONE)
    assert row.phone_verified
    assert row.first_name == "Мария"
    assert row.birth_date == date(1990, 3, 15)
    assert row.email == "maria@example.ru"
    assert row.consents["pd_processing"] is True
    assert row.consents["sms"] is True
    assert row.consents["email"] is False
    assert row.consents["terms_version"] == TERMS_VERSION
    assert reg.customer.id == row.id
    assert handed_off(shop) == [row.id]  # another till of the store sees the customer


def test_the_done_screen_returns_to_the_start_by_itself(
    qtbot: QtBot, kiosk_factory: Callable[..., KioskWindow], shop: Service
) -> None:
    window = kiosk_factory(done_s=0.5)
    enter_phone(qtbot, window, NEW_PHONE)
    enter_code(qtbot, window, sms_code(shop, NEW_PHONE))
    fill_profile(qtbot, window)
    tap(qtbot, window.profile_page.next)
    tap(qtbot, window.consents_page.pd.box)
    tap(qtbot, window.consents_page.join)
    settle(qtbot, window)
    assert window.step == "done"
    qtbot.waitUntil(lambda: window.step == "phone", timeout=5000)
    assert window.registered is None and window.phone is None


# -- an existing customer --------------------------------------------------------------------------
def test_an_existing_customer_is_recognised_and_completes_the_profile(
    qtbot: QtBot, kiosk: KioskWindow, shop: Service
) -> None:
    window = kiosk
    enter_phone(qtbot, window, MEMBER_PHONE)
    enter_code(qtbot, window, sms_code(shop, MEMBER_PHONE))
    assert window.step == "member", window.code_page.message.text()
    member = window.member_page
    assert "Иван" in member.who.text()
    assert "1000" in member.who.text()
    assert window.member is not None and "email" in window.member.missing
    assert member.email.isVisible()
    member.choose(member.email)
    member.letters.type("ivan@example.ru")
    shoot(window, "08-member")
    tap(qtbot, member.next)
    settle(qtbot, window)
    assert window.step == "done", member.message.text()
    reg = window.registered
    assert reg is not None and reg.status == "updated"
    assert reg.customer.id == "c_1"
    assert "Иван" in window.done_page.headline.text()
    qtbot.waitUntil(lambda: window.handed_off is not None, timeout=10000)
    assert window.handed_off is True
    shoot(window, "09-member-done")
    [row] = customers_with(shop, MEMBER_PHONE)  # not registered twice
    assert row.id == "c_1"
    assert row.email == "ivan@example.ru"
    assert handed_off(shop) == ["c_1"]


# -- mistakes --------------------------------------------------------------------------------------
def test_a_bad_phone_is_explained_and_sends_nothing(
    qtbot: QtBot, kiosk: KioskWindow, shop: Service
) -> None:
    window = kiosk
    before = len(shop.sms.sent)
    enter_phone(qtbot, window, "12345")
    assert window.step == "phone"
    assert window.phone_page.message.text()
    assert window.phone_page.message.property("error") is True
    assert window.phone is None
    assert len(shop.sms.sent) == before
    shoot(window, "10-phone-error")


def test_a_wrong_code_keeps_the_customer_on_the_code_step(
    qtbot: QtBot, kiosk: KioskWindow, shop: Service
) -> None:
    window = kiosk
    enter_phone(qtbot, window, NEW_PHONE)
    assert window.step == "code"
    right = sms_code(shop, NEW_PHONE)
    wrong = str((int(right) + 1) % 10 ** len(right)).zfill(len(right))
    enter_code(qtbot, window, wrong)
    assert window.step == "code"
    assert window.code_page.message.text()
    assert window.code_page.message.property("error") is True
    assert window.code_page.code.text() == ""  # ready for the next try
    assert window.token is None
    shoot(window, "11-code-wrong")
    assert customers_with(shop, NEW_PHONE) == []
    enter_code(qtbot, window, right)  # the right one still works (attempts were left)
    assert window.step == "profile"


def test_send_again_waits_for_the_countdown_and_the_service_decides(
    qtbot: QtBot, kiosk: KioskWindow, shop: Service
) -> None:
    """ "Send again" is off while the countdown runs; once it is over the service may still
    refuse (one SMS per number per 5 minutes): the refusal is shown and the first code works."""
    window = kiosk
    enter_phone(qtbot, window, NEW_PHONE)
    code_page = window.code_page
    sent = len(shop.sms.sent)
    tap(qtbot, code_page.again)
    assert len(shop.sms.sent) == sent and not window._busy  # disabled: nothing asked
    window._resend_at = 0.0  # as if the countdown were over
    window._tick()
    assert code_page.again.isEnabled()
    tap(qtbot, code_page.again)
    settle(qtbot, window)
    assert window.step == "code"
    if len(shop.sms.sent) == sent:  # the service's own limit answered
        assert code_page.message.property("error") is True
        assert code_page.message.text()
    enter_code(qtbot, window, sms_code(shop, NEW_PHONE))
    assert window.step == "profile", code_page.message.text()


def test_a_tablet_that_is_not_enrolled_closes_without_a_pin(qtbot: QtBot, tmp_path: Path) -> None:
    baseline = {t.ident for t in threading.enumerate()}
    window = KioskWindow(tmp_path / "new-tablet")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: "cashier enroll" in window.phone_page.message.text(), timeout=20000)
    window.close()
    assert not window.isVisible()
    assert window.runtime is None
    assert not till_threads(baseline)


# -- walking away ------------------------------------------------------------------------------------
def test_walking_away_wipes_everything(
    qtbot: QtBot, kiosk_factory: Callable[..., KioskWindow], shop: Service
) -> None:
    window = kiosk_factory(idle_s=0.5)
    enter_phone(qtbot, window, NEW_PHONE)
    assert window.step == "code"
    enter_code(qtbot, window, sms_code(shop, NEW_PHONE))
    assert window.step == "profile"
    fill_profile(qtbot, window, email="maria@example.ru")
    assert window.token is not None and window.otp_id is not None
    qtbot.waitUntil(lambda: window.step == "phone", timeout=5000)
    for field in (
        window.phone_page.phone,
        window.code_page.code,
        window.profile_page.name,
        window.profile_page.birth,
        window.profile_page.email,
        window.member_page.email,
        window.member_page.birth,
        window.admin_page.pin,
    ):
        assert field.text() == "", field
    assert (window.phone, window.otp_id, window.token, window.member) == (None,) * 4
    assert not window.consents_page.pd.box.isChecked()
    assert customers_with(shop, NEW_PHONE) == []


# -- offline -----------------------------------------------------------------------------------------
@pytest.fixture
def proxied(
    qtbot: QtBot, shop: Service, tmp_path: Path
) -> Iterator[tuple[KioskWindow, FaultProxy]]:
    host, port = shop.base_url.removeprefix("http://").split(":")
    with FaultProxy(upstream=(host, int(port))) as proxy:
        with transaction(shop.factory) as session:
            code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
        folder = tmp_path / "tablet"
        enroll(folder, proxy.url, code, "tablet")
        baseline = {t.ident for t in threading.enumerate()}
        window = open_kiosk(qtbot, folder, budget=0.8)
        yield window, proxy
        window.shutdown()
        window.close()
        proxy.up()
        leaked = till_threads(baseline)
        assert not leaked, leaked


def test_offline_registration_is_queued_unverified_and_sent_once(
    qtbot: QtBot, proxied: tuple[KioskWindow, FaultProxy], shop: Service
) -> None:
    window, proxy = proxied
    proxy.down()
    qtbot.waitUntil(lambda: window.status is not None and not window.status.online, timeout=10000)
    assert window.offline_banner.isVisible()
    enter_phone(qtbot, window, NEW_PHONE)
    assert window.step == "profile", window.phone_page.message.text()  # no SMS code offline
    assert window.offline and window.otp_id is None
    fill_profile(qtbot, window)
    tap(qtbot, window.profile_page.next)
    tap(qtbot, window.consents_page.pd.box)
    shoot(window, "12-offline-consents")
    tap(qtbot, window.consents_page.join)
    settle(qtbot, window)
    assert window.step == "done"
    reg = window.registered
    assert reg is not None and reg.status == "queued"
    assert not reg.customer.verified
    done = window.done_page
    assert done.unverified.isVisible()
    assert "не подтверждён" in done.unverified.text()
    assert "нет связи" in done.details.text().lower()
    assert window.handed_off is False
    assert "номер" in done.handoff.text()
    shoot(window, "13-offline-done")
    assert customers_with(shop, NEW_PHONE) == []

    proxy.up()
    qtbot.waitUntil(
        lambda: window.status is not None and window.status.online and window.status.queued == 0,
        timeout=20000,
    )
    [row] = customers_with(shop, NEW_PHONE)
    assert not row.phone_verified
    assert row.first_name == "Мария"
    assert row.consents["pd_processing"] is True
    assert row.consents["terms_version"] == TERMS_VERSION
    assert window.background is not None
    window.background.wake()  # another round sends nothing again
    qtbot.wait(600)
    with transaction(shop.factory) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Customer).where(Customer.phone == NEW_PHONE)
            )
            == 1
        )


# -- leaving kiosk mode -----------------------------------------------------------------------------
def test_leaving_needs_a_senior_cashiers_pin(qtbot: QtBot, shop: Service, enrolled: Path) -> None:
    baseline = {t.ident for t in threading.enumerate()}
    window = open_kiosk(qtbot, enrolled)
    window.close()  # Alt+F4: refused, the PIN pad comes up instead
    assert window.isVisible()
    assert window.step == "admin"
    shoot(window, "14-admin")
    window.exit_with_pin("2222")  # a cashier, not a senior one
    qtbot.waitUntil(lambda: bool(window.admin_page.message.text()), timeout=5000)
    assert window.isVisible() and not window.unlocked
    window.exit_with_pin("0000")  # nobody's
    qtbot.waitUntil(lambda: "Неверный" in window.admin_page.message.text(), timeout=5000)
    assert window.isVisible()
    tap(qtbot, window.admin_page.cancel)
    assert window.step == "phone"
    tap(qtbot, window.corner)  # the hidden corner button
    assert window.step == "admin"
    window.exit_with_pin("1111")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert window.unlocked and window.runtime is None
    leaked = till_threads(baseline)
    assert not leaked, leaked


def test_a_long_press_on_the_title_opens_the_pin_pad(qtbot: QtBot, kiosk: KioskWindow) -> None:
    qtbot.mousePress(kiosk.heading, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: kiosk.step == "admin", timeout=5000)
    qtbot.mouseRelease(kiosk.heading, Qt.MouseButton.LeftButton)


# -- the pieces --------------------------------------------------------------------------------------
def test_birth_date_typing_and_checks() -> None:
    assert format_birth("1") == "1"
    assert format_birth("150") == "15.0"
    assert format_birth("15031990") == "15.03.1990"
    assert format_birth("15.03.19901") == "15.03.1990"
    assert parse_birth("15.03.1990", date(2026, 1, 1)) == date(1990, 3, 15)
    for bad in ("31.02.1990", "15.03.2030", "15.03.1890", "15031990", ""):
        with pytest.raises(UserFacingError):
            parse_birth(bad, date(2026, 1, 1))


def test_points_read_as_russian_numbers() -> None:
    from decimal import Decimal

    assert points_text(Decimal(1)) == "1 балл"
    assert points_text(Decimal(2)) == "2 балла"
    assert points_text(Decimal(200)) == "200 баллов"
    assert points_text(Decimal("1.5")) == "1.5 балла"


def test_keys_are_touch_sized(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QPushButton

    from ui.keypad import DigitKeypad, LetterKeyboard

    for keys in (DigitKeypad(), LetterKeyboard()):
        qtbot.addWidget(keys)
        keys.resize(1200, 400)
        keys.show()
        buttons = keys.findChildren(QPushButton)
        assert buttons
        small = [b.text() for b in buttons if b.width() < 64 or b.height() < 64]
        assert not small, small
