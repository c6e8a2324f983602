"""Demo data for the processing service: NBCom's NBclub with a believable history.

Owns: filling an empty, migrated database with the NBclub program, the five NBCom chains and their
service centre (stores and cashiers), an electronics catalogue, customers with cards, a purchase
history priced by the real engine (:func:`cashier.quote.quote`), the ledger entries that confirming
those purchases would have written (earn lots, redemptions taken from lots, expiry write-offs) and
personal coupons.

Everything is deterministic: one ``random.Random(seed)`` and the caller's ``now``; no wall clock.
The caller owns the transaction (``with transaction(factory) as session: load_demo_data(...)``).
Rows go in with bulk inserts so 1 000 customers load in a few seconds on SQLite.

What it prints (:meth:`DemoSummary.describe`, :func:`demo_store_guide`) is in the language of the
run; ``tools/demo.py`` reads the guide's lines in both languages (keep their shape: a header line,
then ``    label: value`` lines).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from cashier.data import data_root
from cashier.errors import InvalidPhone
from cashier.i18n import _, ngettext
from cashier.identifiers import ean13_check_digit, normalize_phone
from cashier.ledger import (
    Lot,
    SpendEvent,
    balance,
    expired_lots,
    lot_expiry,
    plan_consumption,
    window_spend,
)
from cashier.ledger_time import add_months
from cashier.money import Kopecks, format_money
from cashier.program import PaymentMethod, Program
from cashier.quote import CartLine, CustomerState, Payment, quote
from processing.admin import role_label
from processing.models import (
    Card,
    Cashier,
    CatalogueItem,
    Chain,
    Coupon,
    Customer,
    LedgerEntry,
    Purchase,
    PurchaseLine,
    Store,
)
from processing.security import hash_pin, verify_pin
from processing.state import set_program

__all__ = [
    "DEFAULT_SEED",
    "DEMO_PINS",
    "DEMO_STORE",
    "DemoSummary",
    "demo_store_guide",
    "hash_pin",
    "load_demo_data",
    "verify_pin",
]

DEFAULT_SEED = 20261123
DEMO_STORE = "iport-msk-1"
"""The store whose till the demo enrols (``processing demo`` prints a code for it)."""
DEMO_PINS = {f"k_{DEMO_STORE}_1": "1111", f"k_{DEMO_STORE}_2": "2222"}
"""The demo store's cashiers have fixed, documented PINs (senior 1111, cashier 2222); every other
demo cashier's PIN comes from the seed."""
DEVICE_ID = "demo-import"
PROGRAM_SOURCE = "resources/programs/nbclub.toml"
MSK = timezone(timedelta(hours=3), "MSK")
"""Store hours are Moscow time (no daylight saving); stored datetimes are UTC."""

HISTORY_MONTHS = 20
MAX_PURCHASES = 12


@dataclass(frozen=True)
class DemoSummary:
    """What was loaded, and the identities to try at a till."""

    program_version: str
    chains: int
    stores: list[str]
    cashiers: int
    catalogue_items: int
    customers: int
    cards: int
    purchases: int
    purchase_lines: int
    ledger_entries: int
    coupons: int
    tiers: dict[str, int]
    """Customers per tier code at ``now`` (by spend over the tier window)."""
    expired_customers: int
    """Customers whose points burnt (NBclub: 14 months without a purchase)."""
    gold_phone: str
    silver_phone: str
    start_phone: str
    """A Start customer with pending points (bought 5 days ago)."""
    unverified_phone: str
    """A customer with available points whose phone is not verified (cannot redeem)."""
    card_number: str
    """The Gold customer's active plastic card."""
    cashier_pins: dict[str, str] = field(default_factory=dict)
    """Cashier id → PIN (demo data: the PINs are printed for the demo, stored hashed)."""

    def headline(self) -> str:
        """One line: what was loaded (the program version and the counts)."""
        tiers = ", ".join(f"{code} {count}" for code, count in sorted(self.tiers.items()))
        counts = [
            ngettext("{count} chain", "{count} chains", self.chains).format(count=self.chains),
            ngettext("{count} store", "{count} stores", len(self.stores)).format(
                count=len(self.stores)
            ),
            ngettext("{count} cashier", "{count} cashiers", self.cashiers).format(
                count=self.cashiers
            ),
            ngettext("{count} good", "{count} goods", self.catalogue_items).format(
                count=self.catalogue_items
            ),
            ngettext(
                "{count} customer ({tiers})", "{count} customers ({tiers})", self.customers
            ).format(count=self.customers, tiers=tiers),
            ngettext("{count} purchase", "{count} purchases", self.purchases).format(
                count=self.purchases
            ),
            ngettext("{count} coupon", "{count} coupons", self.coupons).format(count=self.coupons),
        ]
        return _("demo data loaded: program {version}; {counts}").format(
            version=self.program_version, counts=", ".join(counts)
        )

    def describe(self) -> str:
        """What an admin trying the demo needs to read: counts, customers to try, PINs."""
        pins = "\n".join(
            f"    {cashier}: {pin}" for cashier, pin in sorted(self.cashier_pins.items())[:6]
        )
        customers = _customers_to_try(
            self.gold_phone,
            self.card_number,
            self.silver_phone,
            self.start_phone,
            self.unverified_phone,
        )
        pins_header = _("cashier PINs (first stores):")
        return f"{self.headline()}\n{customers}\n{pins_header}\n{pins}"


def _customers_to_try(
    gold: str | None,
    card: str | None,
    silver: str | None,
    start: str | None,
    unverified: str | None,
) -> str:
    """The "customers to try" block: a header line, then one indented ``label: phone`` per line."""
    rows = [
        (
            _("Gold, verified, with card {card}").format(card=card)
            if card
            else _("Gold, verified"),
            gold,
        ),
        ("Silver", silver),  # the tier's name in the program, as the till shows it
        (_("Start, with pending points"), start),
        (_("phone not verified (cannot spend)"), unverified),
    ]
    return (
        _("customers to try:")
        + "\n"
        + "\n".join(f"    {label}: {phone}" for label, phone in rows if phone)
    )


def demo_store_guide(session: Session) -> str:
    """What a till of the demo store needs, read from the database on every ``processing demo``.

    The customers to try (the demo identities that are in the database) and the demo store's
    cashiers with their PINs.  A cashier whose stored PIN is not the documented one (a database
    filled before the PINs were fixed) gets the documented PIN again, so the printed PINs always
    work.  The caller owns the transaction.
    """
    phones = [normalize_phone(person.phone) for person in _DEMO]
    found = {
        customer.phone: customer
        for customer in session.scalars(select(Customer).where(Customer.phone.in_(phones)))
    }
    gold = found.get(phones[0])
    card = (
        session.scalar(
            select(Card.number)
            .where(Card.customer_id == gold.id, Card.status == "active")
            .order_by(Card.number)
        )
        if gold is not None
        else None
    )
    present = [phone if phone in found else None for phone in phones]
    lines = [_customers_to_try(present[0], card, present[1], present[2], present[3])]
    lines.append(_("cashiers of store {store} (name, role: PIN):").format(store=DEMO_STORE))
    for cashier_id, pin in sorted(DEMO_PINS.items()):
        cashier = session.get(Cashier, cashier_id)
        if cashier is None or cashier.store_id != DEMO_STORE:
            continue
        if not verify_pin(pin, cashier.pin_hash):
            cashier.pin_hash = hash_pin(pin)
            session.flush()
        lines.append(f"    {cashier.name}, {role_label(cashier.role)}: {pin}")
    return "\n".join(lines)


