#!/usr/bin/env python3
"""Install the service with install.py on this machine, start it the way its systemd unit says,
serve a purchase through it, stop it and uninstall.  Root, standard library only.

    sudo python3 packaging/server/smoke.py

The unit is checked with ``systemd-analyze verify``; then its ``[Service]`` section is carried
out as systemd would: the ``EnvironmentFile``, ``${VAR}`` expansion, ``ExecStartPre`` and
``ExecStart`` as ``User=``, with a clean environment.  (On a machine where systemd runs, the
same unit is started with ``systemctl`` instead.)  The settings file is a trial one: SQLite under
/var/lib/loyalty, the ``log:`` SMS gateway, a free port; a machine that already has
/etc/loyalty/processing.env is refused, so a real configuration is never touched.
It prints the install's size and how long each step took.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import install  # noqa: E402 - beside this script

PREFIX = Path("/opt/loyalty")
TRIAL_DB = install.STATE / "smoke-processing.db"


def say(text: str) -> None:
    print(f"[smoke] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_section(unit: Path) -> dict[str, list[str]]:
    section: dict[str, list[str]] = {}
    current = ""
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line
        elif current == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            section.setdefault(key, []).append(value)
    return section


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value
    return env


def expand(command: str, env: dict[str, str]) -> list[str]:
    """systemd's ``${VAR}`` (one word) expansion of a command line."""
    return [re.sub(r"\$\{(\w+)\}", lambda m: env.get(m[1], ""), w) for w in shlex.split(command)]


def as_user(user: str, env: dict[str, str], command: list[str], **kw: object) -> subprocess.Popen:
    clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(install.STATE), "LANG": "C.UTF-8"}
    setting = [f"{k}={v}" for k, v in {**clean, **env}.items()]
    return subprocess.Popen(["runuser", "-u", user, "--", "env", "-i", *setting, *command], **kw)  # type: ignore[call-overload]


def call(user: str, env: dict[str, str], command: list[str]) -> str:
    proc = as_user(user, env, command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    if proc.returncode:
        raise SystemExit(f"[smoke] {' '.join(command)} failed ({proc.returncode}): {err.strip()}")
    return out


def http(method: str, url: str, body: object = None, token: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Idempotency-Key", str(uuid.uuid4()))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.loads(answer.read() or b"{}"))


def main() -> int:
    if os.geteuid() != 0:
        print("[smoke] run it as root (sudo)", file=sys.stderr)
        return 2
    if install.ENV_FILE.exists():
        print(f"[smoke] {install.ENV_FILE} exists: this machine has a real configuration; "
              "run the smoke test on a test machine", file=sys.stderr)  # fmt: skip
        return 2
    figures: dict[str, float] = {}
    started = time.monotonic()
    if install.main([]) != 0:
        return 1
    figures["install_s"] = time.monotonic() - started
    port = free_port()
    trial = install.ENV_FILE.read_text(encoding="utf-8")
    trial = re.sub(r"(?m)^PROCESSING_DB=.*$", f"PROCESSING_DB=sqlite:///{TRIAL_DB}", trial)
    trial = re.sub(r"(?m)^PROCESSING_SMS=.*$", f"PROCESSING_SMS=log:{install.STATE}/sms.log", trial)
    trial = re.sub(r"(?m)^PROCESSING_PORT=.*$", f"PROCESSING_PORT={port}", trial)
    install.ENV_FILE.write_text(trial, encoding="utf-8")
    server = None
    try:
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(install.UNIT)], capture_output=True, text=True
        )
        problems = [
            line for line in (verify.stdout + verify.stderr).splitlines()
            if "loyalty-processing" in line
        ]  # fmt: skip
        if verify.returncode or problems:
            raise SystemExit("[smoke] systemd-analyze verify: " + "\n".join(problems))
        say("systemd-analyze verify: the unit is valid")
        unit = service_section(install.UNIT)
        user = unit["User"][0]
        env = read_env(Path(unit["EnvironmentFile"][0]))
        for pre in unit.get("ExecStartPre", []):
            say("ExecStartPre: " + call(user, env, expand(pre, env)).strip())
        started = time.monotonic()
        server = as_user(user, env, expand(unit["ExecStart"][0], env))
        base = f"http://127.0.0.1:{port}/api/v1"
        while True:
            try:
                health = http("GET", f"{base}/health")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - started > 60:
                    raise SystemExit("[smoke] the service did not start") from None
                time.sleep(0.2)
        figures["start_s"] = time.monotonic() - started
        say(f"serving on {base}: health {health.get('status')}")
        cli = [str(PREFIX / "bin" / "processing")]
        call(user, env, [*cli, "program", "set", "nbclub"])
        call(
            user,
            env,
            [*cli, "store", "add", "--id", "smoke-1", "--chain", "smoke", "--name", "Smoke"],
        )
        code = call(user, env, [*cli, "enroll", "--store", "smoke-1"]).split()[0]
        token = http("POST", f"{base}/devices/enroll", {"code": code, "name": "smoke till"})[
            "token"
        ]
        pid = f"p_{uuid.uuid4().hex}"
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = {"line_id": "L1", "line_no": 1, "sku": "4601234567890", "category": "smartphones",
                "qty": "1.000", "unit_price": "1299.90"}  # fmt: skip
        held = http("POST", f"{base}/purchases",
                    {"purchase_id": pid, "lines": [line], "redeem_points": "0", "occurred_at": at},
                    token)  # fmt: skip
        done = http("POST", f"{base}/purchases/{pid}/confirm",
                    {"payments": [{"type": "card", "amount": held["to_pay"]}], "occurred_at": at},
                    token)  # fmt: skip
        if done.get("state") != "confirmed":
            raise SystemExit(f"[smoke] the purchase was not confirmed: {done}")
        say(f"a purchase of {held['to_pay']} ₽ served and confirmed through the installed service")
        size = subprocess.run(
            ["du", "-sm", str(PREFIX)], capture_output=True, text=True, check=True
        )
        figures["install_mb"] = float(size.stdout.split()[0])
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        install.ENV_FILE.unlink(missing_ok=True)
        for leftover in install.STATE.glob("smoke-processing.db*"):
            leftover.unlink()
        (install.STATE / "sms.log").unlink(missing_ok=True)
        (install.STATE / "wallet.key").unlink(missing_ok=True)
        install.uninstall(PREFIX)
    say(
        f"install {figures['install_s']:.0f} s, {figures['install_mb']:.0f} MB in {PREFIX}; "
        f"first start to /health {figures['start_s']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
