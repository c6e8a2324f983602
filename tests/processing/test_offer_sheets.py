"""Offer sheets queued by a till and pushed in batches to a real service (SQLite and PostgreSQL):
recorded once by ``sheet_id``, listed per customer newest first, refused for review when wrong."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from processing.db import transaction
from processing.models import OfferSheet, ReviewItem
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_batches import item, push, statuses


def sheet(
    customer_id: str = "c_1",
    sheet_id: str | None = None,
    at: timedelta = timedelta(0),
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sheet_id": sheet_id or str(uuid.uuid4()),
        "customer_id": customer_id,
        "items": [{"sku": "4601234567890", "qty": "1.000"}, {"sku": "100234", "qty": "2"}],
        "valid_till": "2026-11-30",
        "occurred_at": (NOW + at).isoformat(),
    }
    body.update(extra)
    return body


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    add_customer(service.factory, "c_1", "+79001234567", points=100)
    add_customer(service.factory, "c_2", "+79001234568")
    with service.client() as c:
        yield c


def _count(service: Service) -> int:
    with transaction(service.factory) as session:
        return int(session.scalar(select(func.count()).select_from(OfferSheet)) or 0)


def test_a_sheet_is_recorded_once_and_listed(service: Service, client: httpx.Client) -> None:
    body = sheet()
    key = str(uuid.uuid4())
    first = push(client, item(1, "offer_sheet", body, key))
    assert statuses(first) == [(1, "accepted", None)]
    result = first["results"][0]["result"]
    assert result["sheet_id"] == body["sheet_id"]
    assert (result["customer_id"], result["store_id"]) == ("c_1", "iport-msk-1")
    assert result["items"] == [
        {"sku": "4601234567890", "qty": "1.000"},
        {"sku": "100234", "qty": "2.000"},
    ]
    assert result["valid_till"] == "2026-11-30"
    assert result["device_id"] and result["received_at"] and result["server_time"]

    again = push(client, item(1, "offer_sheet", body, key))  # the same item sent again
    assert statuses(again) == [(1, "duplicate", None)]
    renumbered = push(client, item(2, "offer_sheet", body))  # a till that lost its queue
    assert statuses(renumbered) == [(2, "duplicate", None)]
    assert renumbered["results"][0]["result"]["sheet_id"] == body["sheet_id"]
    assert _count(service) == 1

    listed = client.get("/customers/c_1/offer-sheets")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["sheet_id"] for i in items] == [body["sheet_id"]]
    assert set(items[0]) == {
        "sheet_id",
        "customer_id",
        "store_id",
        "device_id",
        "items",
        "valid_till",
        "occurred_at",
        "received_at",
    }
    assert client.get("/customers/c_2/offer-sheets").json()["items"] == []


def test_the_list_is_newest_first_and_at_most_20(service: Service, client: httpx.Client) -> None:
    bodies = [sheet(at=timedelta(minutes=n)) for n in range(22)]
    answer = push(client, *(item(n + 1, "offer_sheet", b) for n, b in enumerate(bodies)))
    assert {s for _, s, _ in statuses(answer)} == {"accepted"}
    items = client.get("/customers/c_1/offer-sheets").json()["items"]
    assert [i["sheet_id"] for i in items] == [b["sheet_id"] for b in reversed(bodies)][:20]


def test_an_upper_case_sheet_id_is_the_same_sheet(service: Service, client: httpx.Client) -> None:
    body = sheet()
    push(client, item(1, "offer_sheet", body))
    upper = push(client, item(2, "offer_sheet", {**body, "sheet_id": body["sheet_id"].upper()}))
    assert statuses(upper) == [(2, "duplicate", None)]
    assert _count(service) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (sheet("c_404"), "not_found"),
        (sheet(items=[{"sku": "100234", "qty": "0.000"}]), "validation_error"),
        (sheet(items=[]), "validation_error"),
        (sheet(sheet_id="not-a-uuid"), "validation_error"),
        (sheet(valid_till="2026-11-22"), "validation_error"),
        (sheet(occurred_at="2026-11-23T12:00:00"), "validation_error"),
        (sheet(note="extra field"), "validation_error"),
    ],
)
def test_a_wrong_sheet_is_refused_and_kept_for_review(
    service: Service, client: httpx.Client, body: dict[str, Any], code: str
) -> None:
    answer = push(client, item(1, "offer_sheet", body), item(2, "offer_sheet", sheet()))
    assert statuses(answer) == [(1, "rejected", code), (2, "accepted", None)]
    assert _count(service) == 1
    with transaction(service.factory) as session:
        review = session.scalars(select(ReviewItem).where(ReviewItem.kind == "rejected")).one()
    assert review.reason.startswith(f"offer_sheet #1: {code}")
    assert review.purchase_id is None


def test_a_sheet_for_a_customer_registered_offline_follows_the_registration(
    service: Service, client: httpx.Client
) -> None:
    new = {"phone": "8 900 555-00-77", "first_name": "Анна", "local_id": "local_1"}
    answer = push(
        client, item(1, "register", new), item(2, "offer_sheet", sheet(customer_id="local_1"))
    )
    assert [s for _, s, _ in statuses(answer)] == ["accepted", "accepted"]
    real = answer["results"][0]["result"]["customer"]["id"]
    assert answer["results"][1]["result"]["customer_id"] == real
    assert len(client.get(f"/customers/{real}/offer-sheets").json()["items"]) == 1


def test_the_list_of_an_unknown_customer_is_404(client: httpx.Client) -> None:
    reply = client.get("/customers/c_404/offer-sheets")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"