# --- chains, stores, catalogue ---------------------------------------------------------------
CHAINS: tuple[tuple[str, str], ...] = (
    ("iport", "iPort"),
    ("samsung", "Samsung"),
    ("sony-centre", "Sony Centre"),
    ("nb-computers", "NB computers"),
    ("xiaomi", "Xiaomi"),
    ("service", "Сервисный центр NBCom"),
)

STORES: tuple[tuple[str, str, str], ...] = (
    ("iport-msk-1", "iport", "iPort, Москва, Тверская"),
    ("iport-spb-1", "iport", "iPort, Санкт-Петербург, Невский проспект"),
    ("samsung-msk-1", "samsung", "Samsung, Москва, ТЦ «Авиапарк»"),
    ("samsung-ekb-1", "samsung", "Samsung, Екатеринбург, ТЦ «Гринвич»"),
    ("sony-centre-msk-1", "sony-centre", "Sony Centre, Москва, Кутузовский проспект"),
    ("sony-centre-kzn-1", "sony-centre", "Sony Centre, Казань, улица Баумана"),
    ("nb-computers-msk-1", "nb-computers", "NB computers, Москва, Савёловский"),
    ("nb-computers-nsk-1", "nb-computers", "NB computers, Новосибирск, Красный проспект"),
    ("xiaomi-msk-1", "xiaomi", "Xiaomi, Москва, ТЦ «Мега Тёплый Стан»"),
    ("xiaomi-spb-1", "xiaomi", "Xiaomi, Санкт-Петербург, ТЦ «Галерея»"),
    ("service-msk-1", "service", "Сервисный центр NBCom, Москва, Лесная улица"),
)

