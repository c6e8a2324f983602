"""The ``cashier`` command: the till window, or a headless command of :mod:`sync.cli`.

``cashier [till|kiosk|consultant] [--data DIR] [--lang ru|en]`` opens a window; ``cashier
enroll|status|sync|queue|sell|doctor …`` run without Qt (PySide6 is imported only for a window).
The data folder is ``--data``, else ``$LOYALTY_TILL_DATA``, else the user data folder; the language
``--lang``, else ``$LOYALTY_LANG``, else the one saved in the till's settings, else Russian; both
options go before or after the mode or the command.  The language is chosen before any message
(the help included) is made.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cashier.i18n import (
    SUPPORTED_LANGUAGES,
    _,
    choose_language,
    set_language,
    translate_argparse,
)

MODES = ("till", "kiosk", "consultant")
HEADLESS = ("enroll", "status", "sync", "queue", "sell", "doctor")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cashier",
        description=_(
            "The loyalty till. Without a command: the till window; kiosk: the store tablet; "
            "consultant: the consultant's desk. Commands without a window: {list}."
        ).format(list=", ".join(HEADLESS)),
    )
    p.add_argument(
        "mode",
        nargs="?",
        default="till",
        choices=MODES,
        help=_("till (default), kiosk (the store tablet's self-registration), consultant"),
    )
    p.add_argument("--data", help=_("the till's data folder"))
    p.add_argument(
        "--lang",
        choices=SUPPORTED_LANGUAGES,
        help=_("the language of messages (default: $LOYALTY_LANG, the till's setting, or ru)"),
    )
    return p


ENV_DATA = "LOYALTY_TILL_DATA"
"""As ``sync.cli.ENV_DATA`` (not imported from there: that loads the till's whole core)."""


def data_folder(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get(ENV_DATA):
        return Path(os.environ[ENV_DATA])
    from platformdirs import user_data_dir

    return Path(user_data_dir("loyalty-till", appauthor=False))


def _scan(argv: Sequence[str]) -> tuple[str | None, str | None, str | None]:
    """``--data``, ``--lang`` (each anywhere before ``--``) and the first word that is no option
    and no option's value: the command or the mode."""
    data = lang = command = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break
        if arg in ("--data", "--lang"):
            value = argv[i + 1] if i + 1 < len(argv) else None
            if arg == "--data":
                data = value
            else:
                lang = value
            i += 2
            continue
        if arg.startswith("--data="):
            data = arg.split("=", 1)[1]
        elif arg.startswith("--lang="):
            lang = arg.split("=", 1)[1]
        elif command is None and not arg.startswith("-"):
            command = arg
        i += 1
    return data, lang, command


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    data, lang, command = _scan(args_list)
    if command in HEADLESS:
        from sync.cli import main as headless

        return headless(args_list)
    choose_language(lang, data_folder(data))
    translate_argparse()
    args = _parser().parse_args(args_list)
    folder = data_folder(args.data)
    if args.lang:
        set_language(args.lang)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per health probe
    if args.mode == "kiosk":
        from ui.kiosk import run_kiosk

        return run_kiosk(folder)
    return run_window(folder, args.mode)


def make_app() -> object:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("loyalty-till")
    return app


def run_window(folder: Path, mode: str = "till") -> int:
    from ui.window import MainWindow

    app = make_app()
    window = MainWindow(folder, mode=mode)
    window.show()
    return int(app.exec())  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
