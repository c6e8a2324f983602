"""The ``cashier`` command line: enrol a till, sell from a script, watch and drain its queue.

Owns: the headless commands an installer, an admin or a script uses (the window is ``ui``):
``enroll``, ``status``, ``sync``, ``queue``, ``sell``, ``doctor``.  ``sell`` goes through the same
:class:`cashier.till.Till` as the window (spending above the program's threshold is confirmed with
``--sms-code`` or ``--wallet-qr``, as the window's SMS dialog and wallet QR do).  The data folder is
``--data DIR``, else ``$LOYALTY_TILL_DATA``, else the user data folder; the language ``--lang``,
else ``$LOYALTY_LANG``, else the one saved in the till's settings, else Russian (both options go
before or after the command's name).  Every command but ``enroll`` needs an enrolled folder and
creates nothing in one that is not.  Errors print what happened and what to do, and exit with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from cashier import i18n
from cashier.errors import InvalidIdentifier, UserFacingError
from cashier.gateway import GatewayError
from cashier.i18n import SUPPORTED_LANGUAGES, _
from cashier.identifiers import IdentifierKind, classify, mask_phone, normalize_phone
from cashier.money import display_money, format_points, parse_money, parse_quantity
from cashier.program import PaymentMethod
from cashier.quote import Payment
from cashier.store.db import DB_NAME, Store
from cashier.store.models import CachedCustomer, CatalogueItem, Meta, OutboxItem, Rules
from cashier.till import Draft, Item, Till, TillError
from cashier.till_types import CustomerView, Identified, Priced, Served
from sync.credentials import keyring_fix, keyring_status, locate_token, unselected_key_advice
from sync.runtime import TillRuntime, enroll, read_meta
from sync.sender import run_forever

ENV_DATA = "LOYALTY_TILL_DATA"
PULL_EVERY_S = 60.0
PENDING_OTP = "cli_sms_code:"
"""Meta key prefix (+ customer id): the SMS code request ``sell --sms-code`` sent last."""


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


def _not_enrolled(folder: Path) -> str:
    return _(
        "This till is not enrolled (no till data in {folder}): run "
        "`cashier enroll CODE --server URL` first, or give the till's data folder with --data DIR."
    ).format(folder=folder)


def _key_missing(folder: Path) -> str:
    place = locate_token(folder)
    return unselected_key_advice(place) or _(
        "The till's key is missing (enrolled, but the key is neither in the keyring nor in "
        "{path}): enrol the till again with `cashier enroll CODE --server URL`."
    ).format(path=place.path)


def open_context(args: argparse.Namespace, *, need_key: bool = True) -> Context:
    """The enrolled till in the data folder; a folder never enrolled is left as it is (no
    database is created).  ``need_key``: the till's key must be readable too."""
    folder = data_folder(args)
    if not (folder / DB_NAME).is_file():
        raise CliError(_not_enrolled(folder))
    runtime = TillRuntime.open(folder)
    problem = None
    if not runtime.server:
        problem = _not_enrolled(folder)
    elif need_key and not runtime.enrolled:
        problem = _key_missing(folder)
    if problem is not None:
        runtime.close()
        raise CliError(problem)
    return runtime


def _served(served: Served) -> str:
    """How a customer or a quote was found: on the service, or from the till's own data."""
    return _("online") if served is Served.ONLINE else _("offline")


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
    ctx = open_context(args)
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
    ctx = open_context(args, need_key=False)
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
        ctx.renew_token_if_due()  # a key near its expiry is rotated, as the window's loop does
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
                    ctx.renew_token_if_due()
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


def _identify(till: Till, who: str) -> Identified:
    found = till.identify(who)
    if found.customer is not None:
        return found
    if found.status == "not_found":
        raise CliError(
            _("Customer {who} is not found: check the number, or sell without --customer.").format(
                who=who
            )
        )
    if found.status == "card_blocked":
        raise CliError(
            _("The card {who} is blocked: give the customer's phone instead.").format(who=who)
        )
    raise CliError(
        _("Customer {who} is not recognised. {message}")
        .format(who=who, message=found.message or "")
        .strip()
    )


