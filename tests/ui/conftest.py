"""The till window against a real processing service on loopback (uvicorn in a thread, SQLite).

``shop``: the service with a catalogue, two cashiers (PIN 1111 senior, 2222 cashier) and
customer ``c_1`` (+79001234567, 1 000 points, verified); ``enrolled``: a till data folder enrolled
with it; ``window``: the window on that folder, logged in, on the sale page.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cashier.i18n import get_language, set_language
from processing.admin import add_cashier, create_enrolment_code
from processing.db import transaction
from processing.models import CatalogueItem
from sync.runtime import enroll
from tests.faults.conftest import _sqlite_template, migrated_url, service, till
from tests.processing.conftest import NOW, Service, add_customer
from ui.window import MainWindow

__all__ = ["_sqlite_template", "migrated_url", "service", "till", "till_threads"]

GOODS = [
    ("4600000000011", "Чехол для телефона", "accessories", 150000, False),
    ("4600000000028", "Зарядное устройство", "accessories", 250000, False),
    ("4600000000035", "Смартфон Nova 12", "smartphones", 3999000, False),
    ("4600000000042", "Кабель (метр)", "cables", 12000, True),
    ("4600000000059", "Подарочная карта", "gift-cards", 300000, False),
]


@pytest.fixture(autouse=True)
def _russian(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LOYALTY_KEYRING", "file")
    before = get_language()
    set_language("ru")
    yield
    set_language(before)


@pytest.fixture
def shop(service: Service) -> Service:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    with transaction(service.factory) as session:
        add_cashier(session, "iport-msk-1", "Анна Смирнова", "1111", "senior")
        add_cashier(session, "iport-msk-1", "Борис Котов", "2222", "cashier")
        for sku, name, category, price, weighed in GOODS:
            session.add(
                CatalogueItem(
                    sku=sku,
                    name=name,
                    category=category,
                    price=price,
                    weighed=weighed,
                    updated_at=NOW - timedelta(days=1),
                )
            )
    return service


@pytest.fixture
def enrolled(shop: Service, tmp_path: Path) -> Path:
    with transaction(shop.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    folder = tmp_path / "till"
    enroll(folder, shop.base_url, code, "till 1")
    return folder


TILL_THREADS = ("till", "io_", "camera")
"""Name prefixes of the threads the window starts: its worker lanes, the sync loop, the camera
(the in-process service's own threads are not the window's)."""


def till_threads(baseline: set[int | None]) -> list[threading.Thread]:
    """The window's threads still alive that were not there before it opened."""
    return [
        t
        for t in threading.enumerate()
        if t.ident not in baseline and t.is_alive() and t.name.startswith(TILL_THREADS)
    ]


def open_window(qtbot: QtBot, folder: Path, *, budget: float = 5.0) -> MainWindow:
    """The till window on ``folder``; a generous ``budget`` by default (the tests are about the
    flow, not about a loaded machine's latency: a call that misses it counts as offline)."""
    window = MainWindow(folder, clock=lambda: NOW, budget=budget, probe_every=0.3)
    qtbot.addWidget(window)
    window.show()
    return window


def login(qtbot: QtBot, window: MainWindow, pin: str = "1111") -> None:
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.login_page, timeout=20000)
    # the first sync round brings the cashiers
    qtbot.waitUntil(
        lambda: window.status is not None and bool(window.status.last_pull_at), timeout=20000
    )
    qtbot.keyClicks(window.login_page.pin, pin)
    qtbot.keyClick(window.login_page.pin, "\r")
    qtbot.waitUntil(  # the sale, or the consultant's desk in that mode
        lambda: (
            window.pages.currentWidget() is not None
            and window.pages.currentWidget() in (window.sale_page, window.desk_page)
        ),
        timeout=10000,
    )


@pytest.fixture
def window(qtbot: QtBot, enrolled: Path) -> Iterator[MainWindow]:
    baseline = {t.ident for t in threading.enumerate()}
    win = open_window(qtbot, enrolled)
    login(qtbot, win)
    yield win
    win.close()
    leaked = till_threads(baseline)
    assert not leaked, f"threads left running after the window closed: {leaked}"
