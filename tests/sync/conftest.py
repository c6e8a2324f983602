"""The till's HTTP gateway against the real processing service on loopback (SQLite only: the
wire is the same on PostgreSQL, which ``tests/processing`` covers)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.processing.conftest import _sqlite_template, service

__all__ = ["_sqlite_template", "migrated_url", "service"]


@pytest.fixture
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only: overrides the SQLite-and-PostgreSQL parameters of ``tests/processing``."""
    target = tmp_path / "processing.db"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
    return f"sqlite:///{target}"