# (who sells it: a chain id, "*" for every store; category; name; price in roubles)
_PRODUCTS: tuple[tuple[str, str, str, int], ...] = (
    # iPort
    ("iport", "smartphones", "Apple iPhone 16 Pro Max 256 ГБ", 149_990),
    ("iport", "smartphones", "Apple iPhone 16 Pro 256 ГБ", 129_990),
    ("iport", "smartphones", "Apple iPhone 16 Pro 128 ГБ", 119_990),
    ("iport", "smartphones", "Apple iPhone 16 Plus 128 ГБ", 89_990),
    ("iport", "smartphones", "Apple iPhone 16 256 ГБ", 89_990),
    ("iport", "smartphones", "Apple iPhone 16 128 ГБ", 79_990),
    ("iport", "smartphones", "Apple iPhone 15 Plus 128 ГБ", 74_990),
    ("iport", "smartphones", "Apple iPhone 15 256 ГБ", 74_990),
    ("iport", "smartphones", "Apple iPhone 15 128 ГБ", 64_990),
    ("iport", "smartphones", "Apple iPhone 14 128 ГБ", 54_990),
    ("iport", "smartphones", "Apple iPhone SE 64 ГБ", 39_990),
    ("iport", "tablets", 'Apple iPad 10,9" 64 ГБ Wi-Fi', 39_990),
    ("iport", "tablets", "Apple iPad mini 128 ГБ Wi-Fi", 54_990),
    ("iport", "tablets", 'Apple iPad Air 11" M2 128 ГБ', 64_990),
    ("iport", "tablets", 'Apple iPad Pro 11" M4 256 ГБ', 109_990),
    ("iport", "laptops", 'Apple MacBook Air 13" M2 8/256 ГБ', 89_990),
    ("iport", "laptops", 'Apple MacBook Air 13" M3 16/256 ГБ', 119_990),
    ("iport", "laptops", 'Apple MacBook Air 15" M3 16/512 ГБ', 139_990),
    ("iport", "laptops", 'Apple MacBook Pro 14" M4 16/512 ГБ', 189_990),
    ("iport", "laptops", 'Apple MacBook Pro 16" M4 Pro 24/512 ГБ', 249_990),
    ("iport", "headphones", "Apple AirPods 4", 14_990),
    ("iport", "headphones", "Apple AirPods 4 с шумоподавлением", 19_990),
    ("iport", "headphones", "Apple AirPods Pro 2", 24_990),
    ("iport", "headphones", "Apple AirPods Max", 59_990),
    ("iport", "wearables", "Apple Watch SE 44 мм", 27_990),
    ("iport", "wearables", "Apple Watch Series 10 42 мм", 44_990),
    ("iport", "wearables", "Apple Watch Ultra 2", 89_990),
    ("iport", "accessories", "Чехол Apple MagSafe для iPhone 16", 5_990),
    ("iport", "accessories", "Сетевое зарядное устройство Apple 20 Вт", 2_990),
    ("iport", "accessories", "Зарядное устройство Apple MagSafe", 5_490),
    ("iport", "accessories", "Трекер Apple AirTag", 3_990),
    ("iport", "accessories", "Трекеры Apple AirTag, 4 шт.", 11_990),
    ("iport", "accessories", "Стилус Apple Pencil (USB-C)", 9_990),
    ("iport", "accessories", "Мышь Apple Magic Mouse", 9_990),
    ("iport", "accessories", "Клавиатура Apple Magic Keyboard", 12_990),
    ("iport", "cables", "Кабель Apple USB-C – Lightning, 1 м", 2_490),
    ("iport", "cables", "Кабель Apple USB-C 240 Вт, 2 м", 2_990),
    ("iport", "cables", "Кабель Apple USB-C плетёный, 1 м", 2_290),
    ("iport", "smart-home", "Колонка Apple HomePod mini", 12_990),
    ("iport", "smart-home", "Apple TV 4K 64 ГБ", 17_990),
    # Samsung
    ("samsung", "smartphones", "Samsung Galaxy Z Fold6 256 ГБ", 149_990),
    ("samsung", "smartphones", "Samsung Galaxy S24 Ultra 256 ГБ", 129_990),
    ("samsung", "smartphones", "Samsung Galaxy S24+ 256 ГБ", 99_990),
    ("samsung", "smartphones", "Samsung Galaxy Z Flip6 256 ГБ", 99_990),
    ("samsung", "smartphones", "Samsung Galaxy S24 128 ГБ", 74_990),
    ("samsung", "smartphones", "Samsung Galaxy S24 FE 128 ГБ", 54_990),
    ("samsung", "smartphones", "Samsung Galaxy A55 128 ГБ", 39_990),
    ("samsung", "smartphones", "Samsung Galaxy A35 128 ГБ", 29_990),
    ("samsung", "smartphones", "Samsung Galaxy A25 128 ГБ", 22_990),
    ("samsung", "smartphones", "Samsung Galaxy A15 128 ГБ", 19_990),
    ("samsung", "tablets", "Samsung Galaxy Tab A9+ 64 ГБ", 19_990),
    ("samsung", "tablets", "Samsung Galaxy Tab S9 FE 128 ГБ", 39_990),
    ("samsung", "tablets", "Samsung Galaxy Tab S9 128 ГБ", 79_990),
    ("samsung", "tv", 'Телевизор Samsung 43" Crystal UHD', 34_990),
    ("samsung", "tv", 'Телевизор Samsung 55" Crystal UHD', 49_990),
    ("samsung", "tv", 'Телевизор Samsung 55" QLED Q60D', 69_990),
    ("samsung", "tv", 'Телевизор Samsung 65" QLED Q80D', 119_990),
    ("samsung", "tv", 'Телевизор Samsung 65" Neo QLED QN90D', 169_990),
    ("samsung", "tv", 'Телевизор Samsung 77" OLED S90D', 199_990),
    ("samsung", "headphones", "Наушники Samsung Galaxy Buds FE", 7_990),
    ("samsung", "headphones", "Наушники Samsung Galaxy Buds3", 14_990),
    ("samsung", "headphones", "Наушники Samsung Galaxy Buds3 Pro", 19_990),
    ("samsung", "wearables", "Фитнес-браслет Samsung Galaxy Fit3", 5_990),
    ("samsung", "wearables", "Смарт-часы Samsung Galaxy Watch7 44 мм", 29_990),
    ("samsung", "wearables", "Смарт-часы Samsung Galaxy Watch Ultra", 59_990),
    ("samsung", "accessories", "Сетевое зарядное устройство Samsung 25 Вт", 1_990),
    ("samsung", "accessories", "Сетевое зарядное устройство Samsung 45 Вт", 3_490),
    ("samsung", "accessories", "Чехол Samsung Smart View для Galaxy S24", 4_990),
    ("samsung", "accessories", "Защитное стекло для Galaxy S24", 1_990),
    ("samsung", "accessories", "Беспроводное зарядное устройство Samsung Duo", 5_990),
    ("samsung", "cables", "Кабель Samsung USB-C – USB-C, 1 м", 990),
    ("samsung", "cables", "Кабель Samsung USB-C 5 А, 1,8 м", 1_490),
    ("samsung", "smart-home", "Хаб Samsung SmartThings Station", 7_990),
    # Sony Centre
    ("sony-centre", "tv", 'Телевизор Sony Bravia 43" X75WL', 54_990),
    ("sony-centre", "tv", 'Телевизор Sony Bravia 50" X75WL', 64_990),
    ("sony-centre", "tv", 'Телевизор Sony Bravia 55" X80L', 89_990),
    ("sony-centre", "tv", 'Телевизор Sony Bravia 65" X85L', 139_990),
    ("sony-centre", "tv", 'Телевизор Sony Bravia 8 65" OLED', 199_990),
    ("sony-centre", "headphones", "Наушники Sony MDR-ZX110", 1_990),
    ("sony-centre", "headphones", "Наушники Sony WH-CH520", 4_990),
    ("sony-centre", "headphones", "Наушники Sony WF-C700N", 9_990),
    ("sony-centre", "headphones", "Наушники Sony WH-CH720N", 11_990),
    ("sony-centre", "headphones", "Наушники Sony WH-1000XM4", 27_990),
    ("sony-centre", "headphones", "Наушники Sony WF-1000XM5", 29_990),
    ("sony-centre", "headphones", "Наушники Sony WH-1000XM5", 34_990),
    ("sony-centre", "gaming", "Игровая консоль Sony PlayStation 5 Slim", 64_990),
    ("sony-centre", "gaming", "Геймпад Sony DualSense", 7_490),
    ("sony-centre", "gaming", "Шлем Sony PlayStation VR2", 59_990),
    ("sony-centre", "audio", "Колонка Sony SRS-XB100", 5_990),
    ("sony-centre", "audio", "Колонка Sony ULT Field 1", 11_990),
    ("sony-centre", "audio", "Саундбар Sony HT-S2000", 54_990),
    ("sony-centre", "cameras", "Камера Sony ZV-E10 kit 16-50", 69_990),
    ("sony-centre", "cameras", "Камера Sony Alpha 6400 kit 16-50", 99_990),
    ("sony-centre", "accessories", "Карта памяти Sony SDXC 128 ГБ", 3_490),
    ("sony-centre", "accessories", "Сумка для камеры Sony", 2_990),
    ("sony-centre", "cables", "Кабель HDMI 2.1 Sony, 2 м", 2_990),
    ("sony-centre", "cables", "Кабель HDMI Sony, 1,5 м", 1_490),
    # NB computers
    ("nb-computers", "laptops", 'Ноутбук Acer Aspire 5 15,6" i5/8/512', 44_990),
    ("nb-computers", "laptops", 'Ноутбук Lenovo IdeaPad Slim 3 15" R5/16/512', 49_990),
    ("nb-computers", "laptops", "Ноутбук ASUS VivoBook 15 i5/16/512", 59_990),
    ("nb-computers", "laptops", "Ноутбук HP Pavilion 15 i5/16/512", 64_990),
    ("nb-computers", "laptops", "Ноутбук Huawei MateBook D 16 i5/16/512", 69_990),
    ("nb-computers", "laptops", "Ноутбук Acer Nitro V 15 i5/16/512 RTX 4050", 79_990),
    ("nb-computers", "laptops", "Ноутбук Lenovo ThinkPad E14 i7/16/512", 84_990),
    ("nb-computers", "laptops", "Ноутбук HP Victus 16 R7/16/1 ТБ RTX 4060", 94_990),
    ("nb-computers", "laptops", "Ноутбук ASUS Zenbook 14 OLED U7/16/1 ТБ", 99_990),
    ("nb-computers", "laptops", "Ноутбук MSI Katana 15 i7/16/1 ТБ RTX 4060", 109_990),
    ("nb-computers", "laptops", "Ноутбук Lenovo Legion 5 R7/32/1 ТБ RTX 4070", 149_990),
    ("nb-computers", "monitors", 'Монитор Samsung 27" IPS 75 Гц', 16_990),
    ("nb-computers", "monitors", 'Монитор ASUS TUF 27" 165 Гц', 24_990),
    ("nb-computers", "monitors", 'Монитор LG 27" 4K UltraFine', 32_990),
    ("nb-computers", "accessories", "Флешка SanDisk 64 ГБ USB 3.2", 790),
    ("nb-computers", "accessories", "Мышь Logitech G102", 1_990),
    ("nb-computers", "accessories", "Клавиатура Logitech K380", 3_990),
    ("nb-computers", "accessories", 'Рюкзак для ноутбука 15,6"', 3_990),
    ("nb-computers", "accessories", "SSD Kingston NV2 500 ГБ", 3_990),
    ("nb-computers", "accessories", "Механическая клавиатура Dark Project KD87", 7_990),
    ("nb-computers", "accessories", "Веб-камера Logitech C920", 7_990),
    ("nb-computers", "accessories", "Внешний диск WD Elements 2 ТБ", 7_990),
    ("nb-computers", "accessories", "SSD Samsung 990 EVO 1 ТБ", 8_990),
    ("nb-computers", "accessories", "Мышь Logitech MX Master 3S", 9_990),
    ("nb-computers", "accessories", "USB-хаб UGREEN 7 в 1", 2_990),
    ("nb-computers", "cables", "Патч-корд Cat.6, 3 м", 490),
    ("nb-computers", "cables", "Кабель USB-A – USB-C, 1 м", 490),
    ("nb-computers", "cables", "Кабель HDMI 2.0, 2 м", 590),
    ("nb-computers", "cables", "Удлинитель USB 3.0, 1,5 м", 690),
    ("nb-computers", "cables", "Кабель DisplayPort 1.4, 1,8 м", 990),
    ("nb-computers", "smart-home", "Роутер TP-Link Archer AX23", 4_990),
    # Xiaomi
    ("xiaomi", "smartphones", "Xiaomi 14 Ultra 16/512 ГБ", 119_990),
    ("xiaomi", "smartphones", "Xiaomi 14T Pro 12/512 ГБ", 64_990),
    ("xiaomi", "smartphones", "Xiaomi 14T 12/256 ГБ", 54_990),
    ("xiaomi", "smartphones", "POCO F6 12/512 ГБ", 39_990),
    ("xiaomi", "smartphones", "Redmi Note 13 Pro+ 12/512 ГБ", 39_990),
    ("xiaomi", "smartphones", "POCO X6 Pro 12/512 ГБ", 32_990),
    ("xiaomi", "smartphones", "Redmi Note 13 Pro 8/256 ГБ", 29_990),
    ("xiaomi", "smartphones", "Redmi Note 13 8/256 ГБ", 21_990),
    ("xiaomi", "smartphones", "Redmi 13 8/256 ГБ", 19_990),
    ("xiaomi", "tablets", "Redmi Pad SE 8/256 ГБ", 14_990),
    ("xiaomi", "tablets", "Xiaomi Pad 6 8/256 ГБ", 29_990),
    ("xiaomi", "tv", 'Телевизор Xiaomi TV A 43" 2025', 26_990),
    ("xiaomi", "tv", 'Телевизор Xiaomi TV A Pro 55"', 44_990),
    ("xiaomi", "tv", 'Телевизор Xiaomi TV Q2 65"', 69_990),
    ("xiaomi", "headphones", "Наушники Redmi Buds 6 Active", 1_990),
    ("xiaomi", "headphones", "Наушники Redmi Buds 5 Pro", 6_990),
    ("xiaomi", "headphones", "Наушники Xiaomi Buds 5", 9_990),
    ("xiaomi", "wearables", "Фитнес-браслет Xiaomi Smart Band 9", 3_990),
    ("xiaomi", "wearables", "Смарт-часы Redmi Watch 4", 7_990),
    ("xiaomi", "wearables", "Смарт-часы Xiaomi Watch S3", 12_990),
    ("xiaomi", "smart-home", "Умная розетка Xiaomi Smart Plug 2", 1_290),
    ("xiaomi", "smart-home", "Датчик температуры и влажности Xiaomi", 1_490),
    ("xiaomi", "smart-home", "Умная лампа Xiaomi Smart LED Bulb", 1_990),
    ("xiaomi", "smart-home", "Камера Xiaomi Smart Camera C300", 3_990),
    ("xiaomi", "smart-home", "Электрическая зубная щётка Xiaomi T302", 3_990),
    ("xiaomi", "smart-home", "Увлажнитель воздуха Xiaomi Humidifier 2 Lite", 4_990),
    ("xiaomi", "smart-home", "Роутер Xiaomi AX3000T", 4_990),
    ("xiaomi", "smart-home", "Медиаплеер Xiaomi TV Box S 2nd Gen", 5_990),
    ("xiaomi", "smart-home", "Робот-пылесос Xiaomi Robot Vacuum S10", 19_990),
    ("xiaomi", "smart-home", "Робот-пылесос Xiaomi Robot Vacuum X20+", 49_990),
    ("xiaomi", "accessories", "Защитное стекло для Redmi Note 13", 790),
    ("xiaomi", "accessories", "Чехол для Redmi Note 13", 990),
    ("xiaomi", "accessories", "Сетевое зарядное устройство Xiaomi 67 Вт", 2_490),
    ("xiaomi", "accessories", "Внешний аккумулятор Xiaomi 20000 мА·ч", 2_990),
    ("xiaomi", "cables", "Кабель Xiaomi USB-C 6 А, 1 м", 790),
    # NBCom service centre
    ("service", "services-repair", "Диагностика устройства", 990),
    ("service", "services-repair", "Перенос данных на новое устройство", 990),
    ("service", "services-repair", "Переклейка защитного стекла", 990),
    ("service", "services-repair", "Замена термопасты в ноутбуке", 1_490),
    ("service", "services-repair", "Установка ОС и программ", 1_990),
    ("service", "services-repair", "Чистка ноутбука от пыли", 2_490),
    ("service", "services-repair", "Ремонт разъёма зарядки смартфона", 2_990),
    ("service", "services-repair", "Замена аккумулятора смартфона", 3_990),
    ("service", "services-repair", "Восстановление после попадания влаги", 4_990),
    ("service", "services-repair", "Замена клавиатуры ноутбука", 5_990),
    ("service", "services-repair", "Замена аккумулятора iPhone", 6_990),
    ("service", "services-repair", "Ремонт платы телевизора", 8_990),
    ("service", "services-repair", "Замена экрана Samsung Galaxy", 12_990),
    ("service", "services-repair", "Замена экрана iPhone", 14_990),
    ("service", "services-repair", "Замена матрицы MacBook", 24_990),
    # every store
    ("*", "gift-cards", "Подарочная карта NBCom 1 000 ₽", 1_000),
    ("*", "gift-cards", "Подарочная карта NBCom 3 000 ₽", 3_000),
    ("*", "gift-cards", "Подарочная карта NBCom 5 000 ₽", 5_000),
    ("*", "gift-cards", "Подарочная карта NBCom 10 000 ₽", 10_000),
    ("*", "gift-cards", "Подарочная карта NBCom 25 000 ₽", 25_000),
    ("*", "services-warranty", "Расширенная гарантия 1 год, товар до 30 000 ₽", 1_990),
    ("*", "services-warranty", "Расширенная гарантия 2 года, товар до 30 000 ₽", 2_990),
    ("*", "services-warranty", "Расширенная гарантия 1 год, товар до 60 000 ₽", 3_990),
    ("*", "services-warranty", "Расширенная гарантия 2 года, товар до 60 000 ₽", 5_990),
    ("*", "services-warranty", "Расширенная гарантия 1 год, товар до 120 000 ₽", 6_990),
    ("*", "services-warranty", "Расширенная гарантия 2 года, товар до 120 000 ₽", 9_990),
    ("*", "services-warranty", "Расширенная гарантия 1 год, товар дороже 120 000 ₽", 11_990),
    ("*", "services-warranty", "Расширенная гарантия 2 года, товар дороже 120 000 ₽", 14_990),
    ("*", "accessories", "Защитная плёнка универсальная", 490),
    ("*", "accessories", "Салфетки для экранов, 100 шт.", 490),
    ("*", "accessories", "Автомобильный держатель для смартфона", 1_490),
    ("*", "accessories", "Автомобильное зарядное устройство USB-C 30 Вт", 1_990),
    ("*", "cables", "Кабель USB-C – USB-C 60 Вт, 1 м", 790),
    ("*", "cables", "Кабель USB-C – Lightning, 1 м", 1_290),
    ("*", "cables", "Кабель 3 в 1 (USB-C, Lightning, micro-USB), 1,2 м", 1_490),
)

