#!/usr/bin/env python3
"""The demo launcher behind `python3 tools/dev.py demo`. Standard library only.

Starts `processing demo` (demo data on SQLite, port 8765 by default) as a child, waits until it
answers, enrols the demo till (its own data folder, its key in that folder) with the one-time code
the service printed, then opens the till window at the cashier login. When the window closes, or
on Ctrl+C, it stops the service cleanly (terminate, wait 10 s, kill).

    python3 tools/dev.py demo [--port P] [--host H] [--till-data DIR] [--no-window] [ARGS...]
    python3 tools/demo.py ...   # the same without the setup step (the venv must exist)

ARGS go to `processing demo` (e.g. `--db sqlite:///demo.db`, `--customers 200`). `--no-window`
starts the service and enrols the till, then waits for Ctrl+C: for a machine without a display,
or a till on another computer. On Linux without a display it behaves like `--no-window`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import dev

DEFAULT_PORT = 8765
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
TILL_FOLDER = "loyalty-till-demo"
MARKER = "demo-server.txt"
"""In the demo till's folder: which server and database it was enrolled with (by this launcher)."""
ENROLLED = "demo till enrolled"
"""The line the launcher prints once the till is enrolled (tests wait for it)."""

CODE_LINE = re.compile(
    r"^(?:enrolment code for a till of store|код подключения кассы магазина) "
    r"(?P<store>\S+): (?P<code>\S+)\s*$"
)
SERVING_LINE = re.compile(
    r"^(?:processing service on|сервис процессинга на) (?P<url>\S+)\s+"
    r"\((?:database|база данных): (?P<db>.+)\)\s*$"
)
CASHIERS_HEADER = re.compile(
    r"^(?:cashiers of store|кассиры магазина) (?P<store>\S+) "
    r"\((?:name, role|имя, роль): PIN\):\s*$"
)
CUSTOMERS_HEADER = re.compile(r"^\s*(?:customers to try|покупатели для проверки):\s*$")
"""The lines of `processing demo` read here, in either language of the run (`--lang`,
$LOYALTY_LANG, else Russian): keep them in step with processing/cli.py and
processing/demo_data.py and with their Russian in resources/locale/ru/LC_MESSAGES/admin.po."""


def echo(line: str) -> None:
    """Print a line; a closed or broken terminal must not keep the launcher from stopping the
    service, so output errors are ignored."""
    with suppress(OSError, ValueError):
        print(line, flush=True)


def say(message: str) -> None:
    """Print one launcher line, prefixed like the rest of dev.py's output."""
    echo(f"[demo] {message}")


class DemoError(Exception):
    """The demo cannot go on; the message says what happened and what to do (exit 2)."""


# --- where things are ----------------------------------------------------------------


def user_data_root() -> Path:
    """The user data folder, as platformdirs computes it (without platformdirs)."""
    if dev.WINDOWS:
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return Path(xdg) if xdg else Path.home() / ".local" / "share"


def default_till_data() -> Path:
    """The demo till's data folder: `loyalty-till-demo` in the user data folder."""
    return user_data_root() / TILL_FOLDER


