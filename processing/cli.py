"""``processing``: run and administer the processing service from the command line.

Owns: argument parsing and printing only; every operation lives in a module of its own.  Every
command prints in one language: ``--lang ru|en`` (before or after the command), else
``$LOYALTY_LANG``, else Russian, as the till.  Errors print what happened and what to do, and exit
with 2.  Output into a pipe that closes early (``processing report stores | head -3``) ends quietly
with 141, as a command stopped by SIGPIPE does, instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from cashier.errors import ProgramError
from cashier.i18n import ENV_LANG, SUPPORTED_LANGUAGES, _, ngettext, option_value
from cashier.i18n import choose_language as i18n_choose_language
from cashier.identifiers import sign_wallet_token
from cashier.program import preset_names
from processing.admin import (
    DEVICE_ROLES,
    AdminError,
    add_cashier,
    add_store,
    create_enrolment_code,
    device_role_label,
    list_devices,
    role_label,
    rotate_device,
    set_device_disabled,
)
from processing.db import (
    READ_ONLY,
    default_url,
    make_engine,
    migrate,
    session_factory,
    transaction,
)
from processing.models import Customer, Device
from processing.state import NoProgram, active_program, set_program
from processing.wallet_keys import WalletKeyError

if TYPE_CHECKING:
    from processing.sms import SmsGateway


def _epilog() -> str:
    return _(
        """examples:
  processing migrate
  processing program set nbclub
  processing store add --id iport-msk-1 --chain iport --name "iPort, Москва"
  processing enroll --store iport-msk-1
  processing device list --store iport-msk-1
  processing device disable t_85d76237dda9   (refused at once; enable gives it back)
  processing device rotate t_85d76237dda9    (a new key by a code: cashier enroll CODE)
  processing cashier add --store iport-msk-1 --name "Анна" --pin 1234 --role senior
  processing serve --port 8765
  processing demo            (demo data in a fresh database, then serve)
  processing import-customers legacy.csv --store iport-msk-1 --dry-run
  processing review                      (overdrafts, rejected offline items, sequence gaps)
  processing review resolve 12 --note "called the customer"
  processing report stores --since 2026-11-01 --until 2026-11-30
  processing report cross-chain --json
  processing --lang en migrate           (English; the default is $LOYALTY_LANG, else Russian)

The database is --db URL, else $PROCESSING_DB, else a SQLite file in the user data folder.
PostgreSQL: --db postgresql://user:password@host/dbname"""
    )


PIPE_CLOSED = 141
"""The exit status when whatever read the output closed it early: 128 + SIGPIPE, what a shell
reports for a command stopped by SIGPIPE (``| head``)."""


def main(argv: list[str] | None = None) -> int:
    """Run one command; a closed pipe on stdout (``| head``) ends it quietly (docs.python.org,
    signal, "Note on SIGPIPE").  The output is flushed here, help and usage errors included, so a
    closed pipe is found while it can still be handled, not at the interpreter's exit."""
    try:
        try:
            return _main(argv)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return PIPE_CLOSED


