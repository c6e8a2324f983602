"""One sale at the counter, as the cashier builds it: the cart, the customer, the points, the
payment; what the window draws and every rule it needs, without Qt.

Owns: :class:`Counter` (cart edits, identification, points to spend, payments, live quote, pay
and void over a :class:`cashier.till.Till`) and :class:`Good` (a catalogue entry).  Every input
the cashier types is parsed here, and a bad one raises :class:`cashier.till.TillError` with what
to do, changing nothing.  Quantities are thousandths (pieces ×1000, kilograms or metres ×1000),
money is kopecks, points are ``Decimal`` — never floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from cashier.errors import UserFacingError
from cashier.i18n import _
from cashier.money import format_quantity, parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.models import CatalogueItem
from cashier.till import (
    CashierView,
    Committed,
    CustomerView,
    Draft,
    Identified,
    Item,
    Priced,
    Served,
    Till,
    TillError,
)

MAX_QTY = 9_999_000
"""A line holds at most 9 999 pieces (or kilograms): more is a typo, not a sale."""


_POINTS_TYPED = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,10})?")
"""Points a cashier types: ASCII digits only (``Decimal`` alone takes "١٠٠" and "1e3")."""


@dataclass(frozen=True)
class SaleView:
    """A snapshot of the sale for the screen: taken on the till's thread, drawn on the GUI's."""

    lines: tuple[Item, ...]
    customer: CustomerView | None
    customer_served: Served
    priced: Priced | None
    payments: tuple[Payment, ...]
    redeem: str
    problem: str | None = None
    """Why the quote could not be computed (shown where the totals would be)."""
    fingerprint: tuple[object, ...] = ()
    """:meth:`Counter.fingerprint` when the snapshot was taken (Pay checks it)."""
    identified_by: str | None = None


@dataclass(frozen=True)
class Good:
    sku: str
    name: str
    category: str
    price: int
    weighed: bool


class Counter:
    """The sale being rung up on one till; a new one starts after each payment or void."""

    def __init__(
        self, till: Till, cashier: CashierView | None = None, shift_no: int | None = None
    ) -> None:
        self.till = till
        self.cashier = cashier
        self.shift_no = shift_no
        self.customer_served = Served.OFFLINE
        self.identified_by: str | None = None
        """What the cashier typed or scanned to find the customer (the SMS code goes there)."""
        self._next_line = 0
        self.draft = self._new_draft()

    def _new_draft(self) -> Draft:
        return Draft(
            lines=[],
            payments=[Payment(PaymentMethod.CARD)],
            shift_no=self.shift_no,
            cashier_id=self.cashier.id if self.cashier else None,
        )

    # -- the sale ---------------------------------------------------------------------------------
    def new_sale(self) -> None:
        self.draft = self._new_draft()
        self.identified_by = None
        self.till.end_sale()

    @property
    def empty(self) -> bool:
        return not self.draft.lines and self.draft.customer is None

    def _touch(self) -> None:
        """The first thing done for a customer starts the sale's one online budget."""
        if not self.till.in_sale:
            self.till.start_sale()

    # -- goods ------------------------------------------------------------------------------------
    def find_good(self, code: str) -> Good:
        """A good by its SKU or barcode, from the till's catalogue cache."""
        code = code.strip()
        if not code:
            raise TillError(_("Scan or type a SKU."))
        with self.till.store.read() as s:
            row = s.get(CatalogueItem, code)
        if row is None:
            raise TillError(
                _(
                    "There is no SKU {sku} in the till's catalogue: check the code, or ring it up "
                    "as a free amount (F8)."
                ).format(sku=code)
            )
        return Good(row.sku, row.name, row.category, row.price, row.weighed)

    def search_goods(self, text: str, limit: int = 30) -> list[Good]:
        """Goods whose SKU or name contains ``text`` (case-insensitive)."""
        text = text.strip()
        if not text:
            return []
        pattern = f"%{text}%"
        with self.till.store.read() as s:
            rows = s.scalars(
                select(CatalogueItem)
                .where(CatalogueItem.name.ilike(pattern) | CatalogueItem.sku.ilike(pattern))
                .order_by(CatalogueItem.name)
                .limit(limit)
            ).all()
        return [Good(r.sku, r.name, r.category, r.price, r.weighed) for r in rows]

    def categories(self) -> list[str]:
        """The categories a free-amount line may have (those of the catalogue cache)."""
        with self.till.store.read() as s:
            found = sorted(s.scalars(select(CatalogueItem.category).distinct()).all())
        return found or ["other"]

    def _line_id(self) -> str:
        self._next_line += 1
        return f"L{self._next_line}"

    def add_good(self, good: Good, qty: str | None = None) -> Item:
        """Add a good; the same piece good scanned again adds to its line."""
        self._touch()
        amount = self._quantity(qty or "1", weighed=good.weighed)
        if not good.weighed and qty is None:
            for i, line in enumerate(self.draft.lines):
                if line.sku == good.sku:
                    new = replace(line, qty=self._bounded(line.qty + amount))
                    self.draft.lines[i] = new
                    return new
        item = Item(good.sku, amount, good.price, good.category, good.name, self._line_id())
        self.draft.lines.append(item)
        return item

    def load_sheet(self, text: str) -> tuple[int, Identified | None]:
        """A personal-offer sheet's QR (``OS1.``): its goods go into the cart and its customer
        onto the sale (when none is on it yet).  How many goods were added, and the customer.

        Goods the till's catalogue no longer has are skipped, and the message says so."""
        from cashier.offer_sheet import parse_sheet_code

        code = parse_sheet_code(text, today=self.till.clock().date())
        found = None
        if self.draft.customer is None:
            found = self.identify(code.customer_id)
        added, unknown = 0, []
        for sku, qty in code.items:
            try:
                good = self.find_good(sku)
            except TillError:
                unknown.append(sku)
                continue
            self.add_good(good, format_quantity(qty))
            added += 1
        if unknown:
            raise TillError(
                _(
                    "{added} good(s) from the sheet are in the cart; not in this till's catalogue: "
                    "{skus}."
                ).format(added=added, skus=", ".join(unknown))
            )
        return added, found

    def add_sku(self, code: str, qty: str | None = None) -> Item:
        return self.add_good(self.find_good(code), qty)

    def add_free(self, category: str, amount: str) -> Item:
        """A line for a shop without a catalogue: a category and an amount in roubles."""
        self._touch()
        category = category.strip()
        if not category:
            raise TillError(_("Choose the category of the free-amount line."))
        try:
            price = parse_money(amount)
        except (UserFacingError, ValueError, InvalidOperation):
            raise TillError(
                _("The amount {amount!r} is not a sum of money: type e.g. 1500 or 1500.50.").format(
                    amount=amount
                )
            ) from None
        if price <= 0:
            raise TillError(_("The amount must be more than zero."))
        item = Item(f"free-{category}", 1000, price, category, None, self._line_id())
        self.draft.lines.append(item)
        return item

    def set_qty(self, index: int, qty: str) -> Item:
        line = self._line(index)
        with self.till.store.read() as s:  # the catalogue says whether it is sold by weight
            good = s.get(CatalogueItem, line.sku)
        new = replace(line, qty=self._quantity(qty, weighed=bool(good and good.weighed)))
        self.draft.lines[index] = new
        return new

    def remove(self, index: int, line_id: str | None = None) -> Item:
        """Remove a line; with ``line_id`` only that very line (a second quick key press on a
        list that has already changed removes nothing more)."""
        line = self._line(index)
        if line_id is not None and line.line_id != line_id:
            raise TillError(_("The receipt changed: choose the line again."))
        del self.draft.lines[index]
        return line

    def start_shift(self, cashier: CashierView | None, shift_no: int | None) -> None:
        """Another cashier or shift: the next sale is theirs (an empty one is started).  The same
        cashier on the same shift (unlocking the till) keeps the sale in progress."""
        same_cashier = (self.cashier.id if self.cashier else None) == (
            cashier.id if cashier else None
        )
        if same_cashier and self.shift_no == shift_no and cashier is not None:
            return
        if self.draft.hold_key is not None:
            self.till.cancel_hold(self.draft)
        self.cashier, self.shift_no = cashier, shift_no
        self.new_sale()

    def fingerprint(self) -> tuple[object, ...]:
        """What the cashier checks before paying: lines, customer, points asked, payments."""
        d = self.draft
        return (
            tuple((i.line_id, i.sku, i.qty, i.unit_price) for i in d.lines),
            d.customer.id if d.customer else None,
            str(d.redeem),
            tuple((p.method, p.amount) for p in d.payments),
        )

    def _line(self, index: int) -> Item:
        if not 0 <= index < len(self.draft.lines):
            raise TillError(_("Choose a line of the receipt first."))
        return self.draft.lines[index]

    def _quantity(self, text: str, *, weighed: bool) -> int:
        try:
            qty = parse_quantity(text.strip().replace(",", "."))
        except (UserFacingError, ValueError, InvalidOperation):
            raise TillError(
                _(
                    "The quantity {qty!r} is not a number: type e.g. 2, or 0.450 for weighed goods."
                ).format(qty=text)
            ) from None
        if qty <= 0:
            raise TillError(
                _("The quantity must be more than zero: remove the line instead (Del).")
            )
        if not weighed and not _whole(qty):
            raise TillError(_("This good is sold by the piece: type a whole number."))
        return self._bounded(qty)

    @staticmethod
    def _bounded(qty: int) -> int:
        if qty > MAX_QTY:
            raise TillError(_("At most 9 999 of one good in a line."))
        return qty

    # -- customer ---------------------------------------------------------------------------------
    def identify(self, text: str) -> Identified:
        """Find the customer (online within the sale's budget, else from the cache)."""
        self._touch()
        found = self.till.identify(text)
        if found.customer is not None:
            self.set_customer(found.customer, text)
            self.customer_served = found.served
        return found

    def set_customer(self, customer: CustomerView, identified_by: str | None = None) -> None:
        if self.draft.hold_key is not None:
            self.till.cancel_hold(self.draft)
        self.draft.customer = customer
        self.draft.redeem = "max"
        self.draft.confirmation_token = None
        self.identified_by = identified_by

    def clear_customer(self) -> None:
        if self.draft.hold_key is not None:
            self.till.cancel_hold(self.draft)
        self.draft.customer = None
        self.draft.redeem = "max"
        self.draft.confirmation_token = None
        self.identified_by = None

    # -- points and payment -----------------------------------------------------------------------
    def set_redeem(self, text: str) -> None:
        """Points to spend: a number (clamped to the maximum by the engine) or ``max``."""
        text = text.strip().replace(",", ".").replace(" ", "").replace("\u00a0", "")
        if text.lower() in ("", "max", "макс"):
            self.draft.redeem = "max"
            return
        if not _POINTS_TYPED.fullmatch(text):
            raise TillError(_("Points to spend must be a number, or empty for the maximum."))
        value = Decimal(text)
        if value < 0 or not value.is_finite():
            raise TillError(_("Points to spend cannot be negative."))
        self.draft.redeem = value

    def set_payment(self, method: PaymentMethod) -> None:
        self.draft.payments = [Payment(method)]

    def next_payment(self) -> PaymentMethod:
        """Cash → card → SBP → cash (one key for the usual single payment)."""
        order = [PaymentMethod.CASH, PaymentMethod.CARD, PaymentMethod.SBP]
        current = self.draft.payments[0].method if len(self.draft.payments) == 1 else None
        nxt = order[(order.index(current) + 1) % 3] if current in order else PaymentMethod.CASH
        self.set_payment(nxt)
        return nxt

    def set_split(self, amounts: dict[PaymentMethod, str], rest: PaymentMethod) -> None:
        """A split payment: the typed amounts, and ``rest`` pays what is left.  Checked against
        the amount to pay by the engine; one that does not add up changes nothing."""
        payments = []
        for method, text in amounts.items():
            text = text.strip()
            if not text or method == rest:
                continue
            try:
                amount = parse_money(text.replace(",", "."))
            except (UserFacingError, ValueError, InvalidOperation):
                raise TillError(
                    _("{amount!r} is not a sum of money: type e.g. 500 or 500.50.").format(
                        amount=text
                    )
                ) from None
            if amount > 0:
                payments.append(Payment(method, amount))
        if not payments:
            raise TillError(_("Type the amount of at least one payment method."))
        payments.append(Payment(rest))
        before = self.draft.payments
        self.draft.payments = payments
        try:
            self.quote()
        except UserFacingError:
            self.draft.payments = before  # a split that does not add up changes nothing
            raise

    def quote(self) -> Priced | None:
        """The live quote (local engine, no network): what the screen shows while ringing up."""
        if not self.draft.lines:
            return None
        c = self.draft.customer
        online = self.till.online and (c is None or self.customer_served is Served.ONLINE)
        return self.till.price(self.draft, online=online)

    def snapshot(self) -> SaleView:
        """The sale as it stands, with its live quote (or why there is none)."""
        priced, problem = None, None
        try:
            priced = self.quote()
        except UserFacingError as exc:
            problem = exc.message
        d = self.draft
        return SaleView(
            tuple(d.lines),
            d.customer,
            self.customer_served,
            priced,
            tuple(d.payments),
            str(d.redeem),
            problem,
            self.fingerprint(),
            self.identified_by,
        )

    # -- pay and void -----------------------------------------------------------------------------
    def pay(self, seen: tuple[object, ...] | None = None) -> tuple[Priced, Committed]:
        """Hold the points (online), then write the sale durably.  Raises ``TillError`` with
        ``code == "otp_required"`` when the customer must confirm with an SMS code first.

        ``seen``: the :meth:`fingerprint` of the sale the cashier saw when pressing Pay; a sale
        that changed since (a scan still on its way) is not paid."""
        if not self.draft.lines:
            raise TillError(_("The receipt is empty: add goods first."))
        if seen is not None and seen != self.fingerprint():
            raise TillError(
                _("The receipt changed while Pay was pressed: check it and press F12 again.")
            )
        self._touch()
        priced = self.till.hold(self.draft)
        committed = self.till.commit(self.draft, priced)
        return priced, committed

    def send_confirmation(self, phone: str) -> dict[str, object]:
        """Send the customer an SMS code to confirm spending points."""
        customer_id = self.draft.customer.id if self.draft.customer else None
        return self.till.send_code(phone, "redeem", customer_id=customer_id)

    def confirm(self, otp_id: str, code: str) -> None:
        self.draft.confirmation_token = self.till.verify_code(otp_id, code)

    def void(self) -> None:
        """Drop the sale; points held on the service are released (queued cancel)."""
        if self.draft.hold_key is not None:
            self.till.cancel_hold(self.draft)
        self.new_sale()


def _whole(qty: int) -> bool:
    return qty % 1000 == 0