# Sold by the metre (weighed=True: qty in metres, price per metre): (sellers, name, roubles per metre)
_BY_THE_METRE: tuple[tuple[str, str, int], ...] = (
    ("sony-centre", "Кабель акустический 2×1,5 мм², за метр", 149),
    ("nb-computers", "Кабель витая пара Cat.6 UTP, за метр", 59),
    ("*", "Кабель-канал 16×16 мм, за метр", 89),
)

_MAIN_CATEGORIES = frozenset(
    {
        "smartphones",
        "tablets",
        "laptops",
        "tv",
        "headphones",
        "wearables",
        "gaming",
        "audio",
        "cameras",
        "monitors",
        "smart-home",
        "services-repair",
    }
)
_SMALL_CATEGORIES = frozenset({"accessories", "cables"})


@dataclass(frozen=True)
class _Item:
    sku: str
    name: str
    category: str
    price: Kopecks
    weighed: bool
    seller: str


def _ean13(first12: str) -> str:
    return first12 + str(ean13_check_digit(first12))


def _catalogue() -> list[_Item]:
    items = [
        _Item(_ean13(f"4607{n:08d}"), name, category, rub * 100, False, seller)
        for n, (seller, category, name, rub) in enumerate(_PRODUCTS, start=1)
    ]
    start = len(items) + 1
    items += [
        _Item(_ean13(f"4607{n:08d}"), name, "accessories", rub * 100, True, seller)
        for n, (seller, name, rub) in enumerate(_BY_THE_METRE, start=start)
    ]
    return items


