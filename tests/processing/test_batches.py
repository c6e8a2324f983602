"""Offline queues pushed to a real service (SQLite and PostgreSQL): seq order, exactly once,
the offline budget, overdrafts, refusals and their dependants."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from processing.db import transaction
from processing.models import Customer, LedgerEntry, Purchase, ReviewItem
from processing.state import set_program
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_purchases import AT, ledger_balance, line, post, purchase


def sale(customer: str | None = "c_1", redeem: str = "0", **extra: Any) -> dict[str, Any]:
    body = purchase(customer, redeem=redeem, **extra)
    body.update(state="confirmed", offline=True, payments=[{"type": "card"}])
    return body


def item(seq: int, kind: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    return {
        "seq": seq,
        "idempotency_key": key or str(uuid.uuid4()),
        "kind": kind,
        "occurred_at": AT,
        "body": body,
    }


def push(c: httpx.Client, *items: dict[str, Any]) -> dict[str, Any]:
    reply = c.post("/sync/transactions", json={"batch_id": str(uuid.uuid4()), "items": list(items)})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def statuses(answer: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    return [(r["seq"], r["status"], (r.get("error") or {}).get("code")) for r in answer["results"]]


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    add_customer(service.factory, "c_1", "+79001234567", points=100)
    with service.client() as c:
        yield c


def test_an_offline_sale_inside_the_budget_is_applied_into_a_negative_balance(
    service: Service, client: httpx.Client
) -> None:
    body = sale(redeem="300", lines=[line(price="1000.00")])
    answer = push(client, item(1, "purchase", body))
    assert statuses(answer) == [(1, "accepted", None)]
    assert answer["next_expected_seq"] == 2
    result = answer["results"][0]["result"]
    assert (result["state"], result["redeemed_points"], result["to_pay"]) == (
        "confirmed",
        "300",
        "700.00",
    )
    assert result["balance_after"]["available"] == "-200"
    assert result["balance_after"]["negative_allowed"] is True
    assert ledger_balance(service) == Decimal(-200)
    with transaction(service.factory) as session:
        bought = session.get(Purchase, body["purchase_id"])
        assert bought is not None and bought.offline and bought.overdraft == Decimal(200)
        review = session.scalars(select(ReviewItem)).all()
        assert [(r.kind, r.amount, r.purchase_id) for r in review] == [
            ("overdraft", Decimal(200), body["purchase_id"])
        ]


def test_beyond_the_budget_is_refused_and_its_return_is_parent_rejected(
    service: Service, client: httpx.Client
) -> None:
    add_customer(service.factory, "c_2", "+79001112233", points=5000)
    first = sale("c_2", redeem="600", lines=[line(price="5000.00")])
    second = sale("c_2", redeem="600", lines=[line(price="5000.00")])
    ret = {
        "purchase_id": second["purchase_id"],
        "return_id": "r_1",
        "occurred_at": AT,
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
    }
    answer = push(
        client,
        item(1, "purchase", first),
        item(2, "purchase", second),
        item(3, "return", ret),
    )
    assert statuses(answer) == [
        (1, "accepted", None),
        (2, "rejected", "offline_redeem_not_allowed"),
        (3, "rejected", "parent_rejected"),
    ]
    assert "600 of 1000" in answer["results"][1]["error"]["message"]
    assert ledger_balance(service, "c_2") == Decimal(4400)
    with transaction(service.factory) as session:
        kinds = sorted(r.kind for r in session.scalars(select(ReviewItem)))
        assert kinds == ["rejected", "rejected"]
        assert session.get(Purchase, second["purchase_id"]) is None


def test_an_unverified_customer_cannot_spend_offline(
    service: Service, client: httpx.Client
) -> None:
    add_customer(service.factory, "c_3", "+79001112244", points=500, verified=False)
    answer = push(client, item(1, "purchase", sale("c_3", redeem="10")))
    assert statuses(answer) == [(1, "rejected", "offline_redeem_not_allowed")]
    assert "not verified" in answer["results"][0]["error"]["message"]
    earn_only = push(client, item(2, "purchase", sale("c_3")))
    assert statuses(earn_only) == [(2, "accepted", None)]


def test_pushing_the_same_batch_again_changes_nothing(
    service: Service, client: httpx.Client
) -> None:
    items = [
        item(1, "purchase", sale(redeem="50")),
        item(2, "purchase", sale(redeem="5000")),  # above the tier cap: refused
        item(3, "purchase", sale(None)),
    ]
    first = push(client, *items)
    assert [s for _, s, _ in statuses(first)] == ["accepted", "rejected", "accepted"]
    balance = ledger_balance(service)
    again = push(client, *items)
    assert [s for _, s, _ in statuses(again)] == ["duplicate", "rejected", "duplicate"]
    assert again["results"][0]["result"]["purchase_id"] == items[0]["body"]["purchase_id"]
    assert ledger_balance(service) == balance
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 2


def test_items_are_applied_in_seq_order_and_gaps_are_reported(client: httpx.Client) -> None:
    bought = sale(lines=[line(price="2000.00")])
    ret = {
        "purchase_id": bought["purchase_id"],
        "return_id": "r_2",
        "occurred_at": AT,
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
    }
    answer = push(client, item(5, "return", ret), item(4, "purchase", bought))
    assert statuses(answer) == [(4, "accepted", None), (5, "accepted", None)]
    assert answer["gaps"] == [{"from_seq": 1, "to_seq": 3}]
    assert answer["next_expected_seq"] == 6
    reused = push(client, item(5, "cancel", {"purchase_id": "p_other"}))
    assert statuses(reused) == [(5, "rejected", "seq_reused")]


def test_a_cancel_of_a_purchase_never_seen_blocks_its_late_arrival(client: httpx.Client) -> None:
    answer = push(client, item(1, "cancel", {"purchase_id": "p_lost", "reason": "timeout"}))
    assert statuses(answer) == [(1, "accepted", None)]
    late = post(client, "/purchases", purchase(purchase_id="p_lost", redeem="10"))
    assert late.status_code == 200
    assert (late.json()["state"], late.headers["Idempotent-Replay"]) == ("cancelled", "natural")


def test_an_online_sale_queued_after_a_timeout_is_a_duplicate(
    service: Service, client: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    online = purchase(state="confirmed", payments=[{"type": "card"}])
    assert post(client, "/purchases", online, key).status_code == 201
    queued = {**online, "offline": False}
    answer = push(client, item(1, "purchase", queued, key))
    assert statuses(answer) == [(1, "duplicate", None)]
    with transaction(service.factory) as session:
        earned = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "earn")
        )
        assert earned == 1


def test_a_bad_item_is_refused_alone(client: httpx.Client) -> None:
    answer = push(
        client,
        item(1, "purchase", {"purchase_id": "p_bad", "lines": "nope"}),
        item(2, "purchase", sale(None)),
        item(
            3,
            "return",
            {
                "purchase_id": "p_unknown",
                "return_id": "r",
                "occurred_at": AT,
                "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
            },
        ),
    )
    assert statuses(answer) == [
        (1, "rejected", "validation_error"),
        (2, "accepted", None),
        (3, "rejected", "not_found"),
    ]
    twice = {
        "items": [item(1, "cancel", {"purchase_id": "x"}), item(1, "cancel", {"purchase_id": "y"})]
    }
    assert client.post("/sync/transactions", json=twice).status_code == 400
    assert client.post("/sync/transactions", json={"items": []}).status_code == 400


def test_every_balance_a_till_sees_is_the_raw_ledger_sum(
    service: Service, client: httpx.Client
) -> None:
    """Identify and the customer sync (the tills' cached snapshot) agree with Σ ledger amounts."""
    add_customer(service.factory, "c_5", "+79005550005", points=700)
    held = purchase("c_5", redeem="200")
    post(client, "/purchases", held)  # stays pending: a live hold
    done = purchase("c_5", redeem="100", lines=[line(price="3000.00")])
    post(client, "/purchases", done)
    post(client, f"/purchases/{done['purchase_id']}/confirm", {"payments": [{"type": "sbp"}]})
    ret = {
        "return_id": "r_5",
        "occurred_at": AT,
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "0.500"}],
    }
    post(client, f"/purchases/{done['purchase_id']}/returns", ret)
    push(client, item(1, "purchase", sale("c_1", redeem="400")))  # an overdraft for c_1
    with transaction(service.factory) as session:
        raw = {
            customer_id: total
            for customer_id, total in session.execute(
                select(LedgerEntry.customer_id, func.sum(LedgerEntry.amount)).group_by(
                    LedgerEntry.customer_id
                )
            )
        }
    synced = {s["id"]: s for s in client.get("/sync/customers").json()["items"]}
    for customer_id, phone in (("c_1", "+79001234567"), ("c_5", "+79005550005")):
        seen = client.post(
            "/customers/identify", json={"identifier": {"type": "phone", "value": phone}}
        ).json()["balance"]
        assert Decimal(seen["total"]) == raw[customer_id], customer_id
        assert seen["available"] == synced[customer_id]["balance_snapshot"]["available"]
        assert Decimal(seen["available"]) + Decimal(seen["pending"]) == raw[customer_id]
    assert Decimal(synced["c_1"]["balance_snapshot"]["available"]) == Decimal(-300)


