#!/usr/bin/env python3
"""Set up, run the demo of, and test the loyalty till. Standard library only.

    python3 tools/dev.py setup           # system packages (Debian/Ubuntu), .venv, pip install
    python3 tools/dev.py demo [ARGS...]  # setup, then the service with demo data, an enrolled
                                         # demo till and its window (tools/demo.py; --help)
    python3 tools/dev.py test [ARGS...]  # setup, then ruff (lint and format), mypy, lint-imports, pytest ARGS...
    python3 tools/dev.py lock            # setup, then requirements/{till,server}.txt: exact versions, hashes
    python3 tools/dev.py audit           # setup, then pip-audit of both lock files (known vulnerabilities)

On Windows: `py tools\\dev.py demo` / `py tools\\dev.py test`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIN_PYTHON = (3, 11)
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".loyalty-stamp"
WINDOWS = os.name == "nt"

RUNTIME_PACKAGES = [
    "libzbar0",
    # Qt 6's xcb platform plugin and what it loads at run time.
    "libegl1",
    "libgl1",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-xinerama0",
    "libxcb-xkb1",
    "libxcb-xfixes0",
    "libdbus-1-3",
    "libfontconfig1",
    "libglib2.0-0",
    "fonts-dejavu-core",
]
TEST_PACKAGES = [*RUNTIME_PACKAGES, "postgresql", "xvfb"]


def say(message: str) -> None:
    """Print one progress line, prefixed so it stands out from the tools' own output."""
    print(f"[dev] {message}", flush=True)


class SetupError(Exception):
    """A setup step failed; the message says what to do and the script exits 2."""


# --- system packages ---------------------------------------------------------------


def has_apt() -> bool:
    """True on a Linux with dpkg and apt (Debian, Ubuntu and their kin)."""
    return sys.platform.startswith("linux") and all(
        shutil.which(tool) for tool in ("dpkg-query", "apt-get")
    )


def is_installed(package: str) -> bool:
    """Ask dpkg whether `package` (or its Ubuntu 24.04 `t64` rename) is installed."""
    for name in (package, package + "t64"):
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0 and result.stdout.split()[-1:] == ["installed"]:
            return True
    return False


def ensure_system_packages(packages: list[str]) -> None:
    """Install the missing `packages` with apt as root, or say the command and stop."""
    if not has_apt():
        say("no apt here: skipping system packages (install the Qt 6 xcb libraries yourself)")
        return
    wanted = list(packages)
    if (
        not venv_python().exists()
        and sys.base_prefix == "/usr"
        and importlib.util.find_spec("ensurepip") is None
    ):
        # Debian's own python3 has no `venv` without this package.
        wanted.append(f"python{sys.version_info.major}.{sys.version_info.minor}-venv")
    missing = [name for name in wanted if not is_installed(name)]
    if not missing:
        say(f"system packages: all {len(wanted)} present")
        return
    if os.geteuid() != 0:
        command = "sudo apt-get install --no-install-recommends " + " ".join(missing)
        raise SetupError(f"missing system packages; run this, then try again:\n    {command}")
    say(f"installing {len(missing)} system packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    started = time.monotonic()
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
    ):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            raise SetupError(f"`{' '.join(command)}` failed")
    say(f"system packages installed in {time.monotonic() - started:.0f} s")


# --- the virtual environment -------------------------------------------------------


def venv_bin() -> Path:
    """The venv's folder of executables: bin/ on POSIX, Scripts\\ on Windows."""
    return VENV / ("Scripts" if WINDOWS else "bin")


def venv_exe(name: str) -> Path:
    """The path of executable `name` inside the venv."""
    return venv_bin() / (f"{name}.exe" if WINDOWS else name)


def venv_python() -> Path:
    """The venv's Python interpreter."""
    return venv_exe("python")