def has_display() -> bool:
    """False on Linux (and other X11/Wayland systems) with no display and no Qt platform set."""
    if dev.WINDOWS or sys.platform == "darwin":
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def connect_host(host: str) -> str:
    """The address to reach a service bound to `host` from this machine."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def http_base(host: str, port: int) -> str:
    """`http://host:port` (IPv6 addresses in brackets): what `cashier enroll --server` takes."""
    host = connect_host(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# --- the port and the health check ---------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    """True when a server could listen on (host, port) now (binding the way uvicorn does)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if not dev.WINDOWS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def health(base: str, timeout: float = 1.0) -> dict[str, object] | None:
    """The body of GET {base}/api/v1/health when it answers 200 with JSON, else None."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(f"{base}/api/v1/health", timeout=timeout) as reply:
            if reply.status != 200:
                return None
            body = json.loads(reply.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def explain_taken_port(host: str, port: int) -> str:
    """What is on a taken port, and what to do about it."""
    if health(http_base(host, port)) is not None:
        return (
            f"a processing service (another demo?) is already serving on port {port}: stop it "
            f"(Ctrl+C in its terminal), or start this one on another port with --port"
        )
    return f"port {port} is taken by another program: start the demo on another port with --port"


# --- the service ---------------------------------------------------------------------


@dataclass
class ServiceOutput:
    """What the service printed, read line by line by a thread that echoes it to our stdout."""

    lines: list[str] = field(default_factory=list)
    code: str | None = None
    store: str | None = None
    database: str | None = None
    got_code: threading.Event = field(default_factory=threading.Event)
    serving: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    def read(self, stream: Iterator[str]) -> None:
        """Echo and remember every line until the service closes its output."""
        try:
            for raw in stream:
                line = raw.rstrip("\r\n")
                echo(line)
                self.lines.append(line)
                if match := CODE_LINE.match(line):
                    self.store, self.code = match["store"], match["code"]
                    self.got_code.set()
                elif match := SERVING_LINE.match(line):
                    self.database = match["db"]
                    self.serving.set()
        except (OSError, ValueError):
            pass  # the pipe broke: the service is gone, which the caller notices
        finally:
            self.closed.set()

    def guide(self) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
        """The demo store's cashiers (name, role, PIN) and the customers to try (label, phone),
        from the last such block the service printed before its enrolment code."""
        cashiers: list[tuple[str, str, str]] = []
        customers: list[tuple[str, str]] = []
        section = ""
        for line in self.lines:
            if CODE_LINE.match(line):
                break
            if CUSTOMERS_HEADER.match(line):
                section, customers = "customers", []
            elif CASHIERS_HEADER.match(line):
                section, cashiers = "cashiers", []
            elif line.startswith("    ") and section == "customers":
                label, _, phone = line.strip().rpartition(": ")
                customers.append((label, phone))
            elif line.startswith("    ") and section == "cashiers":
                who, _, pin = line.strip().rpartition(": ")
                name, _, role = who.rpartition(", ")
                cashiers.append((name, role, pin) if name else (who, "", pin))
            else:
                section = ""
        return cashiers, customers


def service_command(host: str, port: int, extra: list[str]) -> list[str]:
    """`processing demo --host H --port P ARGS...` from the venv."""
    return [
        *dev.tool("processing", "processing.cli"),
        "demo",
        "--host",
        host,
        "--port",
        str(port),
        *extra,
    ]


def child_env(**extra: str) -> dict[str, str]:
    """Our environment for a child: UTF-8 output, unbuffered, plus `extra`."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", **extra}


NEW_GROUP = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
"""Windows: a child in its own process group gets no Ctrl+C from the console (the launcher
stops it with Ctrl+Break). POSIX uses `process_group=0` for the same."""


def start_service(command: list[str]) -> tuple[subprocess.Popen[str], ServiceOutput]:
    """Start the service with its output (stdout and stderr) read and echoed by a thread."""
    proc = subprocess.Popen(
        command,
        cwd=dev.ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        process_group=None if dev.WINDOWS else 0,
        creationflags=NEW_GROUP,
    )
    output = ServiceOutput()
    assert proc.stdout is not None
    threading.Thread(target=output.read, args=(proc.stdout,), daemon=True).start()
    return proc, output


def wait_until_serving(
    proc: subprocess.Popen[str], output: ServiceOutput, host: str, port: int
) -> None:
    """Wait for the enrolment code and a 200 from /health; DemoError if the service died or
    did not answer within HEALTH_TIMEOUT_S."""
    base = http_base(host, port)
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            output.closed.wait(5)
            code = dev.exit_code(proc.returncode)
            if not port_is_free(host, port) or any(
                phrase in line.lower()
                for line in output.lines
                for phrase in ("address already in use", "only one usage of each socket address")
            ):
                raise DemoError(f"the service could not listen: {explain_taken_port(host, port)}")
            raise DemoError(
                f"the service exited with code {code} before it answered (its output is above)"
            )
        if output.got_code.is_set() and health(base) is not None:
            output.serving.wait(2)  # its "processing service on ..." line names the database
            return
        if time.monotonic() > deadline:
            raise DemoError(
                f"the service did not answer {base}/api/v1/health within "
                f"{HEALTH_TIMEOUT_S:.0f} s (its output is above)"
            )
        time.sleep(0.25)