def test_an_offline_registration_maps_to_the_phones_account_and_its_sales_follow(
    service: Service, client: httpx.Client
) -> None:
    new = {
        "phone": "8 (900) 555-00-77",
        "first_name": "Анна",
        "local_id": "local_1",
        "consents": {"pd_processing": True},
    }
    known = {"phone": "+79001234567", "first_name": "Иван", "local_id": "local_2"}
    answer = push(
        client,
        item(1, "register", new),
        item(2, "purchase", sale("local_1", lines=[line(price="2000.00")])),
        item(3, "register", known),
        item(4, "purchase", sale("local_2")),
    )
    assert [s for _, s, _ in statuses(answer)] == ["accepted"] * 4
    created = answer["results"][0]["result"]
    assert created["status"] == "created"
    assert created["customer"]["phone_confirmed"] is False  # no SMS code offline: cannot spend
    assert answer["results"][1]["result"]["earn_points"] == "30"
    assert answer["results"][2]["result"]["status"] == "already_exists"
    assert answer["results"][2]["result"]["customer"]["id"] == "c_1"
    with transaction(service.factory) as session:
        owners = dict(session.execute(select(Purchase.purchase_id, Purchase.customer_id)).all())
    assert owners[answer["results"][3]["result"]["purchase_id"]] == "c_1"
    assert owners[answer["results"][1]["result"]["purchase_id"]] == created["customer"]["id"]


