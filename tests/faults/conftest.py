"""Fault tests: a real processing service on loopback (SQLite only) behind a ``FaultProxy``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults.proxy import FaultProxy
from tests.processing.conftest import Service, _sqlite_template, add_customer, service

__all__ = ["_sqlite_template", "migrated_url", "proxy", "service", "till"]


@pytest.fixture
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only: overrides the processing conftest's SQLite-and-PostgreSQL parameters."""
    target = tmp_path / "processing.db"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
    return f"sqlite:///{target}"


@pytest.fixture
def till(service: Service) -> Service:
    """The service with one customer, ``c_1`` (+79001234567, 1 000 points)."""
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    return service


@pytest.fixture
def proxy(service: Service) -> Iterator[FaultProxy]:
    """A started proxy in front of the service."""
    url = urlsplit(service.base_url)
    assert url.hostname is not None and url.port is not None
    with FaultProxy(upstream=(url.hostname, url.port)) as started:
        yield started