def _discard_stdout() -> None:
    """Point stdout at the null device: what is still buffered then goes nowhere, and the
    interpreter's own flush at exit succeeds instead of printing "Exception ignored ...
    BrokenPipeError"."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a file descriptor (stdout replaced in-process): nothing to point
    finally:
        os.close(devnull)


def _main(argv: list[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    choose_language(args_list)
    parser = _parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (AdminError, ProgramError, NoProgram, ValueError, WalletKeyError) as exc:
        print(f"processing: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(
            _(
                "processing: the database {url} cannot be used: {error}. Check the URL (--db or "
                "$PROCESSING_DB), that the database server is running, and that a SQLite file's "
                "folder exists and is writable."
            ).format(
                url=shown_url(_url(args)), error=str(exc.orig).strip() or type(exc.orig).__name__
            ),
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


def choose_language(argv: list[str]) -> str:
    """Every command's language: ``--lang`` (anywhere on the line), else ``$LOYALTY_LANG``, else
    Russian (the project's default, as the till's).  ``--lang`` is passed on to the service's
    worker processes through ``$LOYALTY_LANG``.  An unknown ``--lang`` is left to the parser to
    refuse."""
    given = option_value(argv, "--lang")
    if given in SUPPORTED_LANGUAGES:
        os.environ[ENV_LANG] = given
    return i18n_choose_language(given)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="processing",
        description=_("The loyalty processing service tills sync with."),
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", help=_("database URL (default: $PROCESSING_DB or a SQLite file)"))
    p.add_argument(
        "--lang",
        choices=SUPPORTED_LANGUAGES,
        help=_("the language of the output (default: $LOYALTY_LANG, else ru)"),
    )
    sub = p.add_subparsers(title=_("commands"))
    _service_commands(sub)
    _admin_report_commands(sub)
    return p


def _wallet_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "wallet-token",
        help=_("print a signed wallet QR token (LW2) for a customer, or withdraw their tokens"),
    )
    s.add_argument("customer_id")
    s.add_argument("--days", type=int, default=365, help=_("validity in days (default 365)"))
    s.add_argument("--qr", type=Path, help=_("also write the QR code to this PNG file"))
    s.add_argument(
        "--revoke",
        action="store_true",
        help=_("withdraw every token issued to the customer until now (tills: after their sync)"),
    )
    _key_file_option(s)
    _db_option(s)
    s.set_defaults(func=cmd_wallet_token)

    wallet = sub.add_parser(
        "wallet-key", help=_("the wallet QR signing keys: list them, rotate the signing key")
    ).add_subparsers(title=_("wallet key commands"))
    s = wallet.add_parser("list", help=_("list the keys: id, made, accepted until"))
    _db_option(s)
    s.set_defaults(func=cmd_wallet_key_list)
    s = wallet.add_parser("rotate", help=_("make a new signing key, endorsed by the current one"))
    s.add_argument(
        "--keep-days",
        type=int,
        default=30,
        help=_("how long tokens of the current key stay accepted (default 30)"),
    )
    _key_file_option(s)
    _db_option(s)
    s.set_defaults(func=cmd_wallet_key_rotate)


def _service_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("serve", help=_("run the HTTP API"))
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument(
        "--ssl-certfile",
        metavar="PEM",
        help=_(
            "serve HTTPS with this certificate (chain) file; tills on other computers accept "
            "only https://"
        ),
    )
    s.add_argument("--ssl-keyfile", metavar="PEM", help=_("the certificate's private key file"))
    s.add_argument(
        "--sms",
        metavar="GATEWAY",
        help=_(
            "the SMS gateway for one-time codes (default: $PROCESSING_SMS; one is required): "
            "http:URL, http-post:URL, or log or log:/path/sms.log (demos and tests)"
        ),
    )
    _key_file_option(s)
    _db_option(s)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("migrate", help=_("create or upgrade the database schema"))
    _db_option(s)
    s.set_defaults(func=cmd_migrate)

    prog = sub.add_parser("program", help=_("the loyalty program")).add_subparsers(
        title=_("program commands")
    )
    s = prog.add_parser(
        "set",
        help=_("activate a preset ({presets}) or a TOML file").format(
            presets=", ".join(preset_names())
        ),
    )
    s.add_argument("source", metavar="PRESET|FILE.toml")
    _db_option(s)
    s.set_defaults(func=cmd_program_set)

    store = sub.add_parser("store", help=_("stores")).add_subparsers(title=_("store commands"))
    s = store.add_parser("add", help=_("add or rename a store"))
    s.add_argument("--id", required=True)
    s.add_argument("--chain", required=True)
    s.add_argument("--name", required=True)
    _db_option(s)
    s.set_defaults(func=cmd_store_add)

    s = sub.add_parser("enroll", help=_("print a one-time enrolment code for a till of a store"))
    s.add_argument("--store", required=True)
    s.add_argument(
        "--role",
        choices=DEVICE_ROLES,
        default="till",
        help=_(
            "what the device will be: till (default), kiosk (the store tablet) or desk (the "
            "consultant's desk); each reaches only its part of the API"
        ),
    )
    _db_option(s)
    s.set_defaults(func=cmd_enroll)

    _device_commands(sub)

    cashier = sub.add_parser("cashier", help=_("cashiers")).add_subparsers(
        title=_("cashier commands")
    )
    s = cashier.add_parser("add", help=_("add a cashier with a PIN"))
    s.add_argument("--store", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--pin", required=True)
    s.add_argument("--role", choices=["cashier", "senior"], default="cashier")
    _db_option(s)
    s.set_defaults(func=cmd_cashier_add)

    _wallet_commands(sub)

    s = sub.add_parser("demo-data", help=_("fill an empty database with deterministic demo data"))
    s.add_argument("--customers", type=int, default=1000)
    _db_option(s)
    s.set_defaults(func=cmd_demo_data)

    _demo_command(sub)


def _device_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    device = sub.add_parser(
        "device", help=_("enrolled tills, kiosks and desks: list, disable, enable, rotate a key")
    ).add_subparsers(title=_("device commands"))
    s = device.add_parser(
        "list",
        help=_("the devices: store, role, name, enrolled, last seen, disabled, key expiry"),
    )
    s.add_argument("--store", help=_("only the devices of this store"))
    s.add_argument("--json", action="store_true", help=_("JSON instead of a table"))
    _db_option(s)
    s.set_defaults(func=cmd_device_list)
    for name, func, text in (
        (
            "disable",
            cmd_device_disable,
            _("refuse a device from now on (its next change at once, reads within 10 s)"),
        ),
        ("enable", cmd_device_enable, _("let a disabled device in again")),
        (
            "rotate",
            cmd_device_rotate,
            _(
                "stop the device's key now and print a one-time code that enrols the same device "
                "again (its id, role, store and queue stay): cashier enroll CODE --server URL"
            ),
        ),
    ):
        s = device.add_parser(name, help=text)
        s.add_argument("id", metavar="ID", help=_("the device's id (see processing device list)"))
        _db_option(s)
        s.set_defaults(func=func)


def _demo_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "demo",
        help=_(
            "demo data in a fresh database (if empty), then serve; prints the customers to try, "
            "the PINs of store iport-msk-1 (1111 senior, 2222 cashier) and a till enrolment code"
        ),
    )
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--customers", type=int, default=1000)
    s.add_argument(
        "--sms",
        metavar="GATEWAY",
        help=_("the SMS gateway for one-time codes (default: $PROCESSING_SMS, else log)"),
    )
    _db_option(s)
    s.set_defaults(func=cmd_demo)


def _db_option(parser: argparse.ArgumentParser) -> None:
    """``--db`` and ``--lang`` after the command too (each overrides the one before it only when
    given)."""
    parser.add_argument(
        "--db", default=argparse.SUPPRESS, help=_("database URL (as before the command)")
    )
    parser.add_argument(
        "--lang",
        choices=SUPPORTED_LANGUAGES,
        default=argparse.SUPPRESS,
        help=_("the language of the output (as before the command)"),
    )


def _admin_report_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "import-customers",
        help=_("import customers from a legacy system's CSV export (all or nothing)"),
        description=_(
            "Import customers from a CSV file with a header row (UTF-8, ',' or ';'). Columns, "
            "in any order: phone, first_name, last_name, card_number, birth_date, email, "
            "opening_points, window_spend, and optionally phone_verified. Every bad row is "
            "reported by line number and then nothing is imported. Imported phones never get "
            "the welcome bonus."
        ),
    )
    s.add_argument("file", type=Path, metavar="FILE.csv")
    s.add_argument("--store", help=_("book the opening balances to this store (and its chain)"))
    s.add_argument("--dry-run", action="store_true", help=_("check the file only; write nothing"))
    _db_option(s)
    s.set_defaults(func=cmd_import_customers)

    review = sub.add_parser(
        "review",
        help=_("what an admin must look at: overdrafts, rejected offline items, sequence gaps"),
    )
    review.add_argument("--all", action="store_true", help=_("resolved items too"))
    review.add_argument("--json", action="store_true", help=_("JSON instead of a table"))
    _db_option(review)
    review.set_defaults(func=cmd_review)
    review_sub = review.add_subparsers(title=_("review commands"))
    s = review_sub.add_parser("resolve", help=_("mark a review item resolved"))
    s.add_argument("id", type=int, metavar="ID")
    s.add_argument("--note", help=_("what was done (kept in the audit log)"))
    _db_option(s)
    s.set_defaults(func=cmd_review_resolve)

    report = sub.add_parser("report", help=_("admin reports")).add_subparsers(
        title=_("report commands")
    )
    for name, func, text in (
        (
            "stores",
            cmd_report_stores,
            _("per store and chain: sales, points, returns, overdrafts"),
        ),
        (
            "cross-chain",
            cmd_report_cross_chain,
            _("points earned in one chain and spent in another (a matrix)"),
        ),
    ):
        s = report.add_parser(name, help=text)
        s.add_argument("--since", metavar="YYYY-MM-DD", help=_("first day (UTC), included"))
        s.add_argument("--until", metavar="YYYY-MM-DD", help=_("last day (UTC), included"))
        s.add_argument("--json", action="store_true", help=_("JSON instead of a table"))
        _db_option(s)
        s.set_defaults(func=func)


def _url(args: argparse.Namespace) -> str:
    return str(args.db) if args.db else default_url()


def _factory(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    url = _url(args)
    migrate(url)
    return session_factory(make_engine(url))


def shown_url(url: str) -> str:
    """``url`` fit to print: a password in it as ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: a file path, shown as given
        return url


