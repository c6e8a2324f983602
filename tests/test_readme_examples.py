"""Every ``.venv/bin/processing`` and ``.venv/bin/cashier`` command in the README's ```sh blocks
runs as written, against a throwaway service.

The README is parsed (:func:`readme_examples`): each ```sh block, backslash-continued lines joined,
trailing ``# comments`` split off; every command that names ``.venv/bin/processing`` or
``.venv/bin/cashier`` is an example.  Each example is run by ``/bin/sh`` in a scratch folder whose
``.venv`` is a link to the checkout's, so the line a user pastes is the line that runs, with a
pinned environment (a scratch ``HOME`` and XDG folders, ``PROCESSING_DB`` a scratch SQLite file
filled by ``processing demo-data``, ``LOYALTY_TILL_DATA`` a scratch folder, ``LOYALTY_KEYRING=file``,
``PROCESSING_SMS=log:FILE``; nothing from the caller's environment).  Every example must exit 0
without a traceback, in the README's order; a few are checked further (:func:`_check`).

What cannot be the README's literally is replaced from :data:`SUBSTITUTIONS` (each entry says why);
the ``serve`` example is the service the other examples talk to (started from the README's line,
checked by ``/health``, stopped at the end); ``cashier sell … --sms-code`` gets the customer's SMS
code on stdin, read from the service's SMS log once the code was sent.  A command that cannot run
in a test goes in :data:`NOT_RUN` with the reason.  An example the test neither knows how to run
nor finds listed fails :func:`test_every_example_is_run_or_listed`, as does a substitution or a
listed line the README no longer has: the test cannot silently go stale.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cashier.identifiers import ean13_check_digit, normalize_phone
from tests.processing.conftest import _free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV = ROOT / ".venv"
TOOLS = (".venv/bin/processing", ".venv/bin/cashier")
STORE = "iport-msk-1"
TIMEOUT_S = 60.0
"""Per command: a command still running after this long fails (it does not end by itself)."""

SUBSTITUTIONS: dict[str, str] = {
    "K7QM-4XWD-9PRT": "a one-time enrolment code is used once: a fresh one from "
    f"`processing enroll --store {STORE}`",
    "https://10.0.0.5:8765": "the throwaway service: http://127.0.0.1:<a free port>",
    "--port 8765": "--port <a free loopback port> (8765 may be taken on this machine)",
    "review resolve 1 ": "the id of the review item the test made: a till's queued return of a "
    "sale the service does not know, refused by POST /sync/transactions (demo data has none)",
}
"""README text → why it is replaced (the value is made by :meth:`World.value_of`)."""

NOT_RUN: dict[str, str] = {}
"""An example (the command as :func:`readme_examples` gives it, comment stripped) → why it cannot
run in a test; e.g. ``.venv/bin/cashier`` (the window), ``.venv/bin/processing demo`` or
``.venv/bin/cashier sync`` without ``--once`` (each runs until stopped).  Empty: every example runs."""

_ENDS = {
    "processing": {
        "migrate",
        "program",
        "store",
        "enroll",
        "device",
        "cashier",
        "wallet-token",
        "wallet-key",
        "demo-data",
        "import-customers",
        "review",
        "report",
    },
    "cashier": {"enroll", "sell", "status", "queue", "doctor"},
}
"""Commands that end by themselves; ``serve`` and ``cashier sync`` (without ``--once``) do not."""
_VALUED = {"--db", "--lang", "--data"}
"""Options before the command that take a value."""
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_IMPORTED = {
    "+79990000001": ("Ирина", "Лебедева", "220100000001", "1985-04-12", "1200", "45000.50"),
    "+79990000002": ("Олег", "Ким", "", "03.11.1990", "0", "0"),
    "+79990000003": ("Мария", "Орлова", "220100000002", "", "350", "12990"),
}
"""legacy.csv's customers: phones and cards the demo data does not use (a card's first 12 digits:
the EAN-13 check digit is added)."""


# --- the README ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """One command of a ```sh block."""

    line: int
    """The README line it starts on (1-based)."""
    command: str
    """Continuation lines joined, the trailing comment stripped."""
    comment: str = ""

    @property
    def words(self) -> list[str]:
        """The command's words as the shell splits them (none if it cannot: a stray quote)."""
        try:
            return shlex.split(self.command)
        except ValueError:
            return []

    @property
    def tool(self) -> str | None:
        """``processing`` or ``cashier``; None when the line does not start with one of them
        (after ``NAME=value`` assignments)."""
        for word in self.words:
            if word in TOOLS:
                return word.rsplit("/", 1)[1]
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
                return None
        return None

    @property
    def args(self) -> list[str]:
        """The words after the tool, up to a pipe or another command."""
        words = self.words
        start = next(n for n, word in enumerate(words) if word in TOOLS) + 1
        args = []
        for word in words[start:]:
            if word in {"|", "||", "&&", ";", "&"}:
                break
            args.append(word)
        return args

    @property
    def subcommand(self) -> str | None:
        """The command's name (``serve``, ``sell``, …): the first word that is not an option."""
        skip = False
        for word in self.args:
            if skip:
                skip = False
            elif word.startswith("-"):
                skip = word in _VALUED
            else:
                return word
        return None

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.command}"


def split_comment(line: str) -> tuple[str, str]:
    """``(command, comment)``: a ``#`` outside quotes at the start of a word begins a comment."""
    quote = ""
    escaped = False
    for n, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (n == 0 or line[n - 1].isspace()):
            return line[:n].rstrip(), line[n + 1 :].strip()
    return line.rstrip(), ""


def readme_examples(text: str) -> list[Example]:
    """Every command in a ```sh block that names ``.venv/bin/processing`` or
    ``.venv/bin/cashier``, in the README's order."""
    examples: list[Example] = []
    in_sh = False
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("```"):
            in_sh = raw.strip() == "```sh" if not in_sh else False
            pending = []
            continue
        if not in_sh:
            continue
        if not pending:
            start = number
        line = raw.strip() if pending else raw.rstrip()
        if line.endswith("\\") and not split_comment(line)[1]:
            pending.append(line[:-1].rstrip())
            continue
        command, comment = split_comment(" ".join([*pending, line]))
        pending = []
        if any(re.search(rf"(?<![\w/.-]){re.escape(tool)}(?![\w/.-])", command) for tool in TOOLS):
            examples.append(Example(start, command, comment))
    return examples