def pyproject_hash() -> str:
    """The sha256 of pyproject.toml's bytes: the stamp that says the install is current."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> None:
    """Create .venv with the running interpreter, and pip install -e ".[dev]" into it."""
    if not venv_python().exists():
        say(f"creating {VENV.name} with {sys.executable}")
        if subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=False).returncode:
            raise SetupError("could not create the venv (on Debian: apt-get install python3-venv)")
    digest = pyproject_hash()
    if STAMP.exists() and STAMP.read_text(encoding="ascii").strip() == digest:
        say(f"{VENV.name} is up to date with pyproject.toml")
        return
    python = str(venv_python())
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    say("upgrading pip")
    if subprocess.run(
        [python, "-m", "pip", "install", "-q", "--upgrade", "pip"], cwd=ROOT, env=env, check=False
    ).returncode:
        raise SetupError("upgrading pip failed")
    say('installing the project: pip install -e ".[dev]" (a minute or two the first time)')
    started = time.monotonic()
    if subprocess.run(
        [python, "-m", "pip", "install", "-q", "-e", ".[dev]"], cwd=ROOT, env=env, check=False
    ).returncode:
        raise SetupError('pip install -e ".[dev]" failed')
    STAMP.write_text(digest + "\n", encoding="ascii")
    say(f"installed in {time.monotonic() - started:.0f} s")


def setup(packages: list[str]) -> None:
    """Everything the project needs before it runs: system packages, then the venv."""
    ensure_system_packages(packages)
    ensure_venv()


# --- running things ----------------------------------------------------------------


def exit_code(returncode: int) -> int:
    """Map a child's return code to ours: killed by signal N becomes 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def run_child(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run `command` from the repo root with its output live; Ctrl+C waits for it to stop."""
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        return exit_code(proc.wait())
    except KeyboardInterrupt:
        # The child got the same Ctrl+C: give it time to shut down cleanly.
        try:
            code = proc.wait(timeout=15)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            proc.kill()
            code = proc.wait()
        return 0 if code == 0 else 130


def tool(name: str, module: str | None) -> list[str]:
    """The command for a venv tool: its executable, else `python -m module`."""
    exe = venv_exe(name)
    if exe.exists() or module is None:
        return [str(exe)]
    return [str(venv_python()), "-m", module]


def cmd_demo(args: list[str]) -> int:
    """Set up (runtime packages), then run the demo launcher (tools/demo.py): the service with
    demo data, an enrolled demo till, and its window until it closes."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import demo  # tools/demo.py, next to this file (it imports this module as `dev`)

    if "-h" in args or "--help" in args:  # help first: no set-up, nothing installed or started
        demo.build_parser().print_help()
        return 0
    setup(RUNTIME_PACKAGES)
    return demo.main(args)


def cmd_test(args: list[str]) -> int:
    """Set up (test packages), run the five checks, print a summary; 1 if any failed."""
    setup(TEST_PACKAGES)
    pytest_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    report = Path(tempfile.mkdtemp(prefix="loyalty-test-")) / "junit.xml"
    steps: list[tuple[str, list[str], dict[str, str] | None]] = [
        ("ruff", [*tool("ruff", "ruff"), "check", "."], None),
        ("ruff format", [*tool("ruff", "ruff"), "format", "--check", "."], None),
        ("mypy", tool("mypy", "mypy"), None),
        ("lint-imports", tool("lint-imports", None), None),
        ("pytest", [*tool("pytest", "pytest"), f"--junitxml={report}", *args], pytest_env),
    ]
    results: list[tuple[str, str, float]] = []
    for name, command, env in steps:
        say(f"--- {name}: {' '.join(command)}")
        started = time.monotonic()
        try:
            code = run_child(command, env)
        except FileNotFoundError:
            say(f"{command[0]} not found")
            code = 127
        seconds = time.monotonic() - started
        if code == 130:
            raise KeyboardInterrupt
        if code == 0:
            verdict = "ok"
        elif name == "pytest" and code == 5:
            verdict = "FAILED (no tests collected)"
        else:
            verdict = f"FAILED (exit {code})"
        results.append((name, verdict, seconds))
    print_summary(results)
    print_test_counts(report)
    return 0 if all(verdict == "ok" for _, verdict, _ in results) else 1


def print_summary(results: list[tuple[str, str, float]]) -> None:
    """Print a table: step, ok or FAILED, seconds."""
    width = max(len(verdict) for _, verdict, _ in results)
    print(flush=True)
    say("summary")
    print(f"  {'step':<13} {'result':<{width}} {'seconds':>8}")
    for name, verdict, seconds in results:
        print(f"  {name:<13} {verdict:<{width}} {seconds:>8.1f}")
    failed = sum(verdict != "ok" for _, verdict, _ in results)
    print(f"  {'all ok' if not failed else f'{failed} of {len(results)} failed'}", flush=True)


def print_test_counts(report: Path) -> None:
    """End with pytest's own counts as a plain line (read from its JUnit report), so the last
    line of the run says how many tests passed and failed."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        print("pytest: 0 passed, 1 failed (no test report was written)", flush=True)
        return
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    print(
        f"pytest: {total - failed - skipped} passed, {failed} failed, {skipped} skipped", flush=True
    )


def cmd_setup(args: list[str]) -> int:
    """Set up for running (runtime packages only); `test` adds the test packages itself."""
    if args:
        say(f"setup takes no arguments, got: {' '.join(args)}")
        return 2
    setup(RUNTIME_PACKAGES)
    say("setup done")
    return 0