# --- people ----------------------------------------------------------------------------------
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_MALE_FIRST = _words(
    "Александр Алексей Андрей Антон Артём Борис Вадим Виктор Владимир Дмитрий Евгений Егор "
    "Иван Игорь Илья Кирилл Константин Максим Михаил Никита Николай Олег Павел Роман Сергей "
    "Станислав Тимур Фёдор Юрий Ярослав"
)
_FEMALE_FIRST = _words(
    "Александра Алина Алёна Анастасия Анна Валентина Валерия Вера Виктория Дарья Екатерина "
    "Елена Елизавета Жанна Ирина Ксения Лариса Людмила Марина Мария Наталья Надежда Оксана "
    "Ольга Полина Светлана Софья Татьяна Юлия Яна"
)
_LAST = _words(
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов "
    "Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев "
    "Макаров Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Белов "
    "Тарасов Ковальский Ким Шевчук Цой Гусейнов Ильин"
)
_TRANSLIT = str.maketrans(
    {
        cyrillic: latin.strip("'")
        for cyrillic, latin in zip(
            "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
            _words("a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch ' y ' e yu ya"),
            strict=True,
        )
    }
)
_EMAIL_DOMAINS = ("example.ru", "example.com", "example.net")


def _feminine(last: str) -> str:
    if last.endswith(("ов", "ев", "ёв", "ин")):
        return last + "а"
    if last.endswith("ский"):
        return last[:-2] + "ая"
    return last


def _person(rng: random.Random) -> tuple[str, str]:
    """A first and last name with matching endings."""
    last = rng.choice(_LAST)
    if rng.random() < 0.5:
        return rng.choice(_MALE_FIRST), last
    return rng.choice(_FEMALE_FIRST), _feminine(last)


def _email(rng: random.Random, first: str, last: str) -> str:
    digits = str(rng.randint(1, 99)) if rng.random() < 0.5 else ""
    local = f"{first.lower().translate(_TRANSLIT)}.{last.lower().translate(_TRANSLIT)}{digits}"
    return f"{local}@{rng.choice(_EMAIL_DOMAINS)}"


# --- the loader ------------------------------------------------------------------------------
@dataclass
class _Plan:
    """One purchase to make: when, where, what, how it is paid and what is redeemed."""

    at: datetime
    store_id: str
    lines: list[tuple[_Item, int]]
    method: PaymentMethod = PaymentMethod.CARD
    redeem: str | int | None = None
    """"max", a number of points, or None: decide at the till (15 % "max" when points are there)."""


@dataclass
class _Account:
    """A customer's running state while the history is written."""

    customer_id: str
    verified: bool
    lots: dict[int, tuple[Decimal, datetime, datetime | None]] = field(default_factory=dict)
    """Lot entry id → (remaining, available_from, expires_at); only lots with a remainder."""
    events: list[SpendEvent] = field(default_factory=list)
    last_purchase_at: datetime | None = None
    expired: bool = False

    def lot_views(self) -> list[Lot]:
        return [Lot(str(i), rem, af, exp) for i, (rem, af, exp) in self.lots.items()]


