"""Coupons in calculate and purchases on a real service (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from processing.db import transaction
from processing.models import Coupon
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_purchases import balance, line, post, purchase


def coupon(
    factory: sessionmaker[Session],
    code: str,
    *,
    owner: str | None = "c_1",
    category: str | None = "smartphones",
    pct: int = 10,
    days: tuple[int, int] = (-1, 30),
    status: str = "issued",
) -> None:
    with transaction(factory) as session:
        session.add(
            Coupon(
                code=code,
                customer_id=owner,
                title=f"−{pct}%",
                category=category,
                discount_pct=Decimal(pct),
                valid_from=NOW + timedelta(days=days[0]),
                valid_till=NOW + timedelta(days=days[1]),
                status=status,
            )
        )


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    add_customer(service.factory, "c_2", "+79001112233", points=0)
    for code, kw in {
        "NB-PHONE-10": {},
        "NB-ANY-5": {"owner": None, "category": None, "pct": 5},
        "NB-OLD": {"days": (-30, -1)},
        "NB-SOON": {"days": (2, 30)},
        "NB-THEIRS": {"owner": "c_2"},
        "NB-BLOCKED": {"status": "blocked"},
        "NB-TV": {"category": "tv"},
    }.items():
        coupon(service.factory, code, **kw)  # type: ignore[arg-type]
    with service.client() as c:
        yield c


def test_calculate_tells_each_coupons_status_and_applies_the_good_ones(
    client: httpx.Client,
) -> None:
    codes = [
        "nb-phone-10",
        "NB-ANY-5",
        "NB-OLD",
        "NB-SOON",
        "NB-THEIRS",
        "NB-BLOCKED",
        "NB-TV",
        "NOPE",
    ]
    body = {
        "customer": {"id": "c_1"},
        "lines": [
            line("L1", price="1000.00"),
            line("L2", price="200.00", line_no=2, category="cables"),
        ],
        "redeem": {"points": "max"},
        "coupons": codes,
    }
    reply = client.post("/carts/calculate", json=body)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert [(c["code"], c["status"], c["amount"]) for c in data["coupons"]] == [
        ("NB-PHONE-10", "applied", "100.00"),
        ("NB-ANY-5", "applied", "10.00"),  # the line the first coupon did not take
        ("NB-OLD", "expired", "0.00"),
        ("NB-SOON", "not_yet_active", "0.00"),
        ("NB-THEIRS", "not_issued", "0.00"),
        ("NB-BLOCKED", "blocked", "0.00"),
        ("NB-TV", "not_applicable", "0.00"),
        ("NOPE", "not_found", "0.00"),
    ]
    assert data["totals"]["discount"] == "110.00"
    assert data["lines"][0]["discounts"] == [
        {"source": "coupon", "coupon": "NB-PHONE-10", "amount": "100.00"}
    ]
    assert data["redeem"]["max_points"] == "545"  # Start: 50 % of the 1 090 ₽ left after coupons
    assert data["totals"]["to_pay"] == "545.00"


def test_a_coupon_is_held_used_once_and_freed_by_cancel(
    service: Service, client: httpx.Client
) -> None:
    first = purchase(redeem="450", coupons=["NB-PHONE-10"], expected_to_pay="450.00")
    created = post(client, "/purchases", first)
    assert created.status_code == 201, created.text
    assert created.json()["to_pay"] == "450.00"
    assert balance(client)["available"] == "550"
    second = purchase(coupons=["NB-PHONE-10"])
    busy = post(client, "/purchases", second)
    assert (busy.status_code, busy.json()["error"]["code"]) == (422, "coupon_invalid")
    assert busy.json()["error"]["details"][0]["status"] == "used"

    cancelled = post(client, f"/purchases/{first['purchase_id']}/cancel", None)
    assert cancelled.json()["released_coupons"] == ["NB-PHONE-10"]
    assert balance(client)["available"] == "1000"

    third = purchase(coupons=["NB-PHONE-10"])
    assert post(client, "/purchases", third).status_code == 201
    done = post(
        client, f"/purchases/{third['purchase_id']}/confirm", {"payments": [{"type": "card"}]}
    )
    assert done.status_code == 200, done.text
    assert done.json()["earned"]["points"] == "13"  # 1.5 % of the 900 ₽ paid
    view = client.get(f"/purchases/{third['purchase_id']}").json()
    assert (view["lines"][0]["discount"], view["lines"][0]["coupon"], view["to_pay"]) == (
        "100.00",
        "NB-PHONE-10",
        "900.00",
    )
    again = post(client, "/purchases", purchase(coupons=["NB-PHONE-10"]))
    assert again.json()["error"]["details"][0]["status"] == "used"
    with transaction(service.factory) as session:
        used = session.get(Coupon, "NB-PHONE-10")
        assert used is not None and (used.status, used.used_purchase_id) == (
            "used",
            third["purchase_id"],
        )


def test_a_coupon_needs_two_phases(client: httpx.Client) -> None:
    body = purchase(coupons=["NB-ANY-5"], state="confirmed", payments=[{"type": "card"}])
    reply = post(client, "/purchases", body)
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "validation_error")
