#!/usr/bin/env python3
"""Install the processing service on a Debian/Ubuntu server, as root. Standard library only.

    sudo python3 packaging/server/install.py              # /opt/loyalty, the unit, the settings
    sudo python3 packaging/server/install.py --uninstall  # remove what it installed (not the data)

What it does, each step skipped when already done:

1. a system user ``loyalty`` (no login shell, home /var/lib/loyalty, that folder 0700);
2. a venv in ``--prefix`` (default /opt/loyalty) with exactly the locked server dependencies
   (``pip install --require-hashes -r requirements/server.txt``), then the project itself
   (``--no-deps``): no Qt, no OpenCV;
3. ``/etc/loyalty/processing.env`` from packaging/server/processing.env, readable by root and the
   service only — never overwritten: edit it (the database, the SMS gateway) before starting;
4. ``/etc/systemd/system/loyalty-processing.service`` (runs ``processing migrate`` before each
   start, restarts on failure), and the docs and the nginx example under PREFIX/share/doc.

Then: edit /etc/loyalty/processing.env, ``systemctl daemon-reload``,
``systemctl enable --now loyalty-processing``, and put a TLS proxy in front (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
USER = "loyalty"
STATE = Path("/var/lib/loyalty")
ETC = Path("/etc/loyalty")
ENV_FILE = ETC / "processing.env"
UNIT = Path("/etc/systemd/system/loyalty-processing.service")


def say(text: str) -> None:
    print(f"[install] {text}", flush=True)


def run(command: list[str]) -> None:
    if subprocess.run(command, check=False).returncode:
        raise SystemExit(f"[install] failed: {' '.join(command)}")


def ensure_user() -> None:
    try:
        pwd.getpwnam(USER)
        say(f"user {USER} exists")
    except KeyError:
        home = ["--home-dir", str(STATE), "--no-create-home", "--shell", "/usr/sbin/nologin"]
        run(["useradd", "--system", *home, USER])
        say(f"user {USER} created")
    STATE.mkdir(parents=True, exist_ok=True)
    shutil.chown(STATE, USER, USER)
    STATE.chmod(0o700)


def base_python() -> str:
    """The interpreter the venv is made from: the system's ``/usr/bin/python3`` when it is 3.11 or
    newer (one in root's home, e.g. pyenv's, is not readable by the service's user), else this one.
    """
    system = Path("/usr/bin/python3")
    if system.exists():
        probe = subprocess.run(
            [str(system), "-c", "import sys, venv; print(sys.version_info >= (3, 11))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return str(system)
    if sys.executable.startswith(("/root/", "/home/")):
        raise SystemExit(
            f"[install] {sys.executable} is in a home folder the service's user cannot read: "
            "install Python 3.11 or newer system-wide (apt-get install python3 python3-venv)"
        )
    return sys.executable


def ensure_venv(prefix: Path) -> None:
    python = prefix / "bin" / "python"
    if not python.exists():
        base = base_python()
        say(f"creating the venv {prefix} with {base}")
        run([base, "-m", "venv", str(prefix)])
    say("installing the locked server dependencies (requirements/server.txt, hashes checked)")
    run([str(python), "-m", "pip", "install", "-q", "--require-hashes", "-r",
         str(ROOT / "requirements" / "server.txt")])  # fmt: skip
    say("installing the project (no further dependencies)")
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)])
    doc = prefix / "share" / "doc"
    doc.mkdir(parents=True, exist_ok=True)
    for source in (ROOT / "docs" / "deploy.md", ROOT / "docs" / "protocol.md", HERE / "nginx.conf"):
        shutil.copy2(source, doc / source.name)


def ensure_settings(prefix: Path) -> None:
    ETC.mkdir(parents=True, exist_ok=True)
    if ENV_FILE.exists():
        say(f"{ENV_FILE} kept as it is")
    else:
        shutil.copy2(HERE / "processing.env", ENV_FILE)
        say(f"{ENV_FILE} written: set the database and the SMS gateway in it")
    os.chown(ENV_FILE, 0, grp.getgrnam(USER).gr_gid)
    ENV_FILE.chmod(0o640)
    unit = (HERE / "loyalty-processing.service").read_text(encoding="utf-8")
    UNIT.write_text(unit.replace("/opt/loyalty", str(prefix)), encoding="utf-8")
    UNIT.chmod(0o644)
    say(f"{UNIT} written")


def uninstall(prefix: Path) -> None:
    if UNIT.exists():
        UNIT.unlink()
        say(f"{UNIT} removed")
    if prefix.exists():
        shutil.rmtree(prefix)
        say(f"{prefix} removed")
    say(f"kept: {ENV_FILE}, {STATE} (the data and the wallet key) and the user {USER}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prefix", type=Path, default=Path("/opt/loyalty"))
    parser.add_argument("--uninstall", action="store_true")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "[install] run it as root (sudo): it creates a user and writes to /etc", file=sys.stderr
        )
        return 2
    if args.uninstall:
        uninstall(args.prefix)
        return 0
    os.umask(0o022)  # the program readable by the service's user whatever root's umask is
    ensure_user()
    ensure_venv(args.prefix)
    ensure_settings(args.prefix)
    running = Path("/run/systemd/system").is_dir()
    say("done. Next: edit /etc/loyalty/processing.env, then")
    say("  systemctl daemon-reload && systemctl enable --now loyalty-processing")
    if not running:
        say("(systemd is not running on this machine: start it where it runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