class _Loader:
    def __init__(
        self, session: Session, program: Program, now: datetime, rng: random.Random
    ) -> None:
        self.session = session
        self.program = program
        self.now = now
        self.rng = rng
        self.catalogue = _catalogue()
        self.chain_of = {store_id: chain_id for store_id, chain_id, _ in STORES}
        self.assortment = {
            store_id: [i for i in self.catalogue if i.seller in ("*", chain_id)]
            for store_id, chain_id, _ in STORES
        }
        self.by_name = {item.name: item for item in self.catalogue}
        self.next_entry_id = int(session.scalar(select(func.max(LedgerEntry.id))) or 0) + 1
        self.receipt_no: dict[str, int] = {}
        self.purchases: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []

    # -- reference data --
    def reference_data(self) -> tuple[dict[str, str], int]:
        """Chains, stores, cashiers and the catalogue (existing rows are kept)."""
        session = self.session
        for chain_id, name in CHAINS:
            if session.get(Chain, chain_id) is None:
                session.add(Chain(id=chain_id, name=name))
        session.flush()
        for store_id, chain_id, name in STORES:
            if session.get(Store, store_id) is None:
                session.add(Store(id=store_id, chain_id=chain_id, name=name))
        session.flush()
        pins: dict[str, str] = {}
        for store_id, _chain, _name in STORES:
            for n, role in ((1, "senior"), (2, "cashier")):
                cashier_id = f"k_{store_id}_{n}"
                pin = f"{self.rng.randint(0, 9999):04d}"  # drawn anyway: the rest stays the same
                pin = DEMO_PINS.get(cashier_id, pin)
                salt = self.rng.randbytes(16)
                first, last = _person(self.rng)
                if session.get(Cashier, cashier_id) is None:
                    session.add(
                        Cashier(
                            id=cashier_id,
                            store_id=store_id,
                            name=f"{first} {last}",
                            pin_hash=hash_pin(pin, salt),
                            role=role,
                        )
                    )
                    pins[cashier_id] = pin
        known = set(session.scalars(select(CatalogueItem.sku)))
        rows = [
            {
                "sku": i.sku,
                "name": i.name,
                "category": i.category,
                "price": i.price,
                "weighed": i.weighed,
                "updated_at": self.now - timedelta(days=1 + n % 30, hours=n % 7),
            }
            for n, i in enumerate(self.catalogue)
            if i.sku not in known
        ]
        session.flush()
        if rows:
            session.execute(insert(CatalogueItem), rows)
        return pins, len(self.catalogue)

    # -- time --
    def moment(self, days_ago: int, hour: int | None = None, minute: int | None = None) -> datetime:
        """A moment in store hours (Moscow), ``days_ago`` calendar days before today."""
        day = (self.now.astimezone(MSK) - timedelta(days=days_ago)).date()
        local = datetime(
            day.year,
            day.month,
            day.day,
            hour if hour is not None else self.rng.randint(10, 21),
            minute if minute is not None else self.rng.randint(0, 59),
            self.rng.randint(0, 59),
            tzinfo=MSK,
        )
        return local.astimezone(UTC)

    # -- carts --
    def _cart(self, store_id: str, budget: Kopecks) -> list[tuple[_Item, int]]:
        """A believable cart worth about ``budget``: main goods first, then small things."""
        rng = self.rng
        goods = self.assortment[store_id]
        mains = [i for i in goods if i.category in _MAIN_CATEGORIES]
        cart: list[tuple[_Item, int]] = []
        left = budget
        while len(cart) < 3 and (not cart or left >= budget * 3 // 10):
            fits = [
                i
                for i in mains
                if i.price <= left * 115 // 100 and all(i is not c for c, _ in cart)
            ]
            if not fits:
                break
            close = [i for i in fits if i.price * 10 >= left * 4]
            item = rng.choice(close or fits)
            cart.append((item, 1000))
            left -= item.price
        if not cart:
            cart.append((min(goods, key=lambda i: i.price), 1000))
        for _more in range(rng.choice((0, 0, 1, 1, 1, 2))):
            extra = self._extra(goods, cart)
            if extra is not None:
                cart.append(extra)
        return cart[:4]

    def _extra(
        self, goods: Sequence[_Item], cart: list[tuple[_Item, int]]
    ) -> tuple[_Item, int] | None:
        rng = self.rng
        roll = rng.random()
        main_price = cart[0][0].price
        if roll < 0.25 and main_price >= 15_000_00:
            pool = [i for i in goods if i.category == "services-warranty"]
        elif roll < 0.30:
            pool = [i for i in goods if i.category == "gift-cards" and i.price <= 10_000_00]
        elif roll < 0.36:
            pool = [i for i in goods if i.weighed]
        else:
            pool = [i for i in goods if i.category in _SMALL_CATEGORIES and not i.weighed]
        pool = [i for i in pool if all(i is not c for c, _ in cart)]
        if not pool:
            return None
        item = rng.choice(pool)
        if item.weighed:
            return item, rng.randint(1, 20) * 500
        return item, 2000 if item.category == "cables" and rng.random() < 0.2 else 1000

    def _method(self) -> PaymentMethod:
        return self.rng.choices(
            (PaymentMethod.CARD, PaymentMethod.SBP, PaymentMethod.CASH), (70, 18, 12)
        )[0]

    # -- plans for ordinary customers --
    def random_plans(self, target: str, favourite: str) -> list[_Plan]:
        """Purchases that land the customer near ``target`` tier by spend over the tier window."""
        rng = self.rng
        if target == "gold":
            spend, recent, old = (
                rng.randint(100_000, 320_000) * 100,
                rng.randint(3, 9),
                rng.randint(0, 3),
            )
        elif target == "silver":
            spend, recent, old = (
                rng.randint(36_000, 80_000) * 100,
                rng.randint(2, 6),
                rng.randint(0, 2),
            )
        else:
            roll = rng.random()
            if roll < 0.2:
                return []  # registered, never bought
            if roll < 0.45:  # dormant: bought long ago, the points have burnt
                spend, recent, old = 0, 0, rng.randint(1, 3)
            else:
                spend, recent, old = (
                    rng.randint(1_500, 24_000) * 100,
                    rng.randint(1, 4),
                    rng.randint(0, 2),
                )
        window_days = (self.now - add_months(self.now, -self.program.tier_window_months)).days
        history_days = (self.now - add_months(self.now, -HISTORY_MONTHS)).days
        weights = [rng.random() + 0.3 for _ in range(recent)]
        plans: list[_Plan] = []
        for w in weights:
            plans.append(
                self._random_plan(
                    rng.randint(1, window_days - 1), int(spend * w / sum(weights)), favourite
                )
            )
        for _old in range(old):
            days = rng.randint(window_days + 1, history_days - 1)
            plans.append(self._random_plan(days, rng.randint(2_000, 60_000) * 100, favourite))
        plans.sort(key=lambda p: p.at)
        return plans[:MAX_PURCHASES]

    def _random_plan(self, days_ago: int, budget: Kopecks, favourite: str) -> _Plan:
        rng = self.rng
        stores = [s for s, chain, _ in STORES if chain == favourite]
        store_id = rng.choice(stores) if rng.random() < 0.7 else rng.choice(STORES)[0]
        return _Plan(self.moment(days_ago), store_id, self._cart(store_id, budget), self._method())

    # -- the ledger and purchases --
    def _entry(
        self,
        account: _Account,
        kind: str,
        amount: Decimal,
        at: datetime,
        created: datetime,
        **extra: Any,
    ) -> int:
        entry_id = self.next_entry_id
        self.next_entry_id += 1
        row: dict[str, Any] = {
            "id": entry_id,
            "customer_id": account.customer_id,
            "kind": kind,
            "amount": amount,
            "is_lot": False,
            "lot_id": None,
            "available_from": None,
            "expires_at": None,
            "store_id": None,
            "chain_id": None,
            "device_id": None,
            "purchase_id": None,
            "line_id": None,
            "return_id": None,
            "occurred_at": at,
            "created_at": created,
            "flagged": False,
            "note": None,
        }
        row.update(extra)
        self.entries.append(row)
        return entry_id

    def expire(self, account: _Account, at: datetime) -> None:
        """Write off every lot that has expired by ``at`` (the service's expiry job would have)."""
        lots = account.lot_views()
        expiries = {
            lot.lot_id: lot_expiry(self.program, lot, account.last_purchase_at) for lot in lots
        }
        for lot_id, remaining in expired_lots(self.program, lots, at, account.last_purchase_at):
            when = expiries[lot_id] or at
            self._entry(
                account,
                "expire",
                -remaining,
                when,
                when,
                lot_id=int(lot_id),
                note=f"{self.program.expiry_policy.value}: {self.program.expiry_months} months",
            )
            del account.lots[int(lot_id)]
            account.expired = True

    def purchase(self, account: _Account, plan: _Plan, number: int) -> None:
        program, at = self.program, plan.at
        self.expire(account, at)
        lots = account.lot_views()
        bal = balance(program, lots, at, account.last_purchase_at)
        state = CustomerState(
            available=bal.available,
            pending=bal.pending,
            verified=account.verified,
            window_spend=window_spend(program, account.events, at),
        )
        redeem = plan.redeem
        if redeem is None:
            redeem = "max" if bal.available > 0 and self.rng.random() < 0.15 else 0
        cart = [
            CartLine(f"l{n}", item.sku, qty, item.price, item.category)
            for n, (item, qty) in enumerate(plan.lines, start=1)
        ]
        q = quote(
            program, state, cart, occurred_at=at, redeem=redeem, payments=(Payment(plan.method),)
        )
        purchase_id = f"p_{account.customer_id}_{number}"
        confirmed = at + timedelta(seconds=self.rng.randint(20, 240))
        store_id = plan.store_id
        where = {
            "store_id": store_id,
            "chain_id": self.chain_of[store_id],
            "device_id": DEVICE_ID,
            "purchase_id": purchase_id,
        }
        for line in q.lines:  # redemption is written per line, as the service's confirm does
            if line.redeem_points <= 0:
                continue
            takes, _rest = plan_consumption(
                program, account.lot_views(), line.redeem_points, at, account.last_purchase_at
            )
            for taken_from, take in takes:
                self._entry(
                    account,
                    "redeem",
                    -take,
                    at,
                    confirmed,
                    lot_id=int(taken_from),
                    line_id=line.line_id,
                    **where,
                )
                remaining, af, exp = account.lots[int(taken_from)]
                account.lots[int(taken_from)] = (remaining - take, af, exp)
        for n, line in enumerate(q.lines, start=1):
            self.lines.append(
                {
                    "purchase_id": purchase_id,
                    "line_id": line.line_id,
                    "line_no": n,
                    "sku": line.sku,
                    "category": line.category,
                    "qty": line.qty,
                    "unit_price": line.unit_price,
                    "base_amount": line.base_amount,
                    "redeem_points": line.redeem_points,
                    "earn_points": line.earn_points,
                    "final_amount": line.final_amount,
                    "returned_qty": 0,
                }
            )
            if line.earn_points > 0:
                new_lot = self._entry(
                    account,
                    "earn",
                    line.earn_points,
                    at,
                    confirmed,
                    is_lot=True,
                    available_from=q.earn_available_from,
                    expires_at=q.earn_expires_at,
                    line_id=line.line_id,
                    **where,
                )
                account.lots[new_lot] = (line.earn_points, q.earn_available_from, q.earn_expires_at)
        account.lots = {i: lot for i, lot in account.lots.items() if lot[0] > 0}
        store_no = self.receipt_no.get(store_id, 0) + 1
        self.receipt_no[store_id] = store_no
        self.purchases.append(
            {
                "purchase_id": purchase_id,
                "device_id": DEVICE_ID,
                "store_id": store_id,
                "chain_id": self.chain_of[store_id],
                "customer_id": account.customer_id,
                "state": "confirmed",
                "receipt_no": f"{store_id}/{store_no:06d}",
                "base_total": q.base_total,
                "to_pay": q.to_pay,
                "redeem_points": q.redeem_points,
                "earn_points": q.earn_points,
                "payments": [
                    {"type": p.method.value, "amount": format_money(p.amount or 0)}
                    for p in q.payments
                ],
                "offline": False,
                "overdraft": Decimal(0),
                "hold_expires_at": None,
                "occurred_at": at,
                "created_at": at,
                "confirmed_at": confirmed,
                "program_version": program.version,
                "tier": q.tier.code,
            }
        )
        account.events.append(SpendEvent(at, q.to_pay))
        account.last_purchase_at = at

    def history(self, account: _Account, plans: Sequence[_Plan]) -> None:
        for number, plan in enumerate(plans, start=1):
            self.purchase(account, plan, number)
        self.expire(account, self.now)

    def flush_history(self) -> None:
        """Insert purchases, lines and ledger entries (lots before the entries naming them)."""
        session = self.session
        if self.purchases:
            session.execute(insert(Purchase), self.purchases)
        if self.lines:
            session.execute(insert(PurchaseLine), self.lines)
        if self.entries:
            self.entries.sort(key=lambda row: row["id"])
            session.execute(insert(LedgerEntry), self.entries)
            if session.get_bind().dialect.name == "postgresql":
                # explicit ids do not move the sequence: move it past them
                session.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('ledger_entries', 'id'), "
                        "(SELECT max(id) FROM ledger_entries))"
                    )
                )