LOCKS = {"till": "requirements/till.txt", "server": "requirements/server.txt"}
"""Each role's lock file: every package an install of that role needs (Linux and Windows), with
the hashes of its files.  ``pip install --require-hashes -r requirements/server.txt`` then
``pip install --no-deps .[server]`` installs exactly these."""


def cmd_lock(args: list[str]) -> int:
    """Write the lock files from pyproject.toml with the newest versions (uv pip compile)."""
    if args:
        say(f"lock takes no arguments, got: {' '.join(args)}")
        return 2
    setup(RUNTIME_PACKAGES)
    uv = venv_python().with_name("uv.exe" if WINDOWS else "uv")
    for role, target in LOCKS.items():
        (ROOT / target).parent.mkdir(exist_ok=True)
        command = [
            str(uv), "pip", "compile", "pyproject.toml", "--extra", role, "--generate-hashes",
            "--universal", "--python-version", f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}",
            "--no-header", "--quiet", "-o", target,
        ]  # fmt: skip
        if subprocess.run(command, cwd=ROOT, check=False).returncode:
            raise SetupError(f"uv pip compile for {role} failed")
        body = (ROOT / target).read_text(encoding="utf-8")
        (ROOT / target).write_text(
            f"# The {role}'s exact dependencies with their hashes: python3 tools/dev.py lock\n"
            f"# writes this file from pyproject.toml (do not edit); tools/dev.py audit checks it.\n"
            f"# pyproject dependencies: sha256 {dependencies_hash()}\n" + body,
            encoding="utf-8",
        )
        pins = sum(1 for line in body.splitlines() if "==" in line and not line.startswith("#"))
        say(f"{target}: {pins} packages")
    return 0


def dependencies_hash() -> str:
    """The sha256 of pyproject.toml's dependency lists (base and the role extras; not ``dev``,
    which is not locked): a lock file records it, and tests/test_locks.py fails when
    pyproject.toml changed them after the last lock."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    lists = {"": project["dependencies"], **{k: v for k, v in extras.items() if k != "dev"}}
    text = "\n".join(f"{name}: {sorted(deps)}" for name, deps in sorted(lists.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def cmd_audit(args: list[str]) -> int:
    """pip-audit each lock file against the vulnerability data PyPI publishes (``--strict``: a
    package whose data cannot be read fails the audit rather than passing unseen)."""
    setup(RUNTIME_PACKAGES)
    audit = venv_python().with_name("pip-audit.exe" if WINDOWS else "pip-audit")
    worst = 0
    for role, target in LOCKS.items():
        say(f"auditing the {role} ({target})")
        command = [str(audit), "--strict", "--disable-pip", "--require-hashes", "-r", target, *args]
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        worst = max(worst, code)
    if worst:
        say(
            "the audit found vulnerabilities, or could not read the vulnerability data of every "
            "package (it needs https://pypi.org/pypi/<name>/<version>/json, or add "
            "--vulnerability-service osv for api.osv.dev): see above"
        )
    else:
        say("no known vulnerabilities in either lock file")
    return worst


COMMANDS = {
    "setup": cmd_setup,
    "demo": cmd_demo,
    "test": cmd_test,
    "lock": cmd_lock,
    "audit": cmd_audit,
}


def build_parser() -> argparse.ArgumentParser:
    """The command line: sub-commands only; their arguments pass through untouched."""
    parser = argparse.ArgumentParser(
        prog="dev.py",
        description="Set up, run the demo of, and test the loyalty till.",
        epilog="Arguments after `demo` go to tools/demo.py (and the rest of them to "
        "`processing demo`); after `test`, to pytest.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "setup",
        help="install system packages (as root, on Debian/Ubuntu), "
        "create .venv, pip install -e '.[dev]'",
    )
    sub.add_parser(
        "demo",
        add_help=False,
        help="setup, then start the demo service, enrol a demo till and open its window "
        "(demo --help: the options)",
    )
    sub.add_parser(
        "test",
        add_help=False,
        help="setup, then ruff (lint and format), mypy, lint-imports and pytest ARGS...",
    )
    sub.add_parser(
        "lock", help="write requirements/till.txt and server.txt: exact versions with hashes"
    )
    sub.add_parser(
        "audit",
        add_help=False,
        help="pip-audit both lock files for known vulnerabilities (ARGS go to pip-audit)",
    )
    return parser


def main(argv: list[str]) -> int:
    """Check the Python version, parse the command line and run the sub-command."""
    if sys.version_info < MIN_PYTHON:
        print(
            f"[dev] tools/dev.py needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
            f"this is {sys.version.split()[0]} ({sys.executable})",
            file=sys.stderr,
        )
        return 2
    parser = build_parser()
    namespace, rest = parser.parse_known_args(argv)
    try:
        return COMMANDS[namespace.command](rest)
    except SetupError as error:
        say(f"setup failed: {error}")
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