def _sell_customer(till: Till, args: argparse.Namespace) -> Identified | None:
    """The customer of ``--customer`` and/or ``--wallet-qr`` (the QR proves presence)."""
    found = _identify(till, args.customer) if args.customer else None
    if args.wallet_qr:
        try:
            kind = classify(args.wallet_qr).kind
        except InvalidIdentifier:
            kind = None
        if kind is not IdentifierKind.WALLET_TOKEN:
            raise CliError(
                _(
                    "--wallet-qr takes the text of the customer's wallet QR (LW2.… or LW1.…); this is not "
                    "one: scan the QR in the customer's wallet again."
                )
            )
        owner = _identify(till, args.wallet_qr)
        assert owner.customer is not None
        if found is not None and found.customer and owner.customer.id != found.customer.id:
            raise CliError(
                _(
                    "The wallet QR belongs to another customer than {who}: nothing was sold. "
                    "Check whose QR it is."
                ).format(who=args.customer)
            )
        base = found or owner
        assert base.customer is not None
        customer = dataclasses.replace(base.customer, wallet_token=args.wallet_qr.strip())
        found = dataclasses.replace(base, customer=customer)
    return found


# -- sell: the customer's SMS code ----------------------------------------------------------------
def _pending_otp(ctx: Context, customer_id: str) -> str | None:
    return _meta(ctx.store, PENDING_OTP + customer_id)


def _remember_otp(ctx: Context, customer_id: str, otp_id: str | None) -> None:
    with ctx.store.write() as s:
        row = s.get(Meta, PENDING_OTP + customer_id)
        if otp_id is None:
            if row is not None:
                s.delete(row)
        else:
            s.merge(Meta(key=PENDING_OTP + customer_id, value=otp_id))


def _send_code(ctx: Context, args: argparse.Namespace, customer: CustomerView) -> str:
    """Ask the service to send the customer an SMS code (as the window's SMS dialog does)."""
    phone = None
    if args.customer:
        try:
            ident = classify(args.customer)
            phone = ident.value if ident.kind is IdentifierKind.PHONE else None
        except InvalidIdentifier:
            phone = None
    if phone is None:
        raise CliError(
            _(
                "The SMS code goes to the customer's phone: give it with --customer PHONE "
                "(or confirm with --wallet-qr). Nothing was sold."
            )
        )
    sent = ctx.till.send_code(phone, "redeem", customer_id=customer.id)
    otp_id = str(sent["otp_id"])
    _remember_otp(ctx, customer.id, otp_id)
    print(
        _("An SMS code has been sent to {phone}.").format(phone=mask_phone(normalize_phone(phone))),
        file=sys.stderr,
        flush=True,
    )
    return otp_id


def _read_code() -> str:
    """The code from the terminal (with a prompt on stderr) or one line of a pipe."""
    stdin = sys.stdin
    if stdin is None:
        return ""
    if stdin.isatty():
        print(_("Enter the code from the SMS: "), end="", file=sys.stderr, flush=True)
    try:
        return stdin.readline().strip()
    except (OSError, ValueError, KeyboardInterrupt):
        return ""


def _confirm_by_sms(ctx: Context, args: argparse.Namespace, customer: CustomerView) -> str:
    """The confirmation token for spending points: ``--sms-code CODE`` checks CODE against the
    code this till sent the customer last; a bare ``--sms-code`` sends one and reads it."""
    interactive = False
    if args.sms_code:
        otp_id = _pending_otp(ctx, customer.id)
        if otp_id is None:
            _send_code(ctx, args, customer)
            raise CliError(
                _(
                    "Nothing was sold yet: run the same command again with --sms-code CODE, "
                    "the code from the SMS, within 5 minutes."
                )
            )
        code = args.sms_code
    else:
        otp_id = _send_code(ctx, args, customer)
        interactive = bool(sys.stdin and sys.stdin.isatty())
        code = _read_code()
        if not code:
            raise CliError(
                _(
                    "No code was given: nothing was sold. Run the same command again with "
                    "--sms-code CODE, the code from the SMS, within 5 minutes."
                )
            )
    while True:
        try:
            token = ctx.till.verify_code(otp_id, code)
        except TillError as exc:
            if exc.code == "otp_invalid":
                if interactive:
                    print(_("The code is wrong: check the SMS."), file=sys.stderr)
                    code = _read_code()
                    if code:
                        continue
                raise CliError(
                    _(
                        "The SMS code is wrong: nothing was sold. Check the SMS and run the "
                        "command again with --sms-code CODE, or with a bare --sms-code for a new "
                        "code."
                    )
                ) from None
            if exc.code in ("otp_expired", "otp_attempts_exceeded"):
                _remember_otp(ctx, customer.id, None)
                why = (
                    _("The SMS code has expired")
                    if exc.code == "otp_expired"
                    else _("Too many wrong SMS codes were entered")
                )
                raise CliError(
                    _(
                        "{why}: nothing was sold. Run the command again with a bare --sms-code "
                        "to send a new code."
                    ).format(why=why)
                ) from None
            raise
        _remember_otp(ctx, customer.id, None)
        return token


