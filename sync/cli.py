"""The ``cashier`` command line: enrol a till, sell from a script, watch and drain its queue.

Owns: the headless commands an installer, an admin or a script uses (the window is ``ui``):
``enroll``, ``status``, ``sync``, ``queue``, ``sell``, ``doctor``.  ``sell`` goes through the same
:class:`cashier.till.Till` as the window.  The data folder is ``--data DIR``, else
``$LOYALTY_TILL_DATA``, else the user data folder.  Errors print what happened and what to do,
and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from sqlalchemy import func, select

from cashier.errors import UserFacingError
from cashier.gateway import GatewayError
from cashier.i18n import _
from cashier.money import display_money, format_points, parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import Store
from cashier.store.models import CachedCustomer, CatalogueItem, OutboxItem, Rules
from cashier.till import Draft, Item
from sync.credentials import keyring_status, load_token
from sync.runtime import TillRuntime, enroll, read_meta
from sync.sender import run_forever

ENV_DATA = "LOYALTY_TILL_DATA"
PULL_EVERY_S = 60.0


class CliError(Exception):
    """A command that cannot go on; the message says why and what to do."""


Context = TillRuntime


def data_folder(args: argparse.Namespace) -> Path:
    if args.data:
        return Path(args.data)
    if os.environ.get(ENV_DATA):
        return Path(os.environ[ENV_DATA])
    return Path(user_data_dir("loyalty-till", appauthor=False))


def _meta(store: Store, key: str) -> str | None:
    return read_meta(store, key)


def open_context(args: argparse.Namespace, *, need_server: bool = True) -> Context:
    runtime = TillRuntime.open(data_folder(args))
    if need_server and not runtime.enrolled:
        runtime.close()
        raise CliError(
            _("This till is not enrolled: run `cashier enroll CODE --server URL` first.")
        )
    return runtime


# -- enroll ---------------------------------------------------------------------------------------
def cmd_enroll(args: argparse.Namespace) -> int:
    body = enroll(data_folder(args), args.server, args.code, args.name)
    print(
        _("Enrolled as {device} in {store}. Syncing…").format(
            device=body["device_id"], store=body["store_name"]
        ),
        flush=True,
    )
    ctx = open_context(args)
    try:
        _pull(ctx, quiet=False)
    finally:
        ctx.close()
    return 0


def _pull(ctx: Context, *, quiet: bool) -> dict[str, int]:
    assert ctx.puller is not None

    def progress(n: int) -> None:
        if not quiet:
            print(_("  customers: {n}").format(n=n), flush=True)

    got = ctx.puller.all(progress)
    if not quiet:
        print(
            _(
                "Synced: rules {rules}, customers {customers}, goods {catalogue}, cashiers {cashiers}."
            ).format(**got)
        )
    return got


# -- status, queue --------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    ctx = open_context(args, need_server=False)
    try:
        probe = ctx.puller.probe() if ctx.puller else None
        q = ctx.till.queue_status()
        now = datetime.now(UTC)
        info: dict[str, Any] = {
            "online": bool(probe and probe.online),
            "server": _meta(ctx.store, "server_url"),
            "device": _meta(ctx.store, "device_id"),
            "queue": q["depth"],
            "oldest_age_s": int((now - q["oldest"]).total_seconds()) if q["oldest"] else None,
            "review": q["review"],
            "last_push_at": _meta(ctx.store, "last_push_at"),
            "last_pull_at": _meta(ctx.store, "last_pull_at"),
            "clock_skew_s": probe.skew_s if probe else None,
            "database": "ok" if ctx.store.healthy else ctx.store.problem,
        }
        if probe and probe.skewed:
            info["warning"] = _(
                "The till's clock differs from the service's by {s:.0f} s: set the clock."
            ).format(s=probe.skew_s or 0)
        if args.json:
            print(json.dumps(info, ensure_ascii=False, default=str))
        else:
            state = _("online") if info["online"] else _("offline")
            print(
                _("{state}; queued {queue}, oldest {age}; for review {review}").format(
                    state=state,
                    queue=info["queue"],
                    age=_("{s} s").format(s=info["oldest_age_s"])
                    if info["oldest_age_s"] is not None
                    else "—",
                    review=info["review"],
                )
            )
            print(
                _("last sent {push}; last synced {pull}").format(
                    push=info["last_push_at"] or "—", pull=info["last_pull_at"] or "—"
                )
            )
            if "warning" in info:
                print(info["warning"])
        return 0
    finally:
        ctx.close()


def cmd_queue(args: argparse.Namespace) -> int:
    ctx = open_context(args, need_server=False)
    try:
        state = "rejected" if args.review else "queued"
        with ctx.store.read() as s:
            rows = list(
                s.scalars(
                    select(OutboxItem).where(OutboxItem.state == state).order_by(OutboxItem.seq)
                )
            )
        for row in rows:
            line = f"{row.seq:>6}  {row.kind:<9} {row.subject or '':<38} {row.created_at:%Y-%m-%d %H:%M}  "
            line += (
                (row.reason or "")
                if args.review
                else f"{_('attempts')} {row.attempts}  {row.last_error or ''}"
            )
            print(line.rstrip())
        print(_("{n} item(s)").format(n=len(rows)))
        return 0
    finally:
        ctx.close()


# -- sync -----------------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    assert ctx.sender is not None
    assert ctx.puller is not None
    try:
        probe = ctx.puller.probe()
        if not probe.online:
            raise CliError(_("The service is not reachable: {why}").format(why=probe.message))
        if probe.skewed:
            print(
                _("Warning: the till's clock differs from the service's by {s:.0f} s.").format(
                    s=probe.skew_s or 0
                )
            )
        sent = ctx.sender.drain()
        _pull(ctx, quiet=True)
        print(
            _("Sent {sent}: accepted {acked}, refused {rejected}; left {left}.").format(
                sent=sent.sent,
                acked=sent.acked,
                rejected=sent.rejected,
                left=ctx.till.queue_status()["depth"],
            )
        )
        if sent.error:
            print(_("Stopped: {error}").format(error=sent.error))
        if args.once:
            return 0 if not sent.error else 1
        stop = threading.Event()
        worker = threading.Thread(target=run_forever, args=(ctx.sender, stop), daemon=True)
        worker.start()
        try:
            while not stop.wait(PULL_EVERY_S):
                if ctx.puller.probe().online:
                    ctx.sender.reset_backoff()
                    _pull(ctx, quiet=True)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            worker.join(15)
        return 0
    finally:
        ctx.close()


# -- sell -----------------------------------------------------------------------------------------
def _lines(ctx: Context, specs: Sequence[str]) -> list[Item]:
    items = []
    for n, spec in enumerate(specs, start=1):
        if ":" in spec:
            category, amount = spec.split(":", 1)
            items.append(
                Item(
                    f"free-{category}",
                    parse_quantity("1"),
                    parse_money(amount),
                    category,
                    None,
                    f"L{n}",
                )
            )
            continue
        sku, _star, qty = spec.partition("*")
        with ctx.store.read() as s:
            good = s.get(CatalogueItem, sku)
        if good is None:
            raise CliError(
                _(
                    "There is no SKU {sku} in the till's catalogue: sync it, or give CATEGORY:AMOUNT."
                ).format(sku=sku)
            )
        items.append(
            Item(sku, parse_quantity(qty or "1"), good.price, good.category, good.name, f"L{n}")
        )
    return items


def _payments(specs: Sequence[str]) -> list[Payment]:
    out = []
    for spec in specs:
        method, _colon, amount = spec.partition(":")
        try:
            out.append(Payment(PaymentMethod(method), parse_money(amount) if amount else None))
        except ValueError:
            raise CliError(
                _("Pay with cash, card or sbp (optionally :AMOUNT), not {spec!r}.").format(
                    spec=spec
                )
            ) from None
    return out


def cmd_sell(args: argparse.Namespace) -> int:
    ctx = open_context(args, need_server=False)
    try:
        till = ctx.till
        till.start_sale()
        customer = None
        if args.customer:
            found = till.identify(args.customer)
            if found.customer is None:
                raise CliError(
                    _("Customer {who}: {status}. {message}")
                    .format(who=args.customer, status=found.status, message=found.message or "")
                    .strip()
                )
            customer = found.customer
            print(
                _("Customer: {name}, tier {tier}, {points} points ({path})").format(
                    name=customer.display_name,
                    tier=customer.tier or "—",
                    points=customer.available if customer.available is not None else "?",
                    path=found.served.value,
                )
            )
        draft = Draft(
            lines=_lines(ctx, args.line),
            customer=customer,
            redeem=args.redeem,
            payments=_payments(args.pay or ["cash"]),
        )
        priced = till.hold(draft)
        q = priced.quote
        scale = q.program.points_scale
        for lq in q.lines:
            print(
                f"  {lq.sku:<20} {display_money(lq.base_amount):>14}  −{format_points(lq.redeem_points, scale):>6}  +{format_points(lq.earn_points, scale)}"
            )
        print(
            _(
                "Total {total}; points {points} ({why}); to pay {to_pay}; earns {earn} ({path})"
            ).format(
                total=display_money(q.base_total),
                points=format_points(q.redeem_points, scale),
                why=q.cap_explanation() or "—",
                to_pay=display_money(q.to_pay),
                earn=format_points(q.earn_points, scale),
                path=priced.served.value,
            )
        )
        done = till.commit(draft, priced)
        print(done.message)
        print(f"sale {done.sale_id} seq {done.seq} {done.served.value}")
        return 0
    finally:
        ctx.close()


# -- doctor ---------------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    folder = data_folder(args)
    problems = 0

    def check(ok: bool, what: str, fix: str) -> None:
        nonlocal problems
        print(("ok    " if ok else "FAIL  ") + what + ("" if ok else f"\n      → {fix}"))
        problems += 0 if ok else 1

    usable, backend = keyring_status()
    check(usable, _("keyring: {backend}").format(backend=backend), _("see the message above"))
    try:
        ctx = open_context(args, need_server=False)
    except UserFacingError as exc:
        check(
            False, _("database: {problem}").format(problem=exc.message), _("close the other copy")
        )
        return 1
    try:
        check(ctx.store.healthy, _("database integrity"), ctx.store.problem or "")
        check(
            load_token(folder) is not None,
            _("till key present"),
            _("run `cashier enroll CODE --server URL`"),
        )
        with ctx.store.read() as s:
            rules = s.get(Rules, 1)
            customers = s.scalar(select(func.count()).select_from(CachedCustomer)) or 0
        check(
            rules is not None,
            _("program rules cached ({n} customers)").format(n=customers),
            _("run `cashier sync --once`"),
        )
        if ctx.puller is not None:
            probe = ctx.puller.probe()
            check(
                probe.online,
                _("service reachable"),
                probe.message or _("check the network and the server address"),
            )
            if probe.skew_s is not None:
                check(
                    not probe.skewed,
                    _("clock skew {s:.0f} s").format(s=probe.skew_s),
                    _("set the till's clock (NTP)"),
                )
        for module, hint in (
            ("zxingcpp", "pip install zxing-cpp"),
            ("pyzbar.pyzbar", "apt-get install libzbar0"),
            ("cv2", "pip install opencv-python-headless"),
        ):
            try:
                __import__(module)
                check(True, _("QR decoder {m}").format(m=module), "")
            except Exception:  # noqa: BLE001 - any import failure means "not available"
                check(False, _("QR decoder {m}").format(m=module), hint)
    finally:
        ctx.close()
    return 1 if problems else 0


# -- entry ----------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cashier", description=_("The loyalty till (headless commands).")
    )
    p.add_argument(
        "--data",
        help=_("the till's data folder (default: $LOYALTY_TILL_DATA or the user data folder)"),
    )
    sub = p.add_subparsers(title="commands")
    s = sub.add_parser("enroll", help=_("enrol this till with a one-time code"))
    s.add_argument("code")
    s.add_argument("--server", required=True, help="http://host:port")
    s.add_argument("--name", default="till")
    s.set_defaults(func=cmd_enroll)
    s = sub.add_parser("status", help=_("online or offline, the queue, the last sync"))
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("sync", help=_("send the queue and fetch rules, customers and goods"))
    s.add_argument("--once", action="store_true")
    s.set_defaults(func=cmd_sync)
    s = sub.add_parser(
        "queue", help=_("what waits to be sent (--review: what the service refused)")
    )
    s.add_argument("--review", action="store_true")
    s.set_defaults(func=cmd_queue)
    s = sub.add_parser("sell", help=_("a scripted sale through the till's own code path"))
    s.add_argument("--customer", help="PHONE|CARD|QR")
    s.add_argument("--line", action="append", required=True, help="SKU[*QTY] | CATEGORY:AMOUNT")
    s.add_argument("--pay", action="append", help="cash|card|sbp[:AMOUNT]")
    s.add_argument("--redeem", default="0", help="max | N")
    s.set_defaults(func=cmd_sell)
    s = sub.add_parser("doctor", help=_("check what the till needs, and say what to do"))
    s.set_defaults(func=cmd_doctor)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
        return code
    except (CliError, UserFacingError) as exc:
        message = exc.message if isinstance(exc, UserFacingError) else str(exc)
        print(message, file=sys.stderr)
        return 2
    except GatewayError as exc:  # e.g. a key the service no longer accepts
        print(
            _("The service said: {reason}").format(reason=getattr(exc, "message", str(exc))),
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