# --- customers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _DemoPerson:
    phone: str
    first: str
    last: str
    verified: bool
    card: bool
    created_days_ago: int
    # (days ago, store, [(product name, qty in thousandths)], payment, redeem)
    purchases: tuple[tuple[int, str, tuple[tuple[str, int], ...], PaymentMethod, int], ...]


_DEMO: tuple[_DemoPerson, ...] = (
    _DemoPerson(
        phone="+79001234567",
        first="Анна",
        last="Смирнова",
        verified=True,
        card=True,
        created_days_ago=900,
        purchases=(
            (
                400,
                "iport-msk-1",
                (("Apple iPhone 16 Pro 256 ГБ", 1000), ("Чехол Apple MagSafe для iPhone 16", 1000)),
                PaymentMethod.CARD,
                0,
            ),
            (
                300,
                "nb-computers-msk-1",
                (("Ноутбук Lenovo Legion 5 R7/32/1 ТБ RTX 4070", 1000),),
                PaymentMethod.CARD,
                0,
            ),
            (200, "sony-centre-msk-1", (("Наушники Sony WH-1000XM5", 1000),), PaymentMethod.SBP, 0),
            (
                120,
                "samsung-msk-1",
                (
                    ('Телевизор Samsung 65" QLED Q80D', 1000),
                    ("Расширенная гарантия 2 года, товар до 120 000 ₽", 1000),
                ),
                PaymentMethod.CARD,
                0,
            ),
            (
                45,
                "xiaomi-msk-1",
                (("Робот-пылесос Xiaomi Robot Vacuum X20+", 1000),),
                PaymentMethod.CARD,
                2000,
            ),
            (
                6,
                "iport-msk-1",
                (("Apple AirPods Pro 2", 1000), ("Кабель Apple USB-C плетёный, 1 м", 1000)),
                PaymentMethod.CASH,
                0,
            ),
        ),
    ),
    _DemoPerson(
        phone="+79001234568",
        first="Дмитрий",
        last="Козлов",
        verified=True,
        card=True,
        created_days_ago=700,
        purchases=(
            (
                250,
                "samsung-msk-1",
                (
                    ("Samsung Galaxy A55 128 ГБ", 1000),
                    ("Чехол Samsung Smart View для Galaxy S24", 1000),
                ),
                PaymentMethod.CARD,
                0,
            ),
            (
                90,
                "xiaomi-msk-1",
                (("Наушники Redmi Buds 5 Pro", 1000), ("Смарт-часы Redmi Watch 4", 1000)),
                PaymentMethod.SBP,
                0,
            ),
            (
                30,
                "nb-computers-msk-1",
                (('Монитор Samsung 27" IPS 75 Гц', 1000), ("Кабель HDMI 2.0, 2 м", 1000)),
                PaymentMethod.CARD,
                0,
            ),
        ),
    ),
    _DemoPerson(
        phone="+79001234569",
        first="Ольга",
        last="Новикова",
        verified=True,
        card=False,
        created_days_ago=220,
        purchases=(
            (
                200,
                "xiaomi-spb-1",
                (
                    ("Кабель Xiaomi USB-C 6 А, 1 м", 1000),
                    ("Сетевое зарядное устройство Xiaomi 67 Вт", 1000),
                ),
                PaymentMethod.CARD,
                0,
            ),
            (
                5,
                "xiaomi-spb-1",
                (
                    ("Фитнес-браслет Xiaomi Smart Band 9", 1000),
                    ("Внешний аккумулятор Xiaomi 20000 мА·ч", 1000),
                ),
                PaymentMethod.SBP,
                0,
            ),
        ),
    ),
    _DemoPerson(
        phone="+79001234570",
        first="Игорь",
        last="Волков",
        verified=False,
        card=True,
        created_days_ago=300,
        purchases=(
            (
                150,
                "xiaomi-msk-1",
                (("Redmi Note 13 8/256 ГБ", 1000), ("Наушники Redmi Buds 6 Active", 1000)),
                PaymentMethod.CARD,
                0,
            ),
            (
                30,
                "sony-centre-kzn-1",
                (("Кабель акустический 2×1,5 мм², за метр", 4500),),
                PaymentMethod.CASH,
                0,
            ),
        ),
    ),
)