def _hold(ctx: Context, args: argparse.Namespace, draft: Draft) -> Priced:
    try:
        return ctx.till.hold(draft)
    except TillError as exc:
        if exc.code != "otp_required" or draft.customer is None:
            raise
        if args.sms_code is None:
            raise CliError(
                exc.message
                + "\n"
                + _(
                    "Add --sms-code: the service sends the customer a code and the command asks "
                    "for it; or add --wallet-qr with the text of the customer's wallet QR."
                )
            ) from None
    draft.confirmation_token = _confirm_by_sms(ctx, args, draft.customer)
    return ctx.till.hold(draft)


def cmd_sell(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    try:
        till = ctx.till
        till.start_sale()
        found = _sell_customer(till, args)
        customer = found.customer if found else None
        if found is not None and customer is not None:
            print(
                _("Customer: {name}, tier {tier}, {points} points ({path})").format(
                    name=customer.display_name,
                    tier=customer.tier_name or customer.tier or "—",
                    points=customer.available if customer.available is not None else "?",
                    path=_served(found.served),
                )
            )
        draft = Draft(
            lines=_lines(ctx, args.line),
            customer=customer,
            redeem=args.redeem,
            payments=_payments(args.pay or ["cash"]),
        )
        priced = _hold(ctx, args, draft)
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
                path=_served(priced.served),
            )
        )
        done = till.commit(draft, priced)
        print(done.message)
        print(
            _("sale {sale} no. {seq}: {state}").format(
                sale=done.sale_id,
                seq=done.seq,
                state=_("sent online") if done.served is Served.ONLINE else _("queued"),
            )
        )
        return 0
    finally:
        ctx.close()


