"""Issue 12's audit findings, each reproduced against a served instance: these tests failed before
the fixes and guard them since (docs/protocol.md says what the wire promises)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from processing.db import transaction
from processing.models import LedgerEntry, ReviewItem
from processing.state import active_program, set_program
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_batches import item, push, sale, statuses
from tests.processing.test_purchases import AT, ledger_balance, line, post, purchase, second_till


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


def _verified_token(
    service: Service, client: httpx.Client, phone: str, purpose: str, **extra: str
) -> str:
    sent = post(client, "/otp/send", {"phone": phone, "purpose": purpose, **extra})
    assert sent.status_code == 200, sent.text
    code = re.search(r"\b(\d{4,6})\b", service.sms.messages_to(phone)[-1])
    assert code is not None
    verified = client.post("/otp/verify", json={"otp_id": sent.json()["otp_id"], "code": code[1]})
    assert verified.status_code == 200, verified.text
    return str(verified.json()["confirmation_token"])


# -- critical 1: an SMS code for a phone with no account spent a Gold customer's points ----------
@pytest.mark.parametrize("purpose", ["redeem", "identify"])
def test_a_code_for_a_phone_with_no_account_spends_nobodys_points(
    service: Service, client: httpx.Client, purpose: str
) -> None:
    add_customer(service.factory, "c_gold", "+79005550001", points=5000)
    token = _verified_token(service, client, "+79990001234", purpose)  # nobody's phone
    big = purchase("c_gold", redeem="900", lines=[line(price="10000.00")], confirmation_token=token)
    refused = post(client, "/purchases", big)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "otp_invalid"


def test_a_code_for_another_customers_phone_is_refused_and_the_owners_own_works(
    service: Service, client: httpx.Client
) -> None:
    add_customer(service.factory, "c_gold", "+79005550001", points=5000)
    add_customer(service.factory, "c_other", "+79005550002", points=10)
    foreign = _verified_token(service, client, "+79005550002", "redeem", customer_id="c_other")
    big = purchase("c_gold", redeem="900", lines=[line(price="10000.00")])
    refused = post(client, "/purchases", {**big, "confirmation_token": foreign})
    assert refused.json()["error"]["code"] == "otp_invalid"
    own = _verified_token(service, client, "+79005550001", "redeem", customer_id="c_gold")
    assert post(client, "/purchases", {**big, "confirmation_token": own}).status_code == 201
    twice = purchase("c_gold", redeem="900", lines=[line(price="10000.00")], confirmation_token=own)
    assert post(client, "/purchases", twice).json()["error"]["code"] == "otp_invalid"  # once


def test_a_register_code_does_not_pay(service: Service, client: httpx.Client) -> None:
    add_customer(service.factory, "c_gold", "+79005550001", points=5000)
    token = _verified_token(service, client, "+79005550001", "register")
    big = purchase("c_gold", redeem="900", lines=[line(price="10000.00")], confirmation_token=token)
    assert post(client, "/purchases", big).json()["error"]["code"] == "otp_invalid"


# -- critical 2: the offline budget was counted on the till's dates --------------------------------
def _offline(customer: str, redeem: str, price: str, occurred_at: str) -> dict[str, Any]:
    body = sale(customer, redeem=redeem, lines=[line(price=price)])
    return {**body, "occurred_at": occurred_at}


def _with_offline_limits(service: Service, **limits: str) -> None:
    text = (resources.files("resources.programs") / "nbclub.toml").read_text(encoding="utf-8")
    extra = "".join(f'{key} = "{value}"\n' for key, value in limits.items())
    text = text.replace("[redeem.offline]\n", "[redeem.offline]\n" + extra, 1)
    with transaction(service.factory) as session:
        set_program(session, text, "nbclub.toml", now=NOW)


def test_dating_offline_items_on_other_days_does_not_multiply_the_budget(
    service: Service, client: httpx.Client
) -> None:
    add_customer(service.factory, "c_zero", "+79005550003", points=0)
    days = [(NOW - timedelta(days=d)).isoformat() for d in range(7)] + ["1999-06-01T10:00:00Z"]
    items = [
        item(n + 1, "purchase", _offline("c_zero", "1000", "5000.00", day))
        for n, day in enumerate(days)
    ]
    answer = push(client, *items)
    assert statuses(answer)[0] == (1, "accepted", None)
    assert {s[1:] for s in statuses(answer)[1:]} == {("rejected", "offline_redeem_not_allowed")}
    assert ledger_balance(service, "c_zero") == Decimal(-1000)  # one day's budget, not eight
    with transaction(service.factory) as session:
        refused = session.scalars(select(ReviewItem).where(ReviewItem.kind == "rejected")).all()
        assert len(refused) == 7  # every refused item is on the admin's list


def test_the_daily_cap_holds_across_tills(service: Service, client: httpx.Client) -> None:
    add_customer(service.factory, "c_two", "+79005550004", points=5000)
    first = push(client, item(1, "purchase", _offline("c_two", "800", "5000.00", AT)))
    assert statuses(first) == [(1, "accepted", None)]
    with service.client(second_till(service)) as other:
        answer = push(other, item(1, "purchase", _offline("c_two", "800", "5000.00", AT)))
    assert statuses(answer) == [(1, "rejected", "offline_redeem_not_allowed")]
    assert "800 of 1000" in answer["results"][0]["error"]["message"]


def test_the_overdraft_ceiling_is_never_crossed(service: Service, client: httpx.Client) -> None:
    _with_offline_limits(service, max_overdraft_points="300")
    add_customer(service.factory, "c_low", "+79005550005", points=100)
    answer = push(
        client,
        item(1, "purchase", _offline("c_low", "500", "5000.00", AT)),  # 100 - 500 < -300
        item(2, "purchase", _offline("c_low", "400", "5000.00", AT)),  # 100 - 400 = -300
    )
    assert statuses(answer) == [
        (1, "rejected", "offline_redeem_not_allowed"),
        (2, "accepted", None),
    ]
    assert "ceiling" in answer["results"][0]["error"]["message"]
    assert ledger_balance(service, "c_low") == Decimal(-300)


# -- high 3: a backdated offline sale unlocked its points at once ---------------------------------
def test_points_of_a_backdated_sale_activate_from_when_the_service_learned_of_it(
    service: Service, client: httpx.Client
) -> None:
    add_customer(service.factory, "c_old", "+79005550006", points=0)
    backdated = (NOW - timedelta(days=59)).isoformat()
    body = _offline("c_old", "0", "60000.00", backdated)
    assert statuses(push(client, item(1, "purchase", body))) == [(1, "accepted", None)]
    with transaction(service.factory) as session:
        program = active_program(session).program
        lots = session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.customer_id == "c_old", LedgerEntry.kind == "earn"
            )
        ).all()
    assert lots and sum(e.amount for e in lots) > 0
    due = NOW + timedelta(days=program.activation_delay_days)
    assert {e.available_from for e in lots} == {due}
    seen = client.post(
        "/customers/identify", json={"identifier": {"type": "phone", "value": "+79005550006"}}
    ).json()
    assert Decimal(seen["balance"]["available"]) == 0  # nothing spendable yet
    assert Decimal(seen["balance"]["pending"]) > 0


def test_a_large_offline_sale_is_listed_for_review(service: Service, client: httpx.Client) -> None:
    add_customer(service.factory, "c_big", "+79005550007", points=0)
    small = _offline("c_big", "0", "99999.99", AT)
    large = _offline("c_big", "0", "100000.00", AT)
    push(client, item(1, "purchase", small), item(2, "purchase", large))
    with transaction(service.factory) as session:
        listed = session.scalars(select(ReviewItem).where(ReviewItem.kind == "large_offline")).all()
    assert [r.purchase_id for r in listed] == [large["purchase_id"]]


def test_a_pin_in_other_digits_is_refused(service: Service) -> None:
    from processing.admin import AdminError, add_cashier
    from processing.db import transaction as tx

    for pin in ("١٢٣٤", "１２３４"):
        with pytest.raises(AdminError), tx(service.factory) as session:
            add_cashier(session, "iport-msk-1", "Анна", pin)


def test_identify_by_phone_is_limited_per_device(service: Service, client: httpx.Client) -> None:
    """A stolen key must not scan the phone book: 120 look-ups by phone or card a minute."""
    add_customer(service.factory, "c_seen", "+79005550008", points=10)
    by_phone = {"identifier": {"type": "phone", "value": "+79005550008"}}
    for _n in range(120):
        assert client.post("/customers/identify", json=by_phone).status_code == 200
    refused = client.post("/customers/identify", json=by_phone)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    by_id = {"identifier": {"type": "customer_id", "value": "c_seen"}}
    assert client.post("/customers/identify", json=by_id).status_code == 200  # not a scan
    with service.client(second_till(service)) as other:
        assert other.post("/customers/identify", json=by_phone).status_code == 200