def _phones(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        raw = f"+7 9{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
        try:
            phone = normalize_phone(raw)
        except InvalidPhone:
            continue
        if phone not in taken:
            taken.add(phone)
            out.append(phone)
    return out


def _card_number(rng: random.Random, taken: set[str]) -> str:
    while True:
        number = _ean13(f"2200{rng.randint(0, 99_999_999):08d}")
        if number not in taken:
            taken.add(number)
            return number


def _customer_row(
    customer_id: str,
    phone: str,
    first: str,
    last: str,
    verified: bool,
    created: datetime,
    rng: random.Random,
    now: datetime,
) -> dict[str, Any]:
    email = _email(rng, first, last) if rng.random() < 0.6 else None
    birth: date | None = None
    if rng.random() < 0.95:
        birth = now.date() - timedelta(days=rng.randint(18 * 365 + 5, 72 * 365))
    return {
        "id": customer_id,
        "phone": phone,
        "phone_verified": verified,
        "first_name": first,
        "last_name": last,
        "birth_date": birth,
        "email": email,
        "consents": {
            "pd_processing": True,
            "sms": rng.random() < 0.7,
            "email": email is not None and rng.random() < 0.6,
            "terms_version": "2026-01",
        },
        "tier_override": None,
        "created_at": created,
        "updated_at": created,
        "deleted": False,
        "merged_into": None,
        "last_purchase_at": None,
        "last_birthday_bonus": None,
        "opening_spend": 0,
        "opening_spend_at": None,
    }


def _finish(
    row: dict[str, Any], account: _Account, plans: Sequence[_Plan], rng: random.Random
) -> None:
    """Registration before the first purchase; ``updated_at`` follows the last change."""
    if plans:
        first = plans[0].at
        if row["created_at"] >= first or rng.random() < 0.5:
            row["created_at"] = first - timedelta(
                minutes=rng.randint(2, 30)
            )  # registered at the till
    row["last_purchase_at"] = account.last_purchase_at
    row["updated_at"] = max(row["created_at"], account.last_purchase_at or row["created_at"])


_COUPONS: tuple[tuple[str | None, int, str], ...] = (
    ("headphones", 10, "−10% на наушники"),
    ("accessories", 15, "−15% на аксессуары"),
    ("cables", 20, "−20% на кабели"),
    ("smart-home", 10, "−10% на товары для умного дома"),
    ("services-repair", 15, "−15% на ремонт в сервисном центре"),
    ("wearables", 10, "−10% на часы и браслеты"),
    ("tv", 5, "−5% на телевизоры"),
    ("laptops", 5, "−5% на ноутбуки"),
    (None, 5, "−5% на любую покупку"),
)
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _coupons(
    session: Session, rng: random.Random, customer_ids: Sequence[str], now: datetime
) -> int:
    count = max(len(customer_ids) * 15 // 100, 2)
    taken = set(session.scalars(select(Coupon.code)))
    rows: list[dict[str, Any]] = []
    owners = [
        customer_ids[0],
        customer_ids[0],
        *(rng.choice(customer_ids) for _ in range(count - 2)),
    ]
    for owner in owners:
        code = ""
        while not code or code in taken:
            raw = "".join(rng.choice(_CODE_ALPHABET) for _ in range(6))
            code = f"NB-{raw[:4]}-{raw[4:]}"
        taken.add(code)
        category, pct, title = rng.choice(_COUPONS)
        valid_from = now - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 23))
        rows.append(
            {
                "code": code,
                "customer_id": owner,
                "title": title,
                "category": category,
                "discount_pct": Decimal(pct),
                "valid_from": valid_from,
                "valid_till": now + timedelta(days=rng.randint(7, 60)),
                "status": "issued",
                "used_purchase_id": None,
            }
        )
    session.execute(insert(Coupon), rows)
    return len(rows)


def _check_empty(session: Session, customers: int, now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            "load_demo_data needs an aware `now` (e.g. datetime.now(UTC)), not a naive datetime"
        )
    if customers < len(_DEMO):
        raise ValueError(
            _(
                "Demo data needs at least {count} customers (the demo identities): "
                "use --customers {count} or more."
            ).format(count=len(_DEMO))
        )
    existing = int(session.scalar(select(func.count()).select_from(Customer)) or 0)
    if existing:
        raise ValueError(
            ngettext(
                "The database already has {count} customer: demo data loads only into an empty "
                "database. Use a new database file (or drop and migrate this one) and load again.",
                "The database already has {count} customers: demo data loads only into an empty "
                "database. Use a new database file (or drop and migrate this one) and load again.",
                existing,
            ).format(count=existing)
        )


def load_demo_data(
    session: Session, *, now: datetime, customers: int = 1000, seed: int = DEFAULT_SEED
) -> DemoSummary:
    """Fill an empty, migrated database with NBclub demo data, deterministically from ``seed``.

    Args:
        session: a session inside the caller's transaction.
        now: the moment the demo is "at" (aware); all history lies before it.
        customers: how many customers (at least 4: the first four are the demo identities).
        seed: the random seed; the same seed and ``now`` give the same rows.

    Raises:
        ValueError: the database already has customers, ``now`` is naive, or too few customers.
    """
    _check_empty(session, customers, now)
    rng = random.Random(seed)
    toml_text = data_root().joinpath("programs", "nbclub.toml").read_text(encoding="utf-8")
    active = set_program(session, toml_text, source=PROGRAM_SOURCE, now=now)
    loader = _Loader(session, active.program, now, rng)
    pins, catalogue_count = loader.reference_data()

    demo_phones = {normalize_phone(p.phone) for p in _DEMO}
    phones = _phones(rng, customers - len(_DEMO), set(demo_phones))
    card_numbers: set[str] = set(session.scalars(select(Card.number)))
    customer_rows: list[dict[str, Any]] = []
    card_rows: list[dict[str, Any]] = []
    accounts: list[_Account] = []
    three_years = int(timedelta(days=3 * 365).total_seconds())

    for n, person in enumerate(_DEMO, start=1):
        customer_id = f"c_{n:06d}"
        created = loader.moment(person.created_days_ago, 12, 0)
        row = _customer_row(
            customer_id,
            normalize_phone(person.phone),
            person.first,
            person.last,
            person.verified,
            created,
            rng,
            now,
        )
        plans = [
            _Plan(
                loader.moment(days, 13, 20),
                store_id,
                [(loader.by_name[name], qty) for name, qty in lines],
                method,
                redeem,
            )
            for days, store_id, lines, method, redeem in person.purchases
        ]
        account = _Account(customer_id, person.verified)
        loader.history(account, plans)
        _finish(row, account, [], rng)
        customer_rows.append(row)
        accounts.append(account)
        if person.card:
            card_rows.append(
                {
                    "number": _card_number(rng, card_numbers),
                    "customer_id": customer_id,
                    "status": "active",
                }
            )

    chain_ids = [chain_id for chain_id, _ in CHAINS if chain_id != "service"]
    for n, phone in enumerate(phones, start=len(_DEMO) + 1):
        customer_id = f"c_{n:06d}"
        first, last = _person(rng)
        verified = rng.random() < 0.85
        created = now - timedelta(seconds=rng.randint(3600, three_years))
        row = _customer_row(customer_id, phone, first, last, verified, created, rng, now)
        target = rng.choices(("start", "silver", "gold"), (65, 13, 22))[0]
        plans = loader.random_plans(target, rng.choice(chain_ids))
        account = _Account(customer_id, verified)
        loader.history(account, plans)
        _finish(row, account, plans, rng)
        customer_rows.append(row)
        accounts.append(account)
        if rng.random() < 0.7:
            status = "blocked" if rng.random() < 0.02 else "active"
            card_rows.append(
                {
                    "number": _card_number(rng, card_numbers),
                    "customer_id": customer_id,
                    "status": status,
                }
            )

    session.execute(insert(Customer), customer_rows)
    session.execute(insert(Card), card_rows)
    loader.flush_history()
    coupon_count = _coupons(session, rng, [row["id"] for row in customer_rows], now)
    session.flush()

    tiers = {tier.code: 0 for tier in active.program.tiers}
    for account in accounts:
        tiers[
            active.program.tier_for_spend(window_spend(active.program, account.events, now)).code
        ] += 1
    return DemoSummary(
        program_version=active.version,
        chains=len(CHAINS),
        stores=[store_id for store_id, _, _ in STORES],
        cashiers=2 * len(STORES),
        catalogue_items=catalogue_count,
        customers=len(customer_rows),
        cards=len(card_rows),
        purchases=len(loader.purchases),
        purchase_lines=len(loader.lines),
        ledger_entries=len(loader.entries),
        coupons=coupon_count,
        tiers=tiers,
        expired_customers=sum(1 for a in accounts if a.expired),
        gold_phone=normalize_phone(_DEMO[0].phone),
        silver_phone=normalize_phone(_DEMO[1].phone),
        start_phone=normalize_phone(_DEMO[2].phone),
        unverified_phone=normalize_phone(_DEMO[3].phone),
        card_number=card_rows[0]["number"],
        cashier_pins=pins,
    )
