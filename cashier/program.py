"""A loyalty program: its rules as data, loaded from a TOML file and validated.

Owns: the program model (tiers, accrual and redemption rules, expiry, bonuses, offline budget) and
the loader.  A wrong file raises ``ProgramError`` naming the file, the key and what was expected;
nothing half-loaded is ever returned.  The same model runs on the till and in the processing service.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from cashier.data import data_root
from cashier.errors import ProgramError
from cashier.i18n import _
from cashier.ledger_time import add_months
from cashier.money import Kopecks
from cashier.program_reader import Reader

PCT_SCALE = 10_000
"""Percentages are held as integers in 1/10 000 of a percent (1.5 % → 15 000)."""


class PaymentMethod(StrEnum):
    CASH = "cash"
    CARD = "card"
    SBP = "sbp"
    OTHER = "other"


class ExpiryPolicy(StrEnum):
    NEVER = "never"
    PER_LOT = "per_lot"
    """Each accrual lives N months from the day it becomes available (Kant: 6 months)."""
    SINCE_LAST_PURCHASE = "since_last_purchase"
    """The whole balance burns N months after the last purchase (NBclub: 14 months)."""


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    from_spend: Kopecks
    redeem_cap_pct: Decimal
    earn_pct: Decimal

    @property
    def redeem_cap_e4(self) -> int:
        return int(self.redeem_cap_pct * PCT_SCALE)

    @property
    def earn_e4(self) -> int:
        return int(self.earn_pct * PCT_SCALE)


@dataclass(frozen=True)
class OfflineRedeem:
    """How far points may be spent while a till cannot reach the service (docs/protocol.md J).

    The budgets are counted by the service on *its* clock (the day an offline sale reaches it),
    never on a date the till sends."""

    enabled: bool = False
    max_points_per_customer_per_day: Decimal = Decimal(0)
    """Per till and customer, per day the sales reach the service."""
    max_snapshot_age_hours: int = 24
    verified_customers_only: bool = True
    max_points_per_customer_per_day_all_tills: Decimal | None = None
    """Per customer across all tills, per day the sales reach the service; None: the per-till
    figure (one till's worth a day, whichever tills spend it)."""
    max_overdraft_points: Decimal | None = None
    """How far below zero offline spending may take a customer's balance; None: the per-till
    daily figure.  An offline sale beyond it is refused to review, never applied."""
    review_sales_over: int | None = 10_000_000
    """Kopecks: an offline sale of at least this much is applied and also listed for review
    (100 000 ₽ by default; ``0`` in the program turns it off)."""

    @property
    def customer_daily_cap(self) -> Decimal:
        cap = self.max_points_per_customer_per_day_all_tills
        return self.max_points_per_customer_per_day if cap is None else cap

    @property
    def overdraft_ceiling(self) -> Decimal:
        ceiling = self.max_overdraft_points
        return self.max_points_per_customer_per_day if ceiling is None else ceiling


@dataclass(frozen=True)
class Bonus:
    points: Decimal
    requires_verified_phone: bool = True
    days_before: int = 0
    days_after: int = 0


@dataclass(frozen=True)
class Program:
    """One loyalty program.  Build it with :func:`load_program` or :func:`load_preset`."""

    code: str
    name: str
    version: str
    point_value: Kopecks
    points_scale: int
    tiers: tuple[Tier, ...]
    tier_window_months: int
    activation_delay_days: int
    expiry_policy: ExpiryPolicy
    expiry_months: int
    earn_pct_when_points_used: Decimal | None = None
    payment_bonus_pct: Mapping[PaymentMethod, Decimal] = field(default_factory=dict)
    earn_excluded_categories: frozenset[str] = frozenset()
    earn_excluded_skus: frozenset[str] = frozenset()
    category_multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    sku_multipliers: Mapping[str, Decimal] = field(default_factory=dict)
    redeem_excluded_categories: frozenset[str] = frozenset()
    redeem_excluded_skus: frozenset[str] = frozenset()
    min_line_to_pay: Kopecks = 0
    redeem_requires_verified_phone: bool = True
    confirmation_above: Decimal | None = None
    offline_redeem: OfflineRedeem = OfflineRedeem()
    welcome_bonus: Bonus | None = None
    birthday_bonus: Bonus | None = None
    profile_bonus: Bonus | None = None
    """Points for completing the profile: given once per customer ever, when an e-mail or a birth
    date is first added to an account whose phone is verified (``[bonuses.profile]``)."""
    sms_countries: frozenset[str] = frozenset({"7"})
    """Country calling codes SMS codes may be sent to (``[sms] countries``; Russia by default): a
    code to a premium foreign number is how SMS pumping makes money."""
    return_chain_groups: tuple[frozenset[str], ...] = ()
    """Chains whose tills may take back each other's sales (``[[returns.chain_groups]]``, e.g. one
    company's chains sharing one account); by default a sale is returned only in its own chain."""
    source: str = "<memory>"

    def returns_across(self, sold_in: str | None, returned_in: str) -> bool:
        """Whether a till of chain ``returned_in`` may take back a sale made in ``sold_in``."""
        return sold_in == returned_in or any(
            sold_in in group and returned_in in group for group in self.return_chain_groups
        )

    @property
    def unit_value(self) -> Kopecks:
        """Kopecks one point unit (10^-scale points) is worth; validated to be whole."""
        return int(self.point_value // 10**self.points_scale)

    def tier(self, code: str) -> Tier:
        for tier in self.tiers:
            if tier.code == code:
                return tier
        raise KeyError(code)

    def tier_for_spend(self, window_spend: Kopecks) -> Tier:
        """The highest tier whose threshold the spend (net of returns) reaches."""
        chosen = self.tiers[0]
        for tier in self.tiers:
            if window_spend >= tier.from_spend:
                chosen = tier
        return chosen

    def next_tier(self, window_spend: Kopecks) -> tuple[Tier, Kopecks] | None:
        """The next tier up and how much more must be spent to reach it, or None at the top."""
        for tier in self.tiers:
            if tier.from_spend > window_spend:
                return tier, tier.from_spend - window_spend
        return None

    def earn_available_from(self, occurred_at: datetime) -> datetime:
        return occurred_at + timedelta(days=self.activation_delay_days)

    def earn_expires_at(self, occurred_at: datetime) -> datetime | None:
        """When points earned by a purchase at ``occurred_at`` expire, by the expiry policy.

        For ``since_last_purchase`` this is the date the whole balance burns if the customer buys
        nothing more; every later purchase moves it.
        """
        if self.expiry_policy is ExpiryPolicy.PER_LOT:
            return add_months(self.earn_available_from(occurred_at), self.expiry_months)
        if self.expiry_policy is ExpiryPolicy.SINCE_LAST_PURCHASE:
            return add_months(occurred_at, self.expiry_months)
        return None

    def birthday_bonus_due(
        self, birth_date: date | None, today: date, last_given: date | None
    ) -> bool:
        """Whether the birthday bonus is due today: inside the window, at most once a year."""
        bonus = self.birthday_bonus
        if bonus is None or birth_date is None:
            return False
        for year in (today.year - 1, today.year, today.year + 1):
            try:
                birthday = birth_date.replace(year=year)
            except ValueError:  # 29 February in a common year: celebrate on 28 February
                birthday = date(year, 2, 28)
            start = birthday - timedelta(days=bonus.days_before)
            end = birthday + timedelta(days=bonus.days_after)
            if start <= today <= end:
                return last_given is None or last_given < start
        return False


def load_program(path: str | Path) -> Program:
    """Load and validate a program TOML file.

    Raises:
        ProgramError: the file is missing, is not TOML, or a key is wrong; the message names the
            file, the key and what is expected.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProgramError(
            _("Cannot read the program file {file}: {reason}. Check the path.").format(
                file=str(path), reason=exc.strerror or str(exc)
            ),
            source=str(path),
            key="",
        ) from None
    return parse_program(text, source=str(path))


def load_preset(name: str) -> Program:
    """Load one of the presets shipped in ``resources/programs/`` (``nbclub``, ``kant``, …)."""
    folder = data_root().joinpath("programs")
    entry = folder.joinpath(f"{name}.toml")
    if not entry.is_file():
        known = sorted(
            p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
        )
        raise ProgramError(
            _("There is no preset program {name}. Presets: {known}.").format(
                name=repr(name), known=", ".join(known)
            ),
            source=name,
            key="",
        )
    return parse_program(
        entry.read_text(encoding="utf-8"), source=f"resources/programs/{name}.toml"
    )


def preset_names() -> list[str]:
    folder = data_root().joinpath("programs")
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def parse_program(text: str, *, source: str = "<text>") -> Program:
    """Parse program TOML text; see :func:`load_program`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgramError(
            _("The program file {file} is not valid TOML: {reason}.").format(
                file=source, reason=str(exc)
            ),
            source=source,
            key="",
        ) from None
    root = Reader(data, source)
    return _build(root)


def _build(root: Reader) -> Program:
    meta = root.table("program")
    points = root.table("points", optional=True)
    point_value = points.money("value", default=Decimal("1.00"), minimum=Decimal("0.01"))
    scale = points.integer("scale", default=0, minimum=0, maximum=4)
    if point_value % 10**scale:
        raise points.error(
            "value",
            _(
                "a point value whose smallest unit (10^-{scale} points) is a whole number of kopecks"
            ).format(scale=scale),
        )

    tiers_t = root.table("tiers")
    levels = tiers_t.array_of_tables("levels", min_items=1)
    tiers: list[Tier] = []
    for level in levels:
        tiers.append(
            Tier(
                code=level.identifier("code"),
                name=level.string("name"),
                from_spend=level.money("from_spend", minimum=Decimal(0)),
                redeem_cap_pct=level.percent("redeem_cap_pct"),
                earn_pct=level.percent("earn_pct"),
            )
        )
    if tiers[0].from_spend != 0:
        raise levels[0].error("from_spend", _("0 for the first tier, so every customer has a tier"))
    for prev, (i, cur) in zip(tiers, enumerate(tiers[1:], start=1), strict=False):
        if cur.from_spend <= prev.from_spend:
            raise levels[i].error("from_spend", _("a threshold above the previous tier's"))
    if len({t.code for t in tiers}) != len(tiers):
        raise tiers_t.error("levels", _("tier codes that are all different"))

    earn = root.table("earn", optional=True)
    redeem = root.table("redeem", optional=True)
    offline = redeem.table("offline", optional=True)
    expiry = root.table("expiry", optional=True)
    bonuses = root.table("bonuses", optional=True)
    returns = root.table("returns", optional=True)
    sms = root.table("sms", optional=True)
    countries = sms.string_set("countries") or frozenset({"7"})
    if not all(c.isascii() and c.isdigit() and len(c) <= 3 for c in countries):
        raise sms.error("countries", _('country calling codes, e.g. ["7", "375"]'))
    groups = returns.array_of_tables("chain_groups")

    payment_bonus = {
        PaymentMethod(k): v
        for k, v in earn.percent_map(
            "payment_bonus_pct", keys=[m.value for m in PaymentMethod]
        ).items()
    }
    expiry_policy = ExpiryPolicy(
        expiry.choice("policy", [p.value for p in ExpiryPolicy], default=ExpiryPolicy.NEVER.value)
    )
    expiry_months = expiry.integer(
        "months", default=0, minimum=0 if expiry_policy is ExpiryPolicy.NEVER else 1, maximum=120
    )
    confirmation = redeem.decimal("confirmation_above", default=None, minimum=Decimal(0))
    program = Program(
        code=meta.identifier("code"),
        name=meta.string("name"),
        version=meta.string("version"),
        point_value=point_value,
        points_scale=scale,
        tiers=tuple(tiers),
        tier_window_months=tiers_t.integer("window_months", default=12, minimum=1, maximum=120),
        activation_delay_days=earn.integer(
            "activation_delay_days", default=0, minimum=0, maximum=365
        ),
        expiry_policy=expiry_policy,
        expiry_months=expiry_months,
        earn_pct_when_points_used=earn.percent("pct_when_points_used", default=None),
        payment_bonus_pct=payment_bonus,
        earn_excluded_categories=earn.string_set("excluded_categories"),
        earn_excluded_skus=earn.string_set("excluded_skus"),
        category_multipliers=earn.multiplier_map("category_multipliers"),
        sku_multipliers=earn.multiplier_map("sku_multipliers"),
        redeem_excluded_categories=redeem.string_set("excluded_categories"),
        redeem_excluded_skus=redeem.string_set("excluded_skus"),
        min_line_to_pay=redeem.money(
            "min_line_to_pay", default=Decimal("0.01"), minimum=Decimal("0.00")
        ),
        redeem_requires_verified_phone=redeem.boolean("requires_verified_phone", default=True),
        confirmation_above=confirmation,
        offline_redeem=OfflineRedeem(
            enabled=offline.boolean("enabled", default=False),
            max_points_per_customer_per_day=offline.decimal(
                "max_points_per_customer_per_day", default=Decimal(0), minimum=Decimal(0)
            )
            or Decimal(0),
            max_snapshot_age_hours=offline.integer(
                "max_snapshot_age_hours", default=24, minimum=1, maximum=24 * 30
            ),
            verified_customers_only=offline.boolean("verified_customers_only", default=True),
            max_points_per_customer_per_day_all_tills=offline.decimal(
                "max_points_per_customer_per_day_all_tills", default=None, minimum=Decimal(0)
            ),
            max_overdraft_points=offline.decimal(
                "max_overdraft_points", default=None, minimum=Decimal(0)
            ),
            review_sales_over=offline.money(
                "review_sales_over", default="100000.00", minimum=Decimal(0)
            )
            or None,
        ),
        welcome_bonus=_bonus(bonuses, "welcome"),
        birthday_bonus=_bonus(bonuses, "birthday"),
        profile_bonus=_profile_bonus(bonuses),
        return_chain_groups=tuple(group.string_set("chains") for group in groups),
        sms_countries=countries,
        source=root.source,
    )
    for reader in (
        root,
        meta,
        points,
        tiers_t,
        earn,
        redeem,
        offline,
        expiry,
        bonuses,
        returns,
        sms,
        *levels,
        *groups,
    ):
        reader.reject_unknown()
    _check_point_amounts(program, redeem, offline, bonuses)
    return program


def _check_point_amounts(
    program: Program, redeem: Reader, offline: Reader, bonuses: Reader
) -> None:
    """Point amounts must fit the program's scale (whole points when ``scale = 0``)."""
    step = Decimal(1).scaleb(-program.points_scale)
    expected = _("a number of points with at most {n} decimals (points.scale)").format(
        n=program.points_scale
    )
    checks: list[tuple[Reader, str, Decimal | None]] = [
        (redeem, "confirmation_above", program.confirmation_above),
        (
            offline,
            "max_points_per_customer_per_day",
            program.offline_redeem.max_points_per_customer_per_day,
        ),
    ]
    named = (
        ("welcome", program.welcome_bonus),
        ("birthday", program.birthday_bonus),
        ("profile", program.profile_bonus),
    )
    for name, bonus in named:
        if bonus is not None:
            checks.append(
                (
                    Reader(bonuses.data[name], bonuses.source, bonuses.key_path(name)),
                    "points",
                    bonus.points,
                )
            )
    for reader, key, value in checks:
        if value is not None and value != value.quantize(step, rounding="ROUND_DOWN"):
            raise reader.error(key, expected)


def _bonus(bonuses: Reader, name: str) -> Bonus | None:
    if name not in bonuses.data:
        bonuses.seen.add(name)
        return None
    table = bonuses.table(name)
    bonus = Bonus(
        points=table.decimal("points", minimum=Decimal(1)) or Decimal(0),
        requires_verified_phone=table.boolean("requires_verified_phone", default=True),
        days_before=table.integer("days_before", default=0, minimum=0, maximum=31),
        days_after=table.integer("days_after", default=0, minimum=0, maximum=31),
    )
    table.reject_unknown()
    return bonus


def _profile_bonus(bonuses: Reader) -> Bonus | None:
    """``[bonuses.profile]``: only ``points``; the phone must always be verified for it."""
    if "profile" not in bonuses.data:
        bonuses.seen.add("profile")
        return None
    table = bonuses.table("profile")
    bonus = Bonus(points=table.decimal("points", minimum=Decimal(1)) or Decimal(0))
    table.reject_unknown()
    return bonus
