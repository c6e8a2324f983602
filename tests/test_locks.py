"""The lock files: each role's exact dependencies with hashes, current with pyproject.toml, and
one install per role (a till never pulls in the web service, a server never Qt or OpenCV)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import dev  # noqa: E402 - tools/dev.py, standard library only

SERVER_ONLY = {"fastapi", "uvicorn", "psycopg", "psycopg-binary", "starlette", "fastapi-offline"}
TILL_ONLY = {"pyside6-essentials", "shiboken6", "opencv-python-headless", "numpy", "zxing-cpp"}
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(role: str) -> dict[str, list[tuple[str, str | None, int]]]:
    """name → [(version, marker, number of hashes)] of a lock file."""
    pins: dict[str, list[tuple[str, str | None, int]]] = {}
    current: list[tuple[str, str | None, int]] | None = None
    for line in (ROOT / dev.LOCKS[role]).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            entry = (match[2], match[3], 0)
            current = pins.setdefault(canonicalize_name(match[1]), [])
            current.append(entry)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, marker, hashes = current[-1]
            current[-1] = (version, marker, hashes + 1)
    return pins


def _wanted(role: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"][role]
    ]


@pytest.mark.parametrize("role", ["till", "server"])
def test_each_lock_pins_every_dependency_of_its_role_with_hashes(role: str) -> None:
    pins = _pins(role)
    assert pins, dev.LOCKS[role]
    for name, entries in pins.items():
        for version, _marker, hashes in entries:
            assert hashes >= 1, f"{name}=={version} has no hash"
    for platform in ("linux", "win32"):  # the till is bundled for both; the server runs on Linux
        where = {
            "sys_platform": platform,
            "platform_system": "Windows" if platform == "win32" else "Linux",
            "os_name": "nt" if platform == "win32" else "posix",
            "python_full_version": "3.11.7",
            "python_version": "3.11",
        }
        for requirement in _wanted(role):
            entries = pins.get(canonicalize_name(requirement.name))
            assert entries, f"{requirement.name} is not in {dev.LOCKS[role]}"
            usable = [
                version
                for version, marker, _ in entries
                if marker is None or Marker(marker).evaluate(where)
            ]
            assert any(requirement.specifier.contains(v, prereleases=True) for v in usable), (
                f"{dev.LOCKS[role]} pins {requirement.name} at {usable} on {platform}, "
                f"outside {requirement.specifier}"
            )


def test_the_locks_are_current_with_pyproject() -> None:
    for role, target in dev.LOCKS.items():
        header = (ROOT / target).read_text(encoding="utf-8").splitlines()[:3]
        assert f"# pyproject dependencies: sha256 {dev.dependencies_hash()}" in header, (
            f"pyproject.toml's dependencies changed after {target} was written: "
            "run python3 tools/dev.py lock"
        )
        assert role in header[0]


def test_one_install_per_role() -> None:
    till, server = set(_pins("till")), set(_pins("server"))
    assert not till & SERVER_ONLY, till & SERVER_ONLY
    assert not server & TILL_ONLY, server & TILL_ONLY


@pytest.mark.parametrize(
    ("modules", "foreign"),
    [
        (
            ["processing.app", "processing.cli", "processing.serving", "processing.asgi"],
            ["PySide6", "shiboken6", "cv2", "numpy", "zxingcpp", "pyzbar", "keyring", "ui"],
        ),
        (
            ["ui.app", "sync.cli", "sync.runtime", "cashier.till", "ui.window", "ui.kiosk"],
            ["fastapi", "starlette", "uvicorn", "psycopg", "fastapi_offline", "processing"],
        ),
    ],
)
def test_a_role_never_imports_the_other_roles_packages(
    modules: list[str], foreign: list[str]
) -> None:
    """What each side imports, in a fresh interpreter (so nothing earlier in the run counts)."""
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted({{k.split('.')[0] for k in sys.modules}} & set({foreign!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PROCESSING_DB": "sqlite:///:memory:", "HOME": "/tmp"},
    )
    assert out.stdout.strip() == "[]", out.stdout