def plan(example: Example) -> str | None:
    """How the test runs an example: ``serve``, ``sell-sms`` (the SMS code on stdin), ``plain``;
    None when it cannot (then it must be in :data:`NOT_RUN`)."""
    tool = example.tool
    if tool is None:
        return None  # not a plain `[NAME=value …] .venv/bin/TOOL …` line
    name, args = example.subcommand, example.args
    if name is None:
        return None  # the till window: `cashier` with no command
    if (tool, name) == ("processing", "serve"):
        return "serve"
    if (tool, name) == ("cashier", "sync"):
        return "plain" if "--once" in args else None
    if name not in _ENDS[tool]:
        return None
    if (tool, name) == ("cashier", "sell") and _bare_sms_code(args):
        return "sell-sms"
    return "plain"


def _bare_sms_code(args: list[str]) -> bool:
    """``--sms-code`` without a value: the code is read from stdin."""
    for n, word in enumerate(args):
        if word == "--sms-code":
            return n + 1 == len(args) or args[n + 1].startswith("-")
    return False


def unaccounted(examples: list[Example]) -> list[str]:
    """What makes the lists stale: examples neither run nor listed, listed lines and
    substitutions the README no longer has."""
    problems = [
        f"{ex} — the test does not know how to run it: teach plan() or list it in NOT_RUN "
        "with the reason"
        for ex in examples
        if plan(ex) is None and ex.command not in NOT_RUN
    ]
    commands = [ex.command for ex in examples]
    problems += [f"NOT_RUN lists {c!r}, not in the README" for c in NOT_RUN if c not in commands]
    problems += [
        f"SUBSTITUTIONS replaces {text!r}, not in any README example"
        for text in SUBSTITUTIONS
        if not any(text in c for c in commands)
    ]
    return problems


