"""The demo launcher (``tools/demo.py``, what ``tools/dev.py demo`` runs after its setup), run as a
real process: it starts ``processing demo``, enrols the demo till, and stops the service on Ctrl+C.

The launcher runs with ``--no-window`` (the window is the ``ui`` tests' business), on a free port,
with its database, its till folder, ``$HOME`` and ``$XDG_DATA_HOME`` all in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select

from processing.db import make_engine
from processing.demo_data import verify_pin
from processing.models import Cashier, CatalogueItem
from tests.processing.conftest import _free_port

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "tools" / "demo.py"
GOLD = re.compile(r"^\s+Gold, verified, with card (?P<card>\d+): (?P<phone>\+\d+)\s*$")
SERVICE_PID = re.compile(r"^\[demo\] the service answers on \S+ \(process (?P<pid>\d+)\)")


class Output:
    """The launcher's output, read by a thread as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, needle: str, proc: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert proc.poll() is None, f"the launcher exited {proc.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {needle!r} in {timeout} s:\n{self.text()}"
            time.sleep(0.1)

    def match(self, pattern: re.Pattern[str]) -> re.Match[str]:
        for line in self.text().splitlines():
            if found := pattern.match(line):
                return found
        raise AssertionError(f"no line matches {pattern.pattern}:\n{self.text()}")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def gone(pid: int) -> bool:
    """Whether process `pid` has exited (POSIX; on Windows os.kill would end it: the port says)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def cashier(data: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "sync.cli", "--data", str(data), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env={**env, "LOYALTY_KEYRING": "file"},
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_launcher_enrols_the_demo_till_and_stops_the_service_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    till = tmp_path / "till"
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "LOCALAPPDATA": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "LOYALTY_LANG": "en",
    }
    env.pop("LOYALTY_TILL_DATA", None)
    env.pop("PROCESSING_DB", None)
    windows = os.name == "nt"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(LAUNCHER),
            "--no-window",
            "--port",
            str(port),
            "--till-data",
            str(till),
            "--db",
            db,
            "--customers",
            "200",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if windows else 0,
    )
    output = Output(proc)
    try:
        output.wait_for("the service runs until Ctrl+C", proc, timeout=60)
        text = output.text()
        assert "[demo] demo till enrolled" in text
        assert re.search(
            r"^\[demo\] Demo till: log in with a PIN of store iport-msk-1: "
            r".+ 1111 \(senior\), .+ 2222 \(cashier\)$",
            text,
            re.MULTILINE,
        ), text
        gold = output.match(GOLD)["phone"]
        service_pid = int(output.match(SERVICE_PID)["pid"])
        assert (till / "demo-server.txt").exists() and (till / "token").exists()

        status = json.loads(cashier(till, env, "status", "--json").stdout)
        assert status["server"] == f"http://127.0.0.1:{port}"
        assert status["online"] is True

        engine = make_engine(db)
        try:
            with engine.connect() as conn:
                sku = conn.scalar(
                    select(CatalogueItem.sku)
                    .where(CatalogueItem.category == "cables", CatalogueItem.weighed.is_(False))
                    .order_by(CatalogueItem.sku)
                )
                demo_store = select(Cashier.id, Cashier.pin_hash).where(
                    Cashier.store_id == "iport-msk-1"
                )
                hashes = {cashier_id: pin_hash for cashier_id, pin_hash in conn.execute(demo_store)}
        finally:
            engine.dispose()
        assert sku
        assert verify_pin("1111", hashes["k_iport-msk-1_1"])  # the documented demo PINs
        assert verify_pin("2222", hashes["k_iport-msk-1_2"])
        sold = cashier(till, env, "sell", "--customer", gold, "--line", sku, "--pay", "card")
        assert sold.stdout.strip().endswith("online"), sold.stdout
        assert sku in sold.stdout
    finally:
        if proc.poll() is None:
            proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT") if windows else signal.SIGINT)  # noqa: B009
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the launcher did not stop in 20 s:\n{output.text()}") from None
    assert code == 0, output.text()
    assert "[demo] the service stopped" in output.text()
    assert "(exit" not in output.text().split("stopping the service")[-1]
    deadline = time.monotonic() + 5
    while not (gone(service_pid) and port_is_free(port)):
        if time.monotonic() > deadline:
            if not gone(service_pid):
                os.kill(service_pid, signal.SIGKILL)  # leave no service behind
            raise AssertionError(f"the service or its port outlived the launcher:\n{output.text()}")
        time.sleep(0.1)
