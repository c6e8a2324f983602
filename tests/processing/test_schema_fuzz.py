"""Schemathesis against the served OpenAPI document of a real service on loopback (SQLite).

Every operation of ``/api/v1/openapi.json`` gets generated requests, valid and invalid (the
coverage phase's boundary cases, then a bounded number of fuzzed examples), sent with the enrolled
till's token and a fresh ``Idempotency-Key`` each.  Whatever the input, the service must never
answer 5xx, and every answer that is not a success carries the protocol's error envelope
``{"error": {"code": str, "message": str, ...}}`` (docs/protocol.md §2).  ``304 Not Modified`` of
``/sync/rules`` is a documented non-error answer without a body and is exempt.

The document is the one the code generates (loaded at collection, so there is one test per
operation); each test starts its own server (``conftest``'s ``service``) and first checks that it
serves exactly that document.  (``schemathesis.pytest.from_fixture``, which would load the served
document lazily, fails on pytest 9.2 with schemathesis 4.32: it sets ``Function._nodeid``, which
pytest no longer has.)  Deterministic: a fixed seed, Hypothesis derandomised, no example database.
SQLite only (the API layer is the same on PostgreSQL, and the suite stays fast).
"""

from __future__ import annotations

import itertools
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from schemathesis import Case

from processing.app import create_app
from processing.db import transaction
from processing.models import Handoff
from tests.processing.conftest import NOW, Service, add_customer

MAX_EXAMPLES = 25
SEED = 20261123
CONFIG: dict[str, Any] = {
    "seed": SEED,
    "suppress-health-check": ["all"],
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
    },
    "phases": {"stateful": {"enabled": False}},
}
NO_ENVELOPE = {304}
"""Non-2xx answers without a body by design: ``GET /sync/rules`` when the till is up to date."""

DOCUMENT = create_app("sqlite://").openapi()
"""The OpenAPI document the code generates; each test first checks the server serves exactly it."""
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))
_keys = itertools.count(1)


@pytest.fixture
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only: overrides ``conftest``'s SQLite-and-PostgreSQL parameters for this module."""
    target = tmp_path / "processing.db"
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
    return f"sqlite:///{target}"


@pytest.fixture
def till(service: Service) -> Service:
    """The service, checked to serve the fuzzed document, with a few customers in it."""
    assert service.url.startswith("sqlite"), "migrated_url above no longer selects SQLite"
    served = httpx.get(f"{service.base_url}/api/v1/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT
    add_customer(service.factory, "c_1", "+79001234567", points=1000, card="2000000000008")
    add_customer(service.factory, "c_2", "+79001112233", points=50, verified=False)
    with transaction(service.factory) as session:
        # A hand-off from another device: a long poll (``GET /handoffs?wait=…``) that starts from
        # scratch finds it at once instead of waiting up to 10 s per example.
        session.add(
            Handoff(
                store_id="iport-msk-1",
                device_id="kiosk-1",
                customer_id="c_1",
                created_at=NOW,
                expires_at=NOW + timedelta(minutes=5),
            )
        )
    return service


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _describe(case: Case[Any], status: int, text: str) -> str:
    request = {
        "method": case.method.upper(),
        "path": case.formatted_path,
        "query": case.query,
        "headers": {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"},
        "body": case.body,
    }
    return f"{json.dumps(request, ensure_ascii=False, default=repr)}\n→ {status} {text[:2000]}"


def _envelope_problem(text: str) -> str | None:
    """What is wrong with an error answer's body, or None when it is a proper envelope."""
    try:
        body = json.loads(text)
    except ValueError:
        return "the body is not JSON"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return 'no "error" object'
    for name in ("code", "message"):
        if not isinstance(error.get(name), str) or not error[name]:
            return f'"error.{name}" is not a non-empty string'
    return None


@schema.parametrize()
def test_no_5xx_and_every_error_is_an_envelope(
    case: Case[Any], till: Service, http: requests.Session
) -> None:
    headers = {
        "Authorization": f"Bearer {till.token}",
        "Idempotency-Key": str(uuid.UUID(int=next(_keys))),
    }
    response = case.call(base_url=till.base_url, session=http, headers=headers, timeout=10)
    status, text = response.status_code, response.text
    assert status < 500, "server error:\n" + _describe(case, status, text)
    if not 200 <= status < 300 and status not in NO_ENVELOPE:
        problem = _envelope_problem(text)
        assert problem is None, f"not an error envelope ({problem}):\n" + _describe(
            case, status, text
        )
