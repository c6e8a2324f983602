"""Issue 12, finding 4: chains, stores and device kinds are kept apart.

- every authenticated route names the device roles that reach it, and every other role is refused
  (``403 forbidden_for_role``) — checked route by route against a served instance;
- a kiosk or a consultant's desk cannot queue sales through ``/sync/transactions`` either;
- a purchase is seen and returned only in its own chain, unless the program groups chains for
  returns (``[[returns.chain_groups]]``).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from importlib import resources
from typing import Any

import httpx
import pytest

from processing.admin import add_store, create_enrolment_code
from processing.app import create_app
from processing.db import transaction
from processing.deps import API, ITEM_KINDS_BY_ROLE, ROUTES_BY_ROLE
from processing.state import set_program
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_batches import item, push, sale, statuses
from tests.processing.test_purchases import ledger_balance, line, post, purchase


def enrol(service: Service, store: str, role: str) -> str:
    with transaction(service.factory) as session:
        if store != "iport-msk-1":
            chain = store.split("-")[0]
            add_store(session, store, chain, f"{chain}, Москва")
        code, _ = create_enrolment_code(session, store, NOW, role=role)
    reply = httpx.post(
        f"{service.base_url}{API}/devices/enroll", json={"code": code, "name": f"{role} {store}"}
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def _authenticated_routes() -> set[tuple[str, str]]:
    """Every operation of the API that takes the till key, from the service's own OpenAPI."""
    app = create_app("sqlite://", clock=lambda: NOW)
    return {
        (method.upper(), path.removeprefix(API))
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }


def test_every_authenticated_route_names_its_roles() -> None:
    assert _authenticated_routes() == set(ROUTES_BY_ROLE)


@pytest.fixture
def tokens(service: Service) -> dict[str, str]:
    return {
        "till": service.token,
        "kiosk": enrol(service, "iport-msk-1", "kiosk"),
        "desk": enrol(service, "iport-msk-1", "desk"),
    }


def _call(client: httpx.Client, method: str, path: str) -> httpx.Response:
    concrete = re.sub(r"\{[a-z_]+\}", "x1", path)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    if method == "GET":
        return client.get(concrete, headers=headers)
    return client.request(method, concrete, json={}, headers=headers)


@pytest.mark.parametrize("route", sorted(ROUTES_BY_ROLE), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_role_reaches_only_its_routes(
    service: Service, tokens: dict[str, str], route: tuple[str, str]
) -> None:
    method, path = route
    for role, token in tokens.items():
        with service.client(token) as client:
            reply = _call(client, method, path)
        refused = reply.status_code == 403 and "forbidden_for_role" in reply.text
        assert refused is (role not in ROUTES_BY_ROLE[route]), (role, reply.status_code, reply.text)


def test_a_kiosk_cannot_sell_or_read_a_history(service: Service, tokens: dict[str, str]) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    with service.client(tokens["kiosk"]) as kiosk:
        sold = post(kiosk, "/purchases", purchase("c_1", state="confirmed", payments=[]))
        assert sold.status_code == 403
        assert kiosk.get("/customers/c_1/history").status_code == 403
        assert kiosk.get("/sync/customers").status_code == 403
        answer = push(
            kiosk,
            item(1, "purchase", sale("c_1")),
            item(2, "offer_sheet", {"sheet_id": "s1"}),
        )
    assert statuses(answer) == [
        (1, "rejected", "forbidden_for_role"),
        (2, "rejected", "forbidden_for_role"),
    ]
    assert ITEM_KINDS_BY_ROLE["kiosk"] == {"register"}


# -- chains -----------------------------------------------------------------------------------
@pytest.fixture
def sold(service: Service) -> dict[str, Any]:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    body = purchase(
        "c_1", lines=[line(price="10000.00")], state="confirmed", payments=[{"type": "card"}]
    )
    with service.client() as till:
        assert post(till, "/purchases", body).status_code == 201
    return body


def _return(client: httpx.Client, purchase_id: str) -> httpx.Response:
    body = {
        "return_id": f"r_{uuid.uuid4().hex}",
        "occurred_at": NOW.isoformat(),
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
    }
    return post(client, f"/purchases/{purchase_id}/returns", body)


def test_another_chains_till_neither_sees_nor_returns_a_purchase(
    service: Service, sold: dict[str, Any]
) -> None:
    before = ledger_balance(service)
    other = enrol(service, "samsung-msk-1", "till")
    with service.client(other) as client:
        assert client.get(f"/purchases/{sold['purchase_id']}").status_code == 404
        refused = _return(client, sold["purchase_id"])
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "other_chain")
        queued = {
            "purchase_id": sold["purchase_id"],
            "return_id": "r_queued",
            "occurred_at": NOW.isoformat(),
            "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
        }
        answer = push(client, item(1, "return", queued))
    assert statuses(answer) == [(1, "rejected", "other_chain")]
    assert ledger_balance(service) == before  # no points revoked by the other chain
    same_chain = enrol(service, "iport-spb-1", "till")
    with service.client(same_chain) as client:
        assert client.get(f"/purchases/{sold['purchase_id']}").status_code == 200
        assert _return(client, sold["purchase_id"]).status_code == 201


def test_a_program_may_group_chains_for_returns(service: Service, sold: dict[str, Any]) -> None:
    text = (resources.files("resources.programs") / "nbclub.toml").read_text(encoding="utf-8")
    text += '\n[[returns.chain_groups]]\nchains = ["iport", "samsung"]\n'
    with transaction(service.factory) as session:
        set_program(session, text, "nbclub.toml", now=NOW)
    grouped = enrol(service, "samsung-msk-1", "till")
    outside = enrol(service, "xiaomi-msk-1", "till")
    with service.client(outside) as client:
        assert _return(client, sold["purchase_id"]).json()["error"]["code"] == "other_chain"
    with service.client(grouped) as client:
        assert client.get(f"/purchases/{sold['purchase_id']}").status_code == 200
        returned = _return(client, sold["purchase_id"])
    assert returned.status_code == 201, returned.text
    assert Decimal(returned.json()["points_revoked"]) > 0  # the earned points taken back