# --- the throwaway world ---------------------------------------------------------------------
@dataclass
class World:
    """Scratch folders, the pinned environment, the demo database and (once started) the
    service."""

    tmp: Path
    cwd: Path
    """Where commands run: ``.venv`` in it links to the checkout's, legacy.csv is here."""
    env: dict[str, str]
    db: Path
    sms_log: Path
    port: int = 0
    service: subprocess.Popen[bytes] | None = None
    service_command: str = ""
    review_item: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def popen(self, command: str, **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=self.cwd,
            env=self.env,
            text=True,
            encoding="utf-8",
            errors="replace",
            **kwargs,
        )

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=self.cwd,
            env=self.env,
            text=True,
            encoding="utf-8",
            errors="replace",
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT_S,
            check=False,
        )

    def enrolment_code(self) -> str:
        done = self.run(f".venv/bin/processing enroll --store {STORE}")
        assert done.returncode == 0, done.stderr
        code = done.stdout.strip()
        assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code), done.stdout
        return code

    def value_of(self, text: str) -> str:
        """What replaces ``text`` (a key of :data:`SUBSTITUTIONS`)."""
        if text == "K7QM-4XWD-9PRT":
            return self.enrolment_code()
        if text == "https://10.0.0.5:8765":
            return self.base_url
        if text == "--port 8765":
            return f"--port {self.port}"
        if text == "review resolve 1 ":
            return f"review resolve {self.review_item} "
        raise AssertionError(f"SUBSTITUTIONS has {text!r}, World.value_of does not")

    def substitute(self, command: str) -> str:
        for text in SUBSTITUTIONS:
            if text in command:
                command = command.replace(text, self.value_of(text))
        return command

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as conn:
            return list(conn.execute(sql, params))

    def sms_codes(self, phone: str) -> list[str]:
        """The codes in the SMS sent to ``phone``, oldest first (``log:FILE``: time, phone,
        text per line)."""
        if not self.sms_log.exists():
            return []
        codes = []
        for line in self.sms_log.read_text(encoding="utf-8").splitlines(keepends=True):
            fields = line.rstrip("\n").split("\t", 2)
            if not line.endswith("\n") or len(fields) != 3:
                continue  # a line being written
            found = re.search(r"\b(\d{4,8})\b", fields[2])
            if fields[1] == phone and found:
                codes.append(found.group(1))
        return codes

    def start_service(self, command: str) -> None:
        self.port = _free_port()
        self.service_command = command
        log = (self.tmp / "serve.log").open("wb")
        self.service = subprocess.Popen(
            ["/bin/sh", "-c", "exec " + self.substitute(command)],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_healthy()

    def wait_healthy(self) -> None:
        assert self.service is not None
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                reply = httpx.get(f"{self.base_url}/api/v1/health", timeout=2)
                if reply.json()["status"] == "ok":
                    return
            except httpx.TransportError:
                pass
            assert self.service.poll() is None, f"serve exited: {self.serve_log()}"
            assert time.monotonic() < deadline, f"serve gave no /health: {self.serve_log()}"
            time.sleep(0.1)

    def serve_log(self) -> str:
        return (self.tmp / "serve.log").read_text(encoding="utf-8", errors="replace")[-3000:]

    def stop_service(self) -> None:
        if self.service is None or self.service.poll() is not None:
            return
        os.killpg(self.service.pid, signal.SIGINT)
        try:
            self.service.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.service.pid, signal.SIGKILL)
            self.service.wait(10)


def _environment(tmp: Path, db: Path, sms_log: Path) -> dict[str, str]:
    home = tmp / "home"
    for sub in ("", ".config", ".cache", ".local/share", ".local/state", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "QT_QPA_PLATFORM": "offscreen",
        "PROCESSING_DB": f"sqlite:///{db}",
        "PROCESSING_SMS": f"log:{sms_log}",
        "LOYALTY_TILL_DATA": str(tmp / "till"),
        "LOYALTY_KEYRING": "file",
    }


def _legacy_csv() -> str:
    rows = ["phone,first_name,last_name,card_number,birth_date,email,opening_points,window_spend"]
    for phone, (first, last, card, birth, points, spend) in _IMPORTED.items():
        card = card + str(ean13_check_digit(card)) if card else ""
        rows.append(f"{phone},{first},{last},{card},{birth},,{points},{spend}")
    return "\n".join(rows) + "\n"


