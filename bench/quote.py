"""Benchmark of ``cashier.quote.quote``: how long pricing a large cart takes.

What it measures: the wall time of one ``quote(...)`` call (validation, tier, eligibility, the
redemption limits, the exact allocation of points over lines, payments and the accrual) for

* the NBclub preset (three tiers, payment-method bonus, excluded categories);
* a Gold customer (window spend 200 000 ₽) with a balance far above any cap, verified phone;
* a 100-line cart built from a fixed random seed: phones, laptops, accessories, audio, weighed goods
  (cable by the metre, quantities with 3 decimals), services (earn-excluded) and gift cards
  (excluded from redemption and accrual), prices from 9.90 ₽ to 250 000 ₽;
* mixed payments: SBP 3 000.00 + cash 1 000.00 + card for the rest; ``redeem="max"``.

The script warms up, then times N calls one by one with ``time.perf_counter_ns`` and prints p50,
p95, p99 and the mean in milliseconds.  Absolute times depend on the machine, so it also times a
same-process *baseline*: a trivial loop over the same 100 lines computing ``line_amount`` only.  The
ratio quote / baseline is the figure to compare across machines.  A 10-line cart is timed too, for
reference.  Nothing is asserted about timing: the goal line only reports whether p50 <= 1 ms.

Run: ``.venv/bin/python bench/quote.py [--runs N] [--warmup N]``
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from figures import summary  # bench/figures.py, beside this script

from cashier.money import line_amount, parse_money, parse_quantity
from cashier.program import PaymentMethod, Program, load_preset
from cashier.quote import CartLine, CustomerState, Payment, quote

SEED = 20261123
GOAL_MS = 1.0
OCCURRED_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PAYMENTS = (
    Payment(PaymentMethod.SBP, parse_money("3000.00")),
    Payment(PaymentMethod.CASH, parse_money("1000.00")),
    Payment(PaymentMethod.CARD),  # the rest
)

# (category, low price, high price, weighed)
CATALOGUE = [
    ("phones", "9990.00", "149990.00", False),
    ("laptops", "29990.00", "249990.00", False),
    ("accessories", "9.90", "4990.00", False),
    ("audio", "990.00", "39990.00", False),
    ("cable-by-metre", "49.90", "899.00", True),
    ("services-warranty", "490.00", "9990.00", False),  # earns nothing, can be paid with points
]


def build_cart(n_lines: int, rng: random.Random) -> list[CartLine]:
    """``n_lines`` varied lines; every 25th line (and the first) is a gift card (no points)."""
    lines: list[CartLine] = []
    for i in range(n_lines):
        if i % 25 == 0:
            category, price, qty = "gift-cards", parse_money("5000.00"), parse_quantity("1")
        else:
            category, low, high, weighed = rng.choice(CATALOGUE)
            price = rng.randint(parse_money(low), parse_money(high))
            if weighed:
                qty = rng.randint(100, 25_000)  # 0.100 … 25.000 (thousandths)
            else:
                qty = parse_quantity(str(rng.choice([1, 1, 1, 1, 2, 3])))
        lines.append(CartLine(f"L{i:03d}", f"sku-{i:03d}", qty, price, category=category))
    return lines


def gold_customer(program: Program) -> CustomerState:
    spend = parse_money("200000.00")
    if program.tier_for_spend(spend).code != "gold":
        raise SystemExit("the benchmark customer is not Gold: the preset changed")
    return CustomerState(available=Decimal(10_000_000), verified=True, window_spend=spend)


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> list[int]:
    for _ in range(warmup):
        fn()
    gc.collect()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        start = clock()
        fn()
        samples.append(clock() - start)
    return samples


def show(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:<28} p50 {figures['p50']:8.4f} ms   p95 {figures['p95']:8.4f} ms   "
        f"p99 {figures['p99']:8.4f} ms   mean {figures['mean']:8.4f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--runs", type=int, default=2000, help="timed calls per case (default 2000)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls first (default 200)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup not negative")

    program = load_preset("nbclub")
    customer = gold_customer(program)
    rng = random.Random(SEED)
    cart100 = build_cart(100, rng)
    cart10 = build_cart(10, rng)

    def quote100() -> object:
        return quote(
            program, customer, cart100, occurred_at=OCCURRED_AT, redeem="max", payments=PAYMENTS
        )

    def quote10() -> object:
        return quote(
            program, customer, cart10, occurred_at=OCCURRED_AT, redeem="max", payments=PAYMENTS
        )

    def baseline100() -> object:
        return [line_amount(line.unit_price, line.qty) for line in cart100]

    # a sanity check of the inputs (not of timing): the quote is what the scenario says
    q = quote(program, customer, cart100, occurred_at=OCCURRED_AT, redeem="max", payments=PAYMENTS)
    q10 = quote(program, customer, cart10, occurred_at=OCCURRED_AT, redeem="max", payments=PAYMENTS)
    print(f"program {program.code} {program.version}; tier {q.tier.name}; seed {SEED}")
    for name, view in (("100 lines", q), ("10 lines", q10)):
        print(
            f"{name}: base {view.base_total / 100:,.2f} ₽, redeem {view.redeem_points} points "
            f"(max, {', '.join(view.cap_reasons)}), to pay {view.to_pay / 100:,.2f} ₽, "
            f"earn {view.earn_points} points"
        )
    print(f"runs {args.runs}, warm-up {args.warmup}")
    print()

    quote_100 = summary(time_calls(quote100, args.runs, args.warmup))
    base_100 = summary(time_calls(baseline100, args.runs, args.warmup))
    quote_10 = summary(time_calls(quote10, args.runs, args.warmup))

    show("quote, 100 lines", quote_100)
    show("baseline line_amount x100", base_100)
    show("quote, 10 lines", quote_10)
    print()
    print(
        f"ratio quote/baseline (100 lines): p50 {quote_100['p50'] / base_100['p50']:.1f}x, "
        f"mean {quote_100['mean'] / base_100['mean']:.1f}x"
    )
    verdict = "MET" if quote_100["p50"] <= GOAL_MS else "NOT MET"
    print(f"goal: p50 <= 1 ms — {verdict} (p50 {quote_100['p50']:.4f} ms, 100 lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
