"""``tools/dev.py``, the two commands of the README's quick start, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_help_comes_before_any_setup() -> None:
    # `dev.py demo --help` answers at once: no system packages, no venv, no service.
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "dev.py"), "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dev.py demo"), result.stdout
    assert "--no-window" in result.stdout
    assert "[dev]" not in result.stdout + result.stderr  # no set-up step was announced


def test_demo_hints_show_the_commands_as_the_readme_types_them() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import demo
    finally:
        sys.path.remove(str(ROOT / "tools"))
    typed = demo.typed("cashier")
    assert typed in (".venv/bin/cashier", ".venv\\Scripts\\cashier")
    assert typed.replace("\\", "/") in (ROOT / "README.md").read_text(encoding="utf-8")