def stop(proc: subprocess.Popen[Any], name: str) -> None:
    """Stop a running child cleanly: terminate (Ctrl+Break on Windows), wait 10 s, then kill."""
    if proc.poll() is not None:
        return
    say(f"stopping the {name}")
    try:
        if dev.WINDOWS:
            proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT"))  # noqa: B009 (Windows only)
        else:
            proc.terminate()
    except OSError:
        pass
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        say(f"the {name} did not stop within {STOP_TIMEOUT_S:.0f} s: killing it")
        proc.kill()
        proc.wait()
    code = proc.returncode
    clean = code == 0 or (not dev.WINDOWS and code == -signal.SIGTERM)
    say(f"the {name} stopped" + ("" if clean else f" (exit {dev.exit_code(code)})"))


# --- the till ------------------------------------------------------------------------


def till_command(data: Path, *args: str) -> list[str]:
    """`cashier --data DIR ARGS...` from the venv."""
    return [*dev.tool("cashier", "sync.cli"), "--data", str(data), *args]


def till_env() -> dict[str, str]:
    """The demo till's environment: its key in a file in its own data folder."""
    return child_env(LOYALTY_KEYRING="file")


def run_till(data: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a headless till command; its output goes to the terminal unless captured."""
    return subprocess.run(
        till_command(data, *args),
        cwd=dev.ROOT,
        env=till_env(),
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )


def enrolled_server(data: Path) -> str | None:
    """The server the till in `data` is enrolled with (`cashier status --json`), if any."""
    result = run_till(data, "status", "--json", capture=True)
    if result.returncode != 0:
        return None
    try:
        server = json.loads(result.stdout.strip().splitlines()[-1]).get("server")
    except (ValueError, IndexError, AttributeError):
        return None
    return server if isinstance(server, str) else None


def marker_text(server: str, database: str | None) -> str:
    """What `demo-server.txt` holds: the server and a digest of its database URL (the URL may
    hold a password), so a till enrolled with another demo database is told apart."""
    digest = hashlib.sha256((database or "").encode("utf-8")).hexdigest()
    return json.dumps({"server": server, "database_sha256": digest}) + "\n"


def still_enrolled(data: Path, server: str, database: str | None) -> bool:
    """True when the till in `data` was enrolled by this launcher with this server and this
    database, and its key still works (`cashier sync --once` succeeds)."""
    marker = data / MARKER
    if not marker.exists() or marker.read_text(encoding="utf-8") != marker_text(server, database):
        return False
    if enrolled_server(data) != server:
        return False
    say(f"the till in {data} is enrolled with {server}: syncing it")
    synced = run_till(data, "sync", "--once", capture=True)
    if synced.returncode == 0:
        echo(synced.stdout.rstrip("\n"))
        return True
    lines = [line for line in (synced.stderr + synced.stdout).splitlines() if line.strip()]
    say(f"its sync failed: {lines[-1] if lines else f'exit {synced.returncode}'}")
    return False


def check_till_folder(data: Path) -> None:
    """DemoError unless `data` is missing, empty, or a demo till's folder (it has the marker)."""
    if data.exists() and any(data.iterdir()) and not (data / MARKER).exists():
        raise DemoError(
            f"{data} is not empty and is not a demo till's folder (it has no {MARKER}): "
            "give the demo till a folder of its own with --till-data DIR"
        )


def ensure_enrolled(data: Path, server: str, database: str | None, code: str) -> None:
    """Enrol the till in `data` with `server` unless it already is and still syncs. A demo till
    folder of another server or database is emptied first (its goods, customers and queue belong
    to that database); a folder that is not a demo till's is left alone."""
    if data.exists() and any(data.iterdir()):
        if still_enrolled(data, server, database):
            say(f"{ENROLLED}: {data} -> {server}")
            return
        check_till_folder(data)
        say(
            f"the demo till in {data} belongs to another demo service or database: starting it afresh"
        )
        shutil.rmtree(data)
    say(f"enrolling the till in {data} with {server}")
    data.mkdir(parents=True, exist_ok=True)
    if run_till(data, "enroll", code, "--server", server, "--name", "demo-till").returncode:
        raise DemoError(
            f"the till could not enrol (its message is above); to start the demo till afresh, "
            f"delete {data}"
        )
    (data / MARKER).write_text(marker_text(server, database), encoding="utf-8")
    say(f"{ENROLLED}: {data} -> {server}")


def new_code(database: str | None, store: str) -> str:
    """A one-time enrolment code for another device of `store` (`processing enroll`)."""
    command = [*dev.tool("processing", "processing.cli"), "enroll", "--store", store]
    if database:
        command += ["--db", database]
    done = subprocess.run(
        command, cwd=dev.ROOT, env=child_env(), capture_output=True, text=True, check=False
    )
    if done.returncode or not done.stdout.strip():
        raise DemoError(f"no enrolment code for the kiosk: {done.stderr.strip()}")
    return done.stdout.split()[0]


def start_kiosk(data: Path, base: str, output: ServiceOutput) -> subprocess.Popen[Any]:
    """Enrol the kiosk's own folder (once) and open `cashier kiosk` on it."""
    kiosk = data.with_name(data.name + "-kiosk")
    check_till_folder(kiosk)
    code = new_code(output.database, output.store or "iport-msk-1")
    ensure_enrolled(kiosk, base, output.database, code)
    say(
        "opening the kiosk (full screen; leaving it takes a senior's PIN, 1111 in the demo): "
        + " ".join(till_command(kiosk, "kiosk")[-4:])
    )
    return subprocess.Popen(
        till_command(kiosk, "kiosk"),
        cwd=dev.ROOT,
        env=till_env(),
        stdin=subprocess.DEVNULL,
        process_group=None if dev.WINDOWS else 0,
        creationflags=NEW_GROUP,
    )


def typed(name: str) -> str:
    """How a user types the venv's command `name` from the repo root, as the README writes it
    (`.venv/bin/cashier`; `.venv\\Scripts\\cashier` on Windows)."""
    return str(dev.venv_exe(name).relative_to(dev.ROOT)).removesuffix(".exe")


def print_guide(output: ServiceOutput, window: bool) -> None:
    """The short block a demo user reads before the window: PINs and customers to try."""
    cashiers, customers = output.guide()
    pins = ", ".join(
        f"{name} {pin}" + (f" ({role})" if role else "") for name, role, pin in cashiers
    )
    till = "Till window" if window else "Demo till"
    say(f"{till}: log in with a PIN of store {output.store}: {pins or '(none printed)'}")
    if customers:
        say("customers to try (phone: who):")
        for label, phone in customers:
            say(f"    {phone}: {label}")


# --- the whole demo ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The launcher's own options; everything else goes to `processing demo`."""
    parser = argparse.ArgumentParser(
        prog="dev.py demo",
        description="Start the demo processing service, enrol a demo till and open its window.",
        epilog="Other arguments go to `processing demo` (e.g. --db URL, --customers N).",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: %(default)s)")
    parser.add_argument(
        "--till-data",
        type=Path,
        help=f"the demo till's data folder (default: {default_till_data()})",
    )
    parser.add_argument(
        "--kiosk",
        action="store_true",
        help="also open the store tablet's self-registration window (a second device of the "
        "store, in its own folder next to the till's)",
    )
    parser.add_argument(
        "--no-window",
        action="store_true",
        help="start the service and enrol the till, then wait for Ctrl+C",
    )
    return parser


@contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """Ctrl+C (SIGINT, even when our parent left it ignored), SIGTERM and SIGHUP (Ctrl+Break on
    Windows) all raise KeyboardInterrupt here, so the launcher always gets to stop the service."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    names = ("SIGINT", "SIGBREAK") if dev.WINDOWS else ("SIGINT", "SIGTERM", "SIGHUP")
    signals = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_window(window: subprocess.Popen[Any], service: subprocess.Popen[str]) -> None:
    """Wait until the window closes; say so if the service stops on its own meanwhile."""
    warned = False
    while window.poll() is None:
        if service.poll() is not None and not warned:
            say(f"the service stopped on its own (exit {dev.exit_code(service.returncode)})")
            warned = True
        time.sleep(0.2)
    code = dev.exit_code(window.returncode)
    if code:
        say(
            f"`cashier` exited with code {code}; if it printed its help above, this version has "
            f"no till window yet: use --no-window and the `{typed('cashier')} --data DIR ...` "
            "commands"
        )
    else:
        say("the till window closed")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    """Start the service, enrol the till, run the window (or wait); always stop the service."""
    if not dev.venv_python().exists():
        raise DemoError("there is no .venv yet: run `python3 tools/dev.py setup` first")
    data: Path = (args.till_data or default_till_data()).expanduser().absolute()
    window = not args.no_window
    if window and not has_display():
        say(
            "no display here (no $DISPLAY, $WAYLAND_DISPLAY or $QT_QPA_PLATFORM): not opening "
            "the window. Use `xvfb-run python3 tools/dev.py demo`, or --no-window; "
            "going on as with --no-window"
        )
        window = False
    check_till_folder(data)
    if not port_is_free(args.host, args.port):
        raise DemoError(explain_taken_port(args.host, args.port))
    base = http_base(args.host, args.port)
    command = service_command(args.host, args.port, extra)
    say(f"starting the service: {typed('processing')} " + " ".join(command[-(len(extra) + 5) :]))
    service, output = start_service(command)
    try:
        wait_until_serving(service, output, args.host, args.port)
        assert output.code is not None
        say(f"the service answers on {base}/api/v1 (process {service.pid})")
        ensure_enrolled(data, base, output.database, output.code)
        print_guide(output, window)
        kiosk = start_kiosk(data, base, output) if window and args.kiosk else None
        if window:
            say("opening the till window: " + " ".join(till_command(data)[-3:]))
            till = subprocess.Popen(
                till_command(data),
                cwd=dev.ROOT,
                env=till_env(),
                stdin=subprocess.DEVNULL,
                process_group=None if dev.WINDOWS else 0,
                creationflags=NEW_GROUP,
            )
            try:
                wait_for_window(till, service)
            finally:
                stop(till, "till window")
                if kiosk is not None:
                    stop(kiosk, "kiosk")
        else:
            say(
                "the till from the command line: "
                f"LOYALTY_KEYRING=file {typed('cashier')} --data {data} ..."
            )
            say(
                "a till on another computer: start with --host 0.0.0.0 and get it a code with "
                f"`{typed('processing')} enroll --store {output.store} "
                f"--db {output.database or 'URL'}`"
            )
            say("the service runs until Ctrl+C")
            while service.poll() is None:
                time.sleep(0.2)
            say(f"the service stopped on its own (exit {dev.exit_code(service.returncode)})")
            return 1
    except DemoError as error:
        say(f"cannot run the demo: {error}")
        return 2
    except KeyboardInterrupt:
        echo("")
        say("interrupted: stopping the demo")
    finally:
        stop(service, "service")
        output.closed.wait(2)
    return 0


def main(argv: list[str]) -> int:
    """Parse the launcher's options and run the demo; 2 with a message when it cannot."""
    if isinstance(sys.stdout, io.TextIOWrapper):  # Cyrillic on a non-UTF-8 console or pipe
        sys.stdout.reconfigure(errors="replace")
    args, extra = build_parser().parse_known_args(argv)
    try:
        with interrupt_on_termination():
            return run(args, extra)
    except DemoError as error:
        say(f"cannot run the demo: {error}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
