"""Every action of the till window and its key: one table for the buttons, the menu, the help
screen and the README (F-keys, as in the cash-register software cashiers already know).  No
Ctrl+letter that a text field keeps for itself on Linux (Ctrl+A/B/D/E/F/H/K/U/W): those never
reach the window while the cursor is in a field, and the cursor is always in one.

Owns: :data:`SHORTCUTS` and :func:`label` (a button's text with its key).  No widgets here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cashier.i18n import N_, _


@dataclass(frozen=True)
class Shortcut:
    action: str
    key: str
    text: str
    """English msgid; translated when shown."""
    help: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("help", "F1", N_("Help"), N_("this list of keys")),
    Shortcut("customer", "F2", N_("Customer"), N_("phone, card or QR: type or scan, then Enter")),
    Shortcut("goods", "F3", N_("Goods"), N_("SKU or barcode, then Enter; a name finds goods")),
    Shortcut("qty", "F4", N_("Quantity"), N_("change the quantity of the chosen line")),
    Shortcut("points", "F5", N_("Points"), N_("points to spend (empty: the maximum)")),
    Shortcut("method", "F6", N_("Cash/card/SBP"), N_("switch the payment method")),
    Shortcut("split", "F7", N_("Split"), N_("pay with several methods")),
    Shortcut("free", "F8", N_("Free amount"), N_("a line with a category and an amount")),
    Shortcut("return", "F9", N_("Return"), N_("find a sale by the slip's QR and return goods")),
    Shortcut("history", "F10", N_("History"), N_("the customer's points history")),
    Shortcut("review", "F11", N_("Review"), N_("operations the service refused (senior)")),
    Shortcut("pay", "F12", N_("Pay"), N_("take the payment and save the sale")),
    Shortcut(
        "accept_handoff",
        "Ctrl+Return",
        N_("Take from tablet"),
        N_("put the customer from the store's tablet on this sale"),
    ),
    Shortcut("remove", "Del", N_("Remove line"), N_("remove the chosen line")),
    Shortcut("void", "Ctrl+N", N_("New sale"), N_("void this sale and start a new one")),
    Shortcut("per_line", "Shift+F5", N_("Points per line"), N_("show points per line")),
    Shortcut("camera", "Shift+F2", N_("Camera"), N_("scan a QR code with the camera")),
    Shortcut("reprint", "Ctrl+P", N_("Last slip"), N_("show and print the last slip again")),
    Shortcut(
        "desk", "Shift+F10", N_("Consultant desk"), N_("points history and personal-offer sheets")
    ),
    Shortcut("status", "Ctrl+I", N_("Connection"), N_("connection, queue and sync details")),
    Shortcut("lock", "Ctrl+L", N_("Lock"), N_("lock the till (PIN to return)")),
    Shortcut("close_shift", "Ctrl+Shift+X", N_("Close shift"), N_("close the shift and log out")),
)
BY_ACTION = {s.action: s for s in SHORTCUTS}


def key(action: str) -> str:
    return BY_ACTION[action].key


def label(action: str) -> str:
    """A button's text: the action and its key, e.g. "Оплата  F12"."""
    s = BY_ACTION[action]
    return f"{_(s.text)}  {s.key}"
