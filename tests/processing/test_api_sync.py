"""The offline-cache endpoints (``/sync/catalogue``, ``/sync/cashiers``) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from processing.admin import add_cashier, add_store
from processing.db import transaction
from processing.models import CatalogueItem
from processing.security import verify_pin
from tests.processing.conftest import NOW, Service


def _seed_catalogue(service: Service) -> None:
    """Seven items; sku1..sku4 share one ``updated_at``, so pages split inside a tie."""
    stamps = [0, 1, 1, 1, 1, 2, 3]
    with transaction(service.factory) as session:
        for i, day in enumerate(stamps):
            session.add(
                CatalogueItem(
                    sku=f"sku{i}",
                    name=f"Item {i}",
                    category="food",
                    price=100 * i + 5,
                    weighed=i % 3 == 0,
                    updated_at=NOW - timedelta(days=10 - day),
                )
            )


def _read_all(c: httpx.Client, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
    skus: list[str] = []
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        reply = c.get("/sync/catalogue", params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert len(page["items"]) <= limit
        assert page["server_time"]
        skus += [item["sku"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return skus, cursor


def test_catalogue_pages_by_cursor_and_then_only_what_changed(service: Service) -> None:
    _seed_catalogue(service)
    everything = [f"sku{i}" for i in range(7)]
    with service.client() as c:
        for limit in (1, 2, 3, 1000):
            skus, _ = _read_all(c, None, limit)
            assert skus == everything, limit
        first = c.get("/sync/catalogue").json()
        assert first["has_more"] is False
        assert first["items"][0] == {
            "sku": "sku0",
            "name": "Item 0",
            "category": "food",
            "price": "0.05",
            "weighed": True,
            "updated_at": "2026-11-13T12:00:00Z",
        }
        skus, watermark = _read_all(c, None, 2)
        assert watermark is not None

        nothing = c.get("/sync/catalogue", params={"cursor": watermark}).json()
        assert (nothing["items"], nothing["has_more"]) == ([], False)
        assert nothing["next_cursor"] == watermark  # the till keeps its place

        with transaction(service.factory) as session:
            session.execute(
                update(CatalogueItem)
                .where(CatalogueItem.sku.in_(["sku2", "sku4"]))
                .values(price=99_900, updated_at=NOW)
            )
        changed, _ = _read_all(c, watermark, 1)
        assert changed == ["sku2", "sku4"]
        latest = c.get("/sync/catalogue", params={"cursor": watermark}).json()["items"]
        assert [item["price"] for item in latest] == ["999.00", "999.00"]


def test_catalogue_refuses_bad_cursors_and_limits(service: Service) -> None:
    with service.client() as c:
        customers_cursor = c.get("/sync/customers").json()["next_cursor"]
        for params in (
            {"cursor": "!!"},
            {"cursor": "bm90IGEgY3Vyc29y"},
            {"limit": 0},
            {"limit": 1001},
            *([{"cursor": customers_cursor}] if customers_cursor else []),
        ):
            reply = c.get("/sync/catalogue", params=params)
            assert reply.status_code == 400, params
            assert reply.json()["error"]["code"] == "validation_error"
        assert c.get("/sync/catalogue").json() == {
            "items": [],
            "next_cursor": None,
            "has_more": False,
            "server_time": "2026-11-23T12:00:00Z",
        }
    assert httpx.get(f"{service.base_url}/api/v1/sync/catalogue").status_code == 401


def test_cashiers_of_the_till_store_only(service: Service) -> None:
    with transaction(service.factory) as session:
        anna = add_cashier(session, "iport-msk-1", "Анна", "1234", "senior")
        boris = add_cashier(session, "iport-msk-1", "Борис", "9876")
        add_store(session, "iport-spb-1", "iport", "iPort, Петербург")
        add_cashier(session, "iport-spb-1", "Вера", "5555")
    with service.client() as c:
        reply = c.get("/sync/cashiers")
        assert reply.status_code == 200, reply.text
        data = reply.json()
    assert data["store_id"] == "iport-msk-1"
    assert data["server_time"] == "2026-11-23T12:00:00Z"
    assert [(k["id"], k["name"], k["role"]) for k in data["items"]] == [
        (anna.id, "Анна", "senior"),
        (boris.id, "Борис", "cashier"),
    ]
    by_name = {k["name"]: k["pin_hash"] for k in data["items"]}
    assert by_name["Анна"].startswith("scrypt$")
    assert verify_pin("1234", by_name["Анна"]) and not verify_pin("1235", by_name["Анна"])
    assert verify_pin("9876", by_name["Борис"])
    assert httpx.get(f"{service.base_url}/api/v1/sync/cashiers").status_code == 401