def schema_state(url: str) -> tuple[str | None, int]:
    """The database's schema revision (None: no schema yet) and how many tables it has."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    engine = make_engine(url)
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
            tables = len(set(inspect(conn).get_table_names()) - {"alembic_version"})
    finally:
        engine.dispose()
    return revision, tables


def cmd_migrate(args: argparse.Namespace) -> int:
    url = _url(args)
    before, _tables = schema_state(url)
    migrate(url)
    after, tables = schema_state(url)
    if before is None:
        print(
            ngettext(
                "Created the database schema at revision {revision} ({count} table): {url}",
                "Created the database schema at revision {revision} ({count} tables): {url}",
                tables,
            ).format(revision=after, count=tables, url=shown_url(url))
        )
    elif before != after:
        print(
            _("Upgraded the database from revision {old} to {new}: {url}").format(
                old=before, new=after, url=shown_url(url)
            )
        )
    else:
        print(
            _("The database is already up to date, at revision {revision}: {url}").format(
                revision=after, url=shown_url(url)
            )
        )
    return 0


def sms_gateway(args: argparse.Namespace, *, demo: bool = False) -> tuple[SmsGateway, str]:
    """The SMS gateway to serve with, and its setting: ``--sms``, else ``$PROCESSING_SMS``, else
    (the demo only) ``log``.  A service that is not the demo needs one named: else codes would
    silently go to the log instead of to customers.

    Raises:
        ValueError: none is named (outside the demo), or the one named is not valid.
    """
    from processing.sms import ACCEPTED_FORMS, ENV_SMS, gateway_from_config

    given = (getattr(args, "sms", None) or "").strip()
    if given:
        return gateway_from_config(given), given
    if os.environ.get(ENV_SMS, "").strip():
        return gateway_from_config(None), os.environ[ENV_SMS].strip()
    if demo:
        return gateway_from_config("log"), "log"
    raise ValueError(
        _(
            "processing serve needs an SMS gateway for the one-time codes: set PROCESSING_SMS "
            "or --sms. For real SMS, http:URL or http-post:URL of the SMS gateway; log or "
            "log:/path/sms.log writes the codes to the log instead (demos and tests only). "
            "Use one of: {forms}"
        ).format(forms="; ".join(ACCEPTED_FORMS))
    )


def _first_wallet_key(url: str, key_file: Path) -> None:
    """Make the wallet signing key before serving when the database has none, so tills enrolled
    from now on pin it (the serving processes never read the key file)."""
    from processing import wallet_keys

    with transaction(session_factory(make_engine(url))) as session:
        if not wallet_keys.wallet_keys(session):
            wallet_keys.signing_key(session, key_file, datetime.now(UTC))


def cmd_serve(args: argparse.Namespace, *, demo: bool = False) -> int:
    from processing import serving
    from processing.sms import ENV_SMS

    certfile, keyfile = getattr(args, "ssl_certfile", None), getattr(args, "ssl_keyfile", None)
    if bool(certfile) != bool(keyfile):
        raise AdminError(_("HTTPS needs both --ssl-certfile and --ssl-keyfile."))
    for path in (certfile, keyfile):
        if path and not Path(path).is_file():
            raise AdminError(_("There is no file {path}.").format(path=path))
    from processing.offline_cache import active_days_from_env
    from processing.ratelimit import identify_limit_from_env

    identify_limit_from_env()  # a bad setting stops here, before anything is served
    active_days_from_env()
    gateway, setting = sms_gateway(args, demo=demo)
    if args.workers > 1:
        os.environ[ENV_SMS] = setting  # each worker builds its own gateway from it
    url = _url(args)
    migrate(url)
    _first_wallet_key(url, _key_file(args))
    serving.configure_logging()
    print(
        _("processing service on {url}  (database: {database})").format(
            url=f"{'https' if certfile else 'http'}://{args.host}:{args.port}/api/v1",
            database=shown_url(url),
        ),
        flush=True,
    )
    serving.serve(url, args.host, args.port, args.workers, sms=gateway, tls=(certfile, keyfile))
    return 0


def cmd_program_set(args: argparse.Namespace) -> int:
    source = str(args.source)
    if source in preset_names():
        from cashier.data import data_root

        text = data_root().joinpath("programs", f"{source}.toml").read_text(encoding="utf-8")
        label = f"resources/programs/{source}.toml"
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(
                _(
                    "{source} is neither a preset ({presets}) nor a file: name a preset or the "
                    "path of a program TOML file."
                ).format(source=source, presets=", ".join(preset_names()))
            )
        text, label = path.read_text(encoding="utf-8"), str(path)
    with transaction(_factory(args)) as session:
        active = set_program(session, text, label)
    print(
        _("program {name} is active, version {version}").format(
            name=active.program.name, version=active.version
        )
    )
    return 0


def cmd_store_add(args: argparse.Namespace) -> int:
    with transaction(_factory(args)) as session:
        store = add_store(session, args.id, args.chain, args.name)
    print(
        _("store {store} ({name}) in chain {chain}").format(
            store=store.id, name=store.name, chain=store.chain_id
        )
    )
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    with transaction(_factory(args)) as session:
        code, expires = create_enrolment_code(
            session, args.store, datetime.now(UTC), role=args.role
        )
    print(code)
    said = {
        "till": _("one-time code for a till of store {store}; valid until {until} UTC"),
        "kiosk": _(
            "one-time code for a store tablet (kiosk) of store {store}; valid until {until} UTC"
        ),
        "desk": _(
            "one-time code for a consultant's desk of store {store}; valid until {until} UTC"
        ),
    }[args.role]
    print(said.format(store=args.store, until=f"{expires:%Y-%m-%d %H:%M}"), file=sys.stderr)
    return 0


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at is not None else "—"


def device_as_json(device: Device) -> dict[str, object]:
    """One device of ``processing device list --json`` (UTC datetimes in ISO 8601, or null)."""

    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at is not None else None

    return {
        "id": device.id,
        "store": device.store_id,
        "role": device.role,
        "name": device.name,
        "created_at": iso(device.created_at),
        "last_seen_at": iso(device.last_seen_at),
        "disabled": device.disabled,
        "token_expires_at": iso(device.token_expires_at),
    }


def devices_as_text(devices: list[Device], now: datetime) -> str:
    """The table of ``processing device list`` (UTC), in the language of the run."""
    if not devices:
        return _("no devices")
    header = [
        _("id"),
        _("store"),
        _("role"),
        _("name"),
        _("enrolled (UTC)"),
        _("last seen (UTC)"),
        _("state"),
        _("key expires (UTC)"),
    ]
    rows = [header]
    for d in devices:
        if d.disabled:
            state = _("disabled")
        elif d.token_expires_at <= now:
            state = _("key expired")
        else:
            state = _("active")
        rows.append(
            [
                d.id,
                d.store_id,
                device_role_label(d.role),
                d.name,
                _when(d.created_at),
                _when(d.last_seen_at),
                state,
                _when(d.token_expires_at),
            ]
        )
    widths = [max(len(row[n]) for row in rows) for n in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def cmd_device_list(args: argparse.Namespace) -> int:
    with transaction(_factory(args)) as session:
        devices = list_devices(session, args.store)
    if args.json:
        print(json.dumps([device_as_json(d) for d in devices], ensure_ascii=False, indent=2))
    else:
        print(devices_as_text(devices, datetime.now(UTC)))
    return 0


def cmd_device_disable(args: argparse.Namespace) -> int:
    with transaction(_factory(args)) as session:
        device = set_device_disabled(session, args.id, True)
    print(
        _(
            "device {id} ({name}) is disabled: its changes are refused at once, its reads within "
            "10 seconds; processing device enable {id} lets it in again"
        ).format(id=device.id, name=device.name)
    )
    return 0


def cmd_device_enable(args: argparse.Namespace) -> int:
    with transaction(_factory(args)) as session:
        device = set_device_disabled(session, args.id, False)
    print(_("device {id} ({name}) is enabled").format(id=device.id, name=device.name))
    return 0


def cmd_device_rotate(args: argparse.Namespace) -> int:
    with transaction(_factory(args)) as session:
        device, code, expires = rotate_device(session, args.id, datetime.now(UTC))
    print(code)
    print(
        _(
            "the key of device {id} ({role}, store {store}) no longer works. This one-time code "
            "enrols the same device again, keeping its id and its queue; valid until {until} "
            "UTC. On the device: cashier enroll CODE --server URL"
        ).format(
            id=device.id,
            role=device_role_label(device.role),
            store=device.store_id,
            until=f"{expires:%Y-%m-%d %H:%M}",
        ),
        file=sys.stderr,
    )
    if device.disabled:
        print(
            _(
                "device {id} is disabled: enable it (processing device enable {id}) for it to "
                "work again"
            ).format(id=device.id),
            file=sys.stderr,
        )
    return 0


def cmd_cashier_add(args: argparse.Namespace) -> int:
    with transaction(_factory(args)) as session:
        cashier = add_cashier(session, args.store, args.name, args.pin, args.role)
    print(
        _("cashier {id} ({name}, {role}) in store {store}").format(
            id=cashier.id, name=cashier.name, role=role_label(cashier.role), store=args.store
        )
    )
    return 0


def _key_file_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wallet-key-file",
        type=Path,
        help=_(
            "the file of the wallet signing key (default: $PROCESSING_WALLET_KEY_FILE, else "
            "beside a SQLite database, else in the user config folder)"
        ),
    )


def _key_file(args: argparse.Namespace) -> Path:
    from processing.wallet_keys import default_key_file

    return getattr(args, "wallet_key_file", None) or default_key_file(_url(args))


def cmd_wallet_token(args: argparse.Namespace) -> int:
    from processing import wallet_keys

    now = datetime.now(UTC)
    with transaction(_factory(args)) as session:
        customer = session.get(Customer, args.customer_id)
        if customer is None:
            raise ValueError(
                _("There is no customer {customer}. Check the id (c_ and 12 characters).").format(
                    customer=args.customer_id
                )
            )
        if args.revoke:
            wallet_keys.revoke(customer, now)
            print(
                _(
                    "the wallet QR codes of {customer} issued until now are withdrawn: refused "
                    "online at once, offline after the tills' next customer sync"
                ).format(customer=args.customer_id)
            )
            return 0
        _kid, private = wallet_keys.signing_key(session, _key_file(args), now)
    token = sign_wallet_token(
        private, args.customer_id, now + timedelta(days=args.days), issued_at=now
    )
    print(token)
    if args.qr:
        import qrcode

        qrcode.make(token).save(str(args.qr))
        print(_("QR code written to {path}").format(path=args.qr), file=sys.stderr)
    return 0


def cmd_wallet_key_list(args: argparse.Namespace) -> int:
    from processing import wallet_keys

    now = datetime.now(UTC)
    with transaction(_factory(args)) as session:
        listed = wallet_keys.wallet_keys(session)
    if not listed:
        print(_("no wallet key yet: the first `processing wallet-token` or `serve` makes one"))
    for n, key in enumerate(listed):
        if n == len(listed) - 1:
            state = _("signs new tokens")
        elif key.retires_at is None or key.retires_at > now:
            state = _("accepted until {at}").format(
                at=key.retires_at.strftime("%Y-%m-%d %H:%M") if key.retires_at else "—"
            )
        else:
            state = _("retired")
        print(f"{key.kid}  {key.created_at.strftime('%Y-%m-%d %H:%M')}  {state}")
    return 0


def cmd_wallet_key_rotate(args: argparse.Namespace) -> int:
    from processing import wallet_keys

    if not 0 <= args.keep_days <= 3650:
        raise ValueError(_("--keep-days must be from 0 to 3650."))
    now = datetime.now(UTC)
    with transaction(_factory(args)) as session:
        new = wallet_keys.rotate(session, _key_file(args), now, timedelta(days=args.keep_days))
    print(
        _(
            "new wallet key {kid}: it signs new tokens; the previous key's tokens are accepted "
            "for {days} more days. Tills take the new key with their next rules sync."
        ).format(kid=new.kid, days=args.keep_days)
    )
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from processing.demo_data import load_demo_data

    with transaction(_factory(args)) as session:
        summary = load_demo_data(session, now=datetime.now(UTC), customers=args.customers)
    print(summary.describe())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the demo data into an empty database, print what a demo till needs, then serve.

    Every run prints the customers to try, the demo store's cashiers with their PINs and a fresh
    enrolment code (``tools/demo.py`` reads these lines, in the language of the run: keep their
    wording in both).
    """
    from processing.customers import count_customers
    from processing.demo_data import DEMO_STORE, demo_store_guide, load_demo_data

    if not args.db:  # the demo keeps its own database, apart from a real one
        args.db = default_url().replace("processing.db", "demo.db")
    factory = _factory(args)
    with transaction(factory) as session:
        if count_customers(session) == 0:
            summary = load_demo_data(session, now=datetime.now(UTC), customers=args.customers)
            print(summary.headline())
        else:
            print(_("demo database already has data; serving it as it is"))
        print(demo_store_guide(session))
        code, _expires = create_enrolment_code(session, DEMO_STORE, datetime.now(UTC))
    print(
        _("enrolment code for a till of store {store}: {code}").format(store=DEMO_STORE, code=code),
        flush=True,
    )
    args.workers = 1
    return cmd_serve(args, demo=True)