# -- doctor ---------------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    folder = data_folder(args)
    problems = 0
    ok_mark, fail_mark = _("ok"), _("FAIL")
    width = max(len(ok_mark), len(fail_mark)) + 2

    def check(ok: bool, what: str, fix: str) -> None:
        nonlocal problems
        mark = ok_mark if ok else fail_mark
        print(mark.ljust(width) + what + ("" if ok else f"\n{' ' * width}→ {fix}"))
        problems += 0 if ok else 1

    usable, backend = keyring_status()
    check(
        usable,
        _("keyring: {backend}").format(backend=backend)
        if usable
        else _("keyring: none usable (no keyring backend)"),
        keyring_fix(folder),
    )
    place = locate_token(folder)
    if place.store is not None and place.selected:
        check(
            True,
            _("till key present (in the keyring)")
            if place.store == "keyring"
            else _("till key present (in the file store {path})").format(path=place.path),
            "",
        )
    elif place.store == "file":
        check(
            False,
            _("till key present in the file store ({path}), but that store is not selected").format(
                path=place.path
            ),
            _(
                "set LOYALTY_KEYRING=file (e.g. `export LOYALTY_KEYRING=file`) and run cashier again"
            ),
        )
    elif place.store == "keyring":
        check(
            False,
            _("till key present in the keyring, but LOYALTY_KEYRING=file is set"),
            _("unset LOYALTY_KEYRING (`unset LOYALTY_KEYRING`) and run cashier again"),
        )
    else:
        check(False, _("till key: not found"), _("run `cashier enroll CODE --server URL`"))
    if (folder / DB_NAME).is_file():
        _doctor_database(args, check)
    else:
        check(
            False,
            _("till data in {folder}: none (not enrolled)").format(folder=folder),
            _(
                "run `cashier enroll CODE --server URL`, or give the till's data folder with "
                "--data DIR (or $LOYALTY_TILL_DATA)"
            ),
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
    return 1 if problems else 0


def _doctor_database(args: argparse.Namespace, check: Any) -> None:
    try:
        ctx = open_context(args, need_key=False)
    except CliError as exc:
        check(False, _("till enrolled"), str(exc))
        return
    except UserFacingError as exc:
        check(
            False, _("database: {problem}").format(problem=exc.message), _("close the other copy")
        )
        return
    try:
        check(ctx.store.healthy, _("database integrity"), ctx.store.problem or "")
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
    finally:
        ctx.close()


# -- entry ----------------------------------------------------------------------------------------
def _common(*, top: bool) -> argparse.ArgumentParser:
    """``--data`` and ``--lang``: on the main parser, and again on each command (so both go
    before or after the command's name; a command's copy does not overwrite the main one)."""
    p = argparse.ArgumentParser(add_help=False)
    default = None if top else argparse.SUPPRESS
    p.add_argument(
        "--data",
        default=default,
        metavar="DIR",
        help=_("the till's data folder (default: $LOYALTY_TILL_DATA or the user data folder)"),
    )
    p.add_argument(
        "--lang",
        default=default,
        choices=SUPPORTED_LANGUAGES,
        help=_("the language of messages (default: $LOYALTY_LANG, the till's setting, or ru)"),
    )
    return p


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cashier",
        description=_("The loyalty till (headless commands)."),
        parents=[_common(top=True)],
    )
    common = [_common(top=False)]
    sub = p.add_subparsers(title=_("commands"))
    s = sub.add_parser("enroll", help=_("enrol this till with a one-time code"), parents=common)
    s.add_argument("code", help=_("the one-time enrolment code from the administrator"))
    s.add_argument("--server", required=True, help="https://host:port")
    s.add_argument("--name", default="till", help=_("the till's name on the service"))
    s.set_defaults(func=cmd_enroll)
    s = sub.add_parser(
        "status", help=_("online or offline, the queue, the last sync"), parents=common
    )
    s.add_argument("--json", action="store_true", help=_("one JSON object, for scripts"))
    s.set_defaults(func=cmd_status)
    s = sub.add_parser(
        "sync", help=_("send the queue and fetch rules, customers and goods"), parents=common
    )
    s.add_argument("--once", action="store_true", help=_("one round, then exit"))
    s.set_defaults(func=cmd_sync)
    s = sub.add_parser(
        "queue",
        help=_("what waits to be sent (--review: what the service refused)"),
        parents=common,
    )
    s.add_argument("--review", action="store_true", help=_("what the service refused"))
    s.set_defaults(func=cmd_queue)
    s = sub.add_parser(
        "sell", help=_("a scripted sale through the till's own code path"), parents=common
    )
    s.add_argument("--customer", help="PHONE|CARD|QR")
    s.add_argument("--line", action="append", required=True, help="SKU[*QTY] | CATEGORY:AMOUNT")
    s.add_argument("--pay", action="append", help="cash|card|sbp[:AMOUNT]")
    s.add_argument("--redeem", default="0", help="max | N")
    s.add_argument(
        "--sms-code",
        nargs="?",
        const="",
        metavar="CODE",
        help=_(
            "confirm spending points with the customer's SMS code: without CODE the code is sent "
            "to the --customer phone and read from the terminal (or one line of stdin); with "
            "CODE, the code this till sent last is checked"
        ),
    )
    s.add_argument(
        "--wallet-qr",
        metavar="PAYLOAD",
        help=_(
            "the text of the customer's wallet QR (LW2.… or LW1.…): proves the customer is here"
        ),
    )
    s.set_defaults(func=cmd_sell)
    s = sub.add_parser(
        "doctor", help=_("check what the till needs, and say what to do"), parents=common
    )
    s.set_defaults(func=cmd_doctor)
    return p


def choose_language(argv: Sequence[str]) -> None:
    """``--lang``, else ``$LOYALTY_LANG``, else the till's saved setting, else Russian: set before
    any message (the help included) is made."""
    folder = data_folder(argparse.Namespace(data=i18n.option_value(argv, "--data")))
    i18n.choose_language(i18n.option_value(argv, "--lang"), folder)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    choose_language(args_list)
    i18n.translate_argparse()
    parser = _parser()
    args = parser.parse_args(args_list)
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