def test_the_birthday_bonus_comes_with_a_purchase_once_a_year(
    service: Service, client: httpx.Client
) -> None:
    text = resources.files("resources").joinpath("programs", "kanistra.toml").read_text("utf-8")
    with transaction(service.factory) as session:
        set_program(session, text, "kanistra.toml", now=NOW)
        session.execute(
            update(Customer).where(Customer.id == "c_1").values(birth_date=date(1990, 11, 22))
        )
    first = push(client, item(1, "purchase", sale()), item(2, "purchase", sale()))
    assert [s for _, s, _ in statuses(first)] == ["accepted", "accepted"]
    with transaction(service.factory) as session:
        gifts = session.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.kind == "birthday")
        ).all()
    assert gifts == [Decimal(300)]


def test_the_same_key_under_another_seq_is_the_same_item(
    service: Service, client: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    body = sale(redeem="10")
    first = push(client, item(1, "purchase", body, key))
    again = push(client, item(2, "purchase", body, key))
    assert statuses(first) == [(1, "accepted", None)]
    assert statuses(again) == [(2, "duplicate", None)]
    bad = push(client, item(3, "cancel", {}, "k-bad-0001"), item(4, "cancel", {}, "k-bad-0001"))
    assert statuses(bad) == [
        (3, "rejected", "validation_error"),
        (4, "rejected", "validation_error"),
    ]
    assert ledger_balance(service) == Decimal(90)


def test_a_tills_wrong_clock_cannot_date_a_sale_at_will(
    service: Service, client: httpx.Client
) -> None:
    ancient = {**sale(), "occurred_at": "2000-01-01T00:00:00+03:00"}
    future = {**sale(), "occurred_at": "2030-01-01T00:00:00+03:00"}
    push(client, item(1, "purchase", ancient), item(2, "purchase", future))
    online = purchase(
        state="confirmed", payments=[{"type": "cash"}], occurred_at="2001-01-01T00:00:00Z"
    )
    post(client, "/purchases", online)
    with transaction(service.factory) as session:
        dated = dict(session.execute(select(Purchase.purchase_id, Purchase.occurred_at)).all())
    assert dated[ancient["purchase_id"]] == NOW - timedelta(days=60)
    assert dated[future["purchase_id"]] == NOW + timedelta(minutes=5)
    assert dated[online["purchase_id"]] == NOW  # online, the service's clock decides