def cmd_import_customers(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from processing.importer import ImportRejected, import_customers, read_file

    factory = _factory(args)
    started = time.perf_counter()
    now = datetime.now(UTC)
    with transaction(factory) as session:
        active = active_program(session)
    try:
        # the file is read and checked before the write transaction (SQLite: the write lock)
        parsed = read_file(args.file, points_scale=active.program.points_scale, today=now.date())
        with transaction(factory) as session:
            if active_program(session).version != active.version:
                raise ValueError(
                    _("The program changed while the file was read; run the import again.")
                )
            summary = import_customers(
                session,
                args.file,
                program=active.program,
                now=now,
                store_id=args.store,
                dry_run=args.dry_run,
                parsed=parsed,
            )
    except ImportRejected as exc:
        print(exc.describe(), file=sys.stderr)
        return 2
    except IntegrityError:
        print(
            _(
                "processing: a phone or card in the file was given to another customer while the "
                "import ran; nothing was imported. Run the import again: it will name the rows."
            ),
            file=sys.stderr,
        )
        return 2
    print(replace(summary, seconds=time.perf_counter() - started).describe())
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from processing.reports import review_as_json, review_as_text, review_items

    with transaction(_factory(args)) as session:
        rows = review_items(session, include_resolved=args.all)
    if args.json:
        print(json.dumps(review_as_json(rows), ensure_ascii=False, indent=2))
    else:
        print(review_as_text(rows, include_resolved=args.all))
    return 0


def cmd_review_resolve(args: argparse.Namespace) -> int:
    from processing.reports import resolve_review, review_kind_label

    with transaction(_factory(args)) as session:
        row = resolve_review(session, args.id, now=datetime.now(UTC), note=args.note)
    print(
        _("review item {id} ({kind}) resolved").format(id=row.id, kind=review_kind_label(row.kind))
    )
    return 0


def _period(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from processing.reports import parse_day, period_of_days

    return period_of_days(
        parse_day(args.since) if args.since else None,
        parse_day(args.until) if args.until else None,
    )


def cmd_report_stores(args: argparse.Namespace) -> int:
    from processing.reports import stores_as_json, stores_as_text, stores_report

    period = _period(args)
    with transaction(_factory(args)) as session:
        report = stores_report(session, period)
    if args.json:
        print(json.dumps(stores_as_json(report), ensure_ascii=False, indent=2))
    else:
        print(stores_as_text(report))
    return 0


def cmd_report_cross_chain(args: argparse.Namespace) -> int:
    from processing.reports import cross_chain_as_json, cross_chain_as_text, cross_chain_report

    period = _period(args)
    with transaction(_factory(args)) as session:
        report = cross_chain_report(session, period)
    if args.json:
        print(json.dumps(cross_chain_as_json(report), ensure_ascii=False, indent=2))
    else:
        print(cross_chain_as_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