POSIX_ONLY = pytest.mark.skipif(
    os.name == "nt", reason="the README's examples are POSIX shell (.venv/bin/…)"
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The scratch world with the demo data loaded; no service yet."""
    for tool in TOOLS:
        assert (ROOT / tool).exists(), f"{tool} is missing: run `python3 tools/dev.py setup`"
    tmp = tmp_path_factory.mktemp("readme")
    cwd = tmp / "checkout"
    cwd.mkdir()
    (cwd / ".venv").symlink_to(VENV, target_is_directory=True)
    (cwd / "legacy.csv").write_text(_legacy_csv(), encoding="utf-8")
    db, sms_log = tmp / "processing.db", cwd / "sms.log"  # where the README's `serve --sms` writes
    world = World(tmp, cwd, _environment(tmp, db, sms_log), db, sms_log)
    loaded = world.run(".venv/bin/processing demo-data")
    assert loaded.returncode == 0, loaded.stderr
    return world


@pytest.fixture(scope="module")
def world(sandbox: World) -> Iterator[World]:
    """The sandbox with the service of the README's ``serve`` example running, and one review
    item to resolve."""
    serving = [
        ex for ex in readme_examples(README.read_text(encoding="utf-8")) if plan(ex) == "serve"
    ]
    assert serving, "the README shows no `processing serve`: nothing to run the examples against"
    try:
        sandbox.start_service(serving[0].command)
        sandbox.review_item = _make_review_item(sandbox)
        yield sandbox
    finally:
        sandbox.stop_service()


def _make_review_item(world: World) -> int:
    """A second till of the store pushes a queued return of a sale the service does not know:
    refused, so it becomes a review item (as in docs/protocol.md, J)."""
    api = f"{world.base_url}/api/v1"
    enrolled = httpx.post(
        f"{api}/devices/enroll", json={"code": world.enrolment_code(), "name": "till 2"}, timeout=30
    )
    assert enrolled.status_code == 201, enrolled.text
    device, token = enrolled.json()["device_id"], enrolled.json()["token"]
    now = datetime.now(UTC).isoformat()
    item = {
        "purchase_id": str(uuid.uuid4()),
        "return_id": str(uuid.uuid4()),
        "occurred_at": now,
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
    }
    batch = {
        "batch_id": str(uuid.uuid4()),
        "items": [
            {
                "seq": 1,
                "idempotency_key": str(uuid.uuid4()),
                "kind": "return",
                "occurred_at": now,
                "body": item,
            }
        ],
    }
    pushed = httpx.post(
        f"{api}/sync/transactions",
        json=batch,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["status"] == "rejected", pushed.text
    rows = world.query("SELECT id FROM review_items WHERE device_id = ?", device)
    assert len(rows) == 1, rows
    return int(str(rows[0][0]))


# --- running an example ----------------------------------------------------------------------
def _run_sell_with_sms(
    world: World, example: Example, command: str
) -> subprocess.CompletedProcess[str]:
    """A bare ``--sms-code`` sends the customer a code and reads one line of stdin: the code is
    given once the service has sent it (read from its SMS log, as a cashier reads it to the
    till)."""
    args = example.args
    phone = normalize_phone(args[args.index("--customer") + 1])
    before = len(world.sms_codes(phone))
    sale = world.popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(world.sms_codes(phone)) == before:
            if sale.poll() is not None or time.monotonic() > deadline:
                out, err = sale.communicate("", timeout=TIMEOUT_S)
                return subprocess.CompletedProcess(
                    command,
                    sale.returncode if sale.returncode is not None else -1,
                    out,
                    f"no SMS code was sent to {phone}\n{err}",
                )
            time.sleep(0.05)
        code = world.sms_codes(phone)[-1]
        out, err = sale.communicate(code + "\n", timeout=TIMEOUT_S)
        return subprocess.CompletedProcess(command, sale.returncode, out, err)
    finally:
        if sale.poll() is None:
            sale.kill()
            sale.wait()


def _check(world: World, example: Example, result: subprocess.CompletedProcess[str]) -> str | None:
    """What is wrong with an example's run (None: nothing)."""
    if "Traceback" in result.stderr:
        return "a traceback"
    tool, name, args = example.tool, example.subcommand, example.args
    if (tool, name) == ("cashier", "doctor"):
        return _check_doctor(result)
    if result.returncode != 0:
        return f"exit {result.returncode}"
    if (tool, name) == ("processing", "wallet-token") and "--qr" in args:
        png = world.cwd / args[args.index("--qr") + 1]
        if not png.is_file() or png.stat().st_size < 100:
            return f"no QR code in {png}"
    if (tool, name) == ("processing", "import-customers"):
        placeholders = ",".join("?" * len(_IMPORTED))
        found = world.query(
            f"SELECT count(*) FROM customers WHERE phone IN ({placeholders})", *_IMPORTED
        )[0][0]
        wanted = 0 if "--dry-run" in args else len(_IMPORTED)
        if found != wanted:
            return f"{found} of legacy.csv's customers in the database, not {wanted}"
    if (tool, name) == ("processing", "review") and "resolve" in args:
        resolved = world.query(
            "SELECT resolved_at FROM review_items WHERE id = ?", world.review_item
        )
        if not resolved or resolved[0][0] is None:
            return f"review item {world.review_item} is not resolved"
    if (tool, name) == ("cashier", "sell"):
        sale = _UUID.search(result.stdout)
        if sale is None or not world.query(
            "SELECT state FROM purchases WHERE purchase_id = ?", sale.group(0)
        ):
            return "the sale is not on the service"
    return None


def _check_doctor(result: subprocess.CompletedProcess[str]) -> str | None:
    """``doctor`` exits 0 when every check is ok, else 1.  The only check it may fail here is a QR
    decoder that really cannot be imported in the venv (pyzbar without the system's libzbar):
    the keyring (``LOYALTY_KEYRING=file``), the key, the database, the rules, the service and the
    clock must all be ok."""
    lines = result.stdout.splitlines()
    checks = [line for line in lines if line and not line[0].isspace()]
    failed = [
        line
        for n, line in enumerate(lines)
        if line in checks and n + 1 < len(lines) and lines[n + 1].lstrip().startswith("→")
    ]
    if len(checks) < 9:
        return f"{len(checks)} checks, not 9 (keyring, key, database, rules, service, clock, 3 QR)"
    for line in failed:
        module = next((m for m in ("zxingcpp", "pyzbar.pyzbar", "cv2") if m in line), None)
        importable = module is not None and (
            subprocess.run(
                [str(VENV / "bin" / "python"), "-c", f"import {module}"],
                capture_output=True,
                timeout=TIMEOUT_S,
                check=False,
            ).returncode
            == 0
        )
        if module is None or importable:
            return f"failed: {line}"
    if result.returncode != (1 if failed else 0):
        return f"exit {result.returncode} with {len(failed)} failed checks"
    return None


def _run(world: World, example: Example) -> str | None:
    """Run one example; what went wrong (None: nothing)."""
    how = plan(example)
    command = world.substitute(example.command)
    if how == "serve":
        if example.command != world.service_command:  # another serve line: a service of its own
            other = World(world.tmp, world.cwd, world.env, world.db, world.sms_log)
            try:
                other.start_service(example.command)
            finally:
                other.stop_service()
        elif world.service is None or world.service.poll() is not None:
            return "the service is not running"
        else:
            world.wait_healthy()
        return None
    try:
        if how == "sell-sms":
            result = _run_sell_with_sms(world, example, command)
        else:
            result = world.run(command)
    except subprocess.TimeoutExpired:
        return f"still running after {TIMEOUT_S:.0f} s"
    problem = _check(world, example, result)
    if problem is None:
        return None
    return f"{problem}\n  ran: {command}\n  stdout: {result.stdout[-1500:]}\n  stderr: {result.stderr[-1500:]}"


# --- the tests -------------------------------------------------------------------------------
def test_the_readme_is_parsed_as_a_shell_reads_it() -> None:
    text = (
        "```sh\n"
        ".venv/bin/processing report stores --since 2026-11-01   # a comment # and more\n"
        '.venv/bin/cashier sell --customer "+7 900 #1" --line a:1 \\\n'
        "      --pay sbp --sms-code   # continued\n"
        "python3 tools/dev.py test\n"
        "LOYALTY_LANG=en .venv/bin/processing --lang en migrate | head -1\n"
        "```\n"
        ".venv/bin/cashier status\n"
        "```python\n"
        ".venv/bin/cashier status\n"
        "```\n"
        "```sh\n"
        ".venv/bin/cashier\n"
        ".venv/bin/cashier sync\n"
        ".venv/bin/cashier sync --once\n"
        "echo .venv/bin/processing demo\n"
        'X=$(.venv/bin/processing enroll --store s) && echo "$X\n'
        "```\n"
    )
    examples = readme_examples(text)
    assert [(ex.line, ex.command, ex.comment) for ex in examples] == [
        (2, ".venv/bin/processing report stores --since 2026-11-01", "a comment # and more"),
        (
            3,
            '.venv/bin/cashier sell --customer "+7 900 #1" --line a:1 --pay sbp --sms-code',
            "continued",
        ),
        (6, "LOYALTY_LANG=en .venv/bin/processing --lang en migrate | head -1", ""),
        (13, ".venv/bin/cashier", ""),
        (14, ".venv/bin/cashier sync", ""),
        (15, ".venv/bin/cashier sync --once", ""),
        (16, "echo .venv/bin/processing demo", ""),
        (17, 'X=$(.venv/bin/processing enroll --store s) && echo "$X', ""),
    ]
    assert [plan(ex) for ex in examples] == [
        "plain",
        "sell-sms",
        "plain",
        None,
        None,
        "plain",
        None,
        None,
    ]
    assert examples[2].args == ["--lang", "en", "migrate"] and examples[2].subcommand == "migrate"
    assert len(unaccounted(examples)) == 4 + len(SUBSTITUTIONS)  # four unrunnable, none replaced


def test_every_example_is_run_or_listed() -> None:
    examples = readme_examples(README.read_text(encoding="utf-8"))
    assert {ex.tool for ex in examples} == {"processing", "cashier"}
    assert not unaccounted(examples), "\n".join(unaccounted(examples))


@POSIX_ONLY
def test_every_example_runs(world: World) -> None:
    examples = [
        ex
        for ex in readme_examples(README.read_text(encoding="utf-8"))
        if ex.command not in NOT_RUN
    ]
    problems = []
    for example in examples:
        problem = _run(world, example)
        if problem is not None:
            problems.append(f"{example}\n  {problem}")
    assert not problems, "\n".join(problems)
    assert world.service is not None and world.service.poll() is None, world.serve_log()


@POSIX_ONLY
def test_options_named_in_the_comments_exist(sandbox: World) -> None:
    """An option a comment names (``# --json for scripts``) is in that command's ``--help``."""
    named = []
    for example in readme_examples(README.read_text(encoding="utf-8")):
        options = _OPTION.findall(example.comment)
        if options and plan(example) is not None:
            words = example.words
            head = words[: next((n for n, w in enumerate(words) if w.startswith("-")), len(words))]
            named.append((example, options, shlex.join([*head, "--help"])))
    assert named  # the README explains options in its comments
    helps = [
        (
            ex,
            options,
            command,
            sandbox.popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        )
        for ex, options, command in named
    ]
    problems = []
    for example, options, command, proc in helps:
        out, err = proc.communicate(timeout=TIMEOUT_S)
        missing = [o for o in options if not re.search(rf"{re.escape(o)}(?![\w-])", out)]
        if proc.returncode != 0 or missing:
            problems.append(
                f"{example}: `{command}` exit {proc.returncode}, lacks {missing}: {err}"
            )
    assert not problems, "\n".join(problems)


@POSIX_ONLY
@pytest.mark.parametrize("args", [["report", "stores"], ["report", "cross-chain", "--json"]])
def test_a_closed_pipe_ends_processing_quietly(sandbox: World, args: list[str]) -> None:
    """``processing report stores | head -3``: the reader closes the pipe before the report is
    written (here at once, so the write surely fails): no traceback, exit 141 (as by SIGPIPE)."""
    proc = sandbox.popen(
        shlex.join([".venv/bin/processing", *args]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(TIMEOUT_S) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err == ""
