"""Purchases against a real service on loopback (SQLite and PostgreSQL): holds, confirm, cancel,
returns, exactly-once keys and concurrent tills."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cashier.identifiers import sign_wallet_token
from processing.admin import create_enrolment_code
from processing.customers import customer_balance
from processing.db import transaction
from processing.models import CatalogueItem, Customer, IdempotencyRecord, LedgerEntry, Purchase
from processing.state import active_program
from tests.processing.conftest import NOW, Service, add_customer

AT = NOW.isoformat()


def line(
    line_id: str = "L1", price: str = "1000.00", qty: str = "1.000", **extra: Any
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "line_no": extra.pop("line_no", 1),
        "sku": extra.pop("sku", "4601234567890"),
        "category": extra.pop("category", "smartphones"),
        "qty": qty,
        "unit_price": price,
        **extra,
    }


def purchase(
    customer: str | None = "c_1",
    redeem: str = "0",
    lines: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purchase_id": extra.pop("purchase_id", f"p_{uuid.uuid4().hex}"),
        "lines": lines or [line()],
        "redeem_points": redeem,
        "occurred_at": AT,
        **extra,
    }
    if customer:
        body["customer"] = {"id": customer}
    return body


def post(
    c: httpx.Client, path: str, body: dict[str, Any] | None, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return c.post(path, json=body, headers=headers)


def balance(c: httpx.Client, phone: str = "+79001234567") -> dict[str, str]:
    reply = c.post("/customers/identify", json={"identifier": {"type": "phone", "value": phone}})
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["balance"])


def ledger_balance(service: Service, customer_id: str = "c_1") -> Decimal:
    with transaction(service.factory) as session:
        program = active_program(session).program
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer_balance(session, program, customer, NOW).available


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    add_customer(service.factory, "c_1", "+79001234567", points=1000)
    with service.client() as c:
        yield c


def second_till(service: Service) -> str:
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    reply = httpx.post(
        f"{service.base_url}/api/v1/devices/enroll", json={"code": code, "name": "till 2"}
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def test_pending_holds_points_and_confirm_spends_them_and_earns(
    service: Service, client: httpx.Client
) -> None:
    body = purchase(redeem="300", lines=[line(price="10000.00")], expected_to_pay="9700.00")
    created = post(client, "/purchases", body)
    assert created.status_code == 201, created.text
    data = created.json()
    assert (data["state"], data["redeemed_points"], data["to_pay"]) == ("pending", "300", "9700.00")
    assert data["hold_expires_at"].startswith("2026-11-23T12:30")
    assert balance(client)["available"] == "700"  # held

    key = str(uuid.uuid4())
    confirm = {
        "receipt_no": "ФД 1",
        "payments": [{"type": "card", "amount": "9700.00"}],
        "occurred_at": AT,
    }
    done = post(client, f"/purchases/{body['purchase_id']}/confirm", confirm, key)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["state"] == "confirmed"
    assert result["earned"]["points"] == "145"  # Start: 1.5 % of 9 700 ₽, rounded down
    assert result["earned"]["available_from"].startswith("2026-12-07")  # 14 days later
    assert result["balance_after"] == {
        "available": "700",
        "pending": "145",
        "negative_allowed": False,
    }
    assert result["print_lines"] == [
        "Списано 300 баллов",
        "Начислено 145 баллов (станут доступны с 07.12.2026)",
    ]
    assert ledger_balance(service) == Decimal(700)

    again = post(client, f"/purchases/{body['purchase_id']}/confirm", confirm, key)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replay"] == "true"
    assert again.json()["earned"] == result["earned"]
    other_key = post(client, f"/purchases/{body['purchase_id']}/confirm", confirm)
    assert other_key.status_code == 200
    assert other_key.headers["Idempotent-Replay"] == "natural"
    assert ledger_balance(service) == Decimal(700)

    view = client.get(f"/purchases/{body['purchase_id']}").json()
    assert (view["state"], view["receipt_no"], view["earn_points"]) == ("confirmed", "ФД 1", "145")
    with transaction(service.factory) as session:
        kinds = session.execute(
            select(LedgerEntry.kind, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.purchase_id == body["purchase_id"])
            .group_by(LedgerEntry.kind)
        ).all()
    assert {k: int(v) for k, v in kinds} == {
        "hold": -300,
        "release": 300,
        "redeem": -300,
        "earn": 145,
    }


def test_the_payment_method_changes_the_accrual_at_confirm(client: httpx.Client) -> None:
    body = purchase(lines=[line(price="10000.00")])
    assert post(client, "/purchases", body).status_code == 201
    done = post(
        client, f"/purchases/{body['purchase_id']}/confirm", {"payments": [{"type": "sbp"}]}
    )
    assert done.json()["earned"]["points"] == "250"  # NBclub: +1 p.p. on the part paid by SBP


def test_single_phase_purchase_without_points(client: httpx.Client) -> None:
    body = purchase(state="confirmed", payments=[{"type": "card"}], lines=[line(price="2000.00")])
    reply = post(client, "/purchases", body)
    assert reply.status_code == 201, reply.text
    assert (reply.json()["state"], reply.json()["earn_points"]) == ("confirmed", "30")
    spend = purchase(state="confirmed", redeem="10")
    refused = post(client, "/purchases", spend)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"


def test_cancel_releases_the_hold_and_a_confirmed_purchase_cannot_be_cancelled(
    service: Service, client: httpx.Client
) -> None:
    body = purchase(redeem="200")
    assert post(client, "/purchases", body).status_code == 201
    assert balance(client)["available"] == "800"
    cancelled = post(client, f"/purchases/{body['purchase_id']}/cancel", {"reason": "void"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["released_points"] == "200"
    assert balance(client)["available"] == "1000"
    late = post(client, f"/purchases/{body['purchase_id']}/confirm", {"payments": []})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "invalid_state"
    again = post(client, f"/purchases/{body['purchase_id']}/cancel", None)
    assert (again.status_code, again.headers["Idempotent-Replay"]) == (200, "natural")
    assert balance(client)["available"] == "1000"

    done = purchase()
    post(client, "/purchases", done)
    post(client, f"/purchases/{done['purchase_id']}/confirm", {"payments": [{"type": "cash"}]})
    refused = post(client, f"/purchases/{done['purchase_id']}/cancel", None)
    assert refused.status_code == 409
    assert ledger_balance(service) == Decimal(1000)


def test_same_key_other_body_is_refused_and_the_natural_key_is_kept(
    service: Service, client: httpx.Client
) -> None:
    body = purchase(redeem="100")
    key = str(uuid.uuid4())
    first = post(client, "/purchases", body, key)
    assert first.status_code == 201
    replay = post(client, "/purchases", body, key)
    assert (replay.status_code, replay.headers["Idempotent-Replay"]) == (201, "true")
    assert replay.json()["purchase_id"] == body["purchase_id"]
    changed = post(client, "/purchases", {**body, "redeem_points": "150"}, key)
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    lost_outbox = post(client, "/purchases", body)  # a till that lost its key, same purchase id
    assert (lost_outbox.status_code, lost_outbox.headers["Idempotent-Replay"]) == (200, "natural")
    assert balance(client)["available"] == "900"
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 1


def test_business_refusals_are_replayed_but_not_applied(client: httpx.Client) -> None:
    body = purchase(redeem="600")  # Start: at most 50 % of 1 000 ₽
    key = str(uuid.uuid4())
    refused = post(client, "/purchases", body, key)
    assert refused.status_code == 422
    error = refused.json()
    assert error["error"]["code"] == "redeem_limit_exceeded"
    assert error["calculation"]["redeem"]["max_points"] == "500"
    assert (
        "Start" in error["calculation"]["redeem"]["cap_explanation"]
        or error["calculation"]["redeem"]["cap_reasons"]
    )
    again = post(client, "/purchases", body, key)
    assert (again.status_code, again.headers["Idempotent-Replay"]) == (422, "true")
    assert balance(client)["available"] == "1000"


def test_a_stale_calculation_is_409_price_changed_with_a_fresh_one(client: httpx.Client) -> None:
    body = purchase(redeem="100", expected_to_pay="850.00")
    reply = post(client, "/purchases", body)
    assert reply.status_code == 409
    data = reply.json()
    assert data["error"]["code"] == "price_changed"
    assert data["calculation"]["totals"]["to_pay"] == "900.00"
    assert balance(client)["available"] == "1000"


def test_spending_needs_a_verified_phone_and_confirmation_above_the_threshold(
    service: Service, client: httpx.Client
) -> None:
    add_customer(service.factory, "c_2", "+79001112233", points=1000, verified=False)
    unverified = post(client, "/purchases", purchase("c_2", redeem="10"))
    assert unverified.status_code == 422
    assert unverified.json()["error"]["code"] == "redeem_limit_exceeded"

    big = purchase(redeem="4000", lines=[line(price="10000.00")])
    add_customer(service.factory, "c_3", "+79001112244", points=5000)
    big["customer"] = {"id": "c_3"}
    needs_code = post(client, "/purchases", big)
    assert needs_code.status_code == 422
    assert needs_code.json()["error"]["code"] == "otp_required"
    big["customer"]["wallet_token"] = sign_wallet_token(
        service.wallet_private(), "c_3", NOW + timedelta(minutes=5)
    )
    with_qr = post(client, "/purchases", big)
    assert with_qr.status_code == 201, with_qr.text
    someone_else = purchase(redeem="600", lines=[line(price="10000.00")])
    someone_else["customer"]["wallet_token"] = big["customer"]["wallet_token"]
    assert post(client, "/purchases", someone_else).json()["error"]["code"] == "otp_required"


def test_returns_are_partial_cumulative_and_exact(service: Service, client: httpx.Client) -> None:
    body = purchase(
        redeem="300",
        lines=[line("L1", price="500.00", qty="2.000"), line("L2", price="1000.00", line_no=2)],
    )
    assert post(client, "/purchases", body).status_code == 201
    pid = body["purchase_id"]
    pending_return = {
        "return_id": f"r_{uuid.uuid4().hex}",
        "occurred_at": AT,
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
    }
    early = post(client, f"/purchases/{pid}/returns", pending_return)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "invalid_state")
    post(client, f"/purchases/{pid}/confirm", {"payments": [{"type": "card"}]})
    view = client.get(f"/purchases/{pid}").json()
    lines = {ln["line_id"]: ln for ln in view["lines"]}
    assert sum(int(ln["redeem_points"]) for ln in lines.values()) == 300
    earned = int(view["earn_points"])

    first = post(client, f"/purchases/{pid}/returns", pending_return)
    assert first.status_code == 201, first.text
    r1 = first.json()
    assert r1["lines"][0]["qty"] == "1.000" and r1["complete"] is False
    assert int(r1["points_restored"]) == round(int(lines["L1"]["redeem_points"]) / 2)
    replay = post(client, f"/purchases/{pid}/returns", pending_return)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replay"] == "natural"

    too_much = {
        "return_id": f"r_{uuid.uuid4().hex}",
        "occurred_at": AT,
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.500"}],
    }
    over = post(client, f"/purchases/{pid}/returns", too_much)
    assert (over.status_code, over.json()["error"]["code"]) == (422, "return_exceeds_purchase")

    rest = {
        "return_id": f"r_{uuid.uuid4().hex}",
        "occurred_at": AT,
        "lines": [
            {"line_id": "L1", "line_no": 1, "qty": "1.000"},
            {"line_id": "L2", "line_no": 2, "qty": "1.000"},
        ],
    }
    second = post(client, f"/purchases/{pid}/returns", rest)
    assert second.status_code == 201, second.text
    r2 = second.json()
    assert r2["complete"] is True
    assert int(r1["points_restored"]) + int(r2["points_restored"]) == 300
    assert int(r1["points_revoked"]) + int(r2["points_revoked"]) == earned
    assert Decimal(r1["refund_amount"]) + Decimal(r2["refund_amount"]) == Decimal(view["to_pay"])
    # Everything returned: the customer is exactly where they started.
    after = balance(client)
    assert (after["available"], after["pending"]) == ("1000", "0")
    assert ledger_balance(service) == Decimal(1000)
    returns = client.get(f"/purchases/{pid}").json()["returns"]
    assert sorted(returns) == sorted([pending_return["return_id"], rest["return_id"]])


def test_returning_points_already_spent_leaves_a_recorded_debt(
    service: Service, client: httpx.Client
) -> None:
    body = purchase(lines=[line(price="10000.00")])
    post(client, "/purchases", body)
    post(client, f"/purchases/{body['purchase_id']}/confirm", {"payments": [{"type": "card"}]})
    with transaction(service.factory) as session:  # every point, the earned 150 too, was spent
        for lot in session.scalars(select(LedgerEntry).where(LedgerEntry.is_lot.is_(True))).all():
            session.add(
                LedgerEntry(
                    customer_id="c_1",
                    kind="redeem",
                    amount=-lot.amount,
                    lot_id=lot.id,
                    occurred_at=NOW,
                    created_at=NOW,
                )
            )
    ret = {
        "return_id": "r_debt",
        "occurred_at": AT,
        "lines": [{"line_id": "L1", "line_no": 1, "qty": "1.000"}],
    }
    reply = post(client, f"/purchases/{body['purchase_id']}/returns", ret)
    assert reply.status_code == 201, reply.text
    assert reply.json()["points_revoked"] == "150"
    assert reply.json()["balance_after"] == {
        "available": "-150",
        "pending": "0",
        "negative_allowed": True,
    }
    assert ledger_balance(service) == Decimal(-150)
    with transaction(service.factory) as session:
        debt = session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.return_id == "r_debt", LedgerEntry.lot_id.is_(None)
            )
        ).one()
        assert (debt.amount, debt.flagged) == (Decimal(-150), True)


def test_two_tills_can_never_hold_more_than_the_balance(service: Service) -> None:
    add_customer(service.factory, "c_9", "+79005550000", points=500)
    tokens = [service.token, second_till(service)]
    results: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with service.client(tokens[i % 2]) as c:
            body = purchase("c_9", redeem="100", lines=[line(price="10000.00")])
            status = post(c, "/purchases", body).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] * 5 + [422] * 5
    assert ledger_balance(service, "c_9") == Decimal(0)


def test_one_key_sent_at_once_from_many_threads_has_one_effect(service: Service) -> None:
    add_customer(service.factory, "c_8", "+79005550001", points=500)
    body = purchase("c_8", redeem="100")
    key = str(uuid.uuid4())
    statuses: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker() -> None:
        with service.client() as c:
            reply = post(c, "/purchases", body, key)
        with lock:
            statuses.append((reply.status_code, reply.json().get("purchase_id", "")))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [(201, body["purchase_id"])] * 8
    assert ledger_balance(service, "c_8") == Decimal(400)
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
        holds = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "hold")
        )
        assert holds == 1


def test_split_lines_keep_their_numbers(client: httpx.Client) -> None:
    lines = [line("L1", price="1000.00", line_no=1), line("L1", price="1000.00", line_no=2)]
    body = purchase(redeem="100", lines=lines)
    reply = post(client, "/purchases", body)
    assert reply.status_code == 201, reply.text
    view = client.get(f"/purchases/{body['purchase_id']}").json()
    assert [(ln["line_id"], ln["line_no"]) for ln in view["lines"]] == [("L1", 1), ("L1", 2)]
    assert sum(int(ln["redeem_points"]) for ln in view["lines"]) == 100
    twice = purchase(lines=[line("L1"), line("L1")])
    assert post(client, "/purchases", twice).status_code == 400


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"purchase_id": "p1", "lines": [], "occurred_at": AT}, 400),
        ({"purchase_id": "p1", "lines": [line(qty="-1.000")], "occurred_at": AT}, 400),
        ({"purchase_id": "p1", "lines": [line(price="1e9")], "occurred_at": AT}, 400),
        ({"purchase_id": "p1", "lines": [line()], "occurred_at": AT, "redeem_points": "1.5"}, 400),
        ({"purchase_id": "p1", "lines": [line()], "occurred_at": "yesterday"}, 400),
        (
            {
                "purchase_id": "p1",
                "lines": [line()],
                "occurred_at": AT,
                "customer": {"id": "nobody"},
            },
            404,
        ),
        ({"purchase_id": "p1", "lines": [line()], "occurred_at": AT, "coupons": ["AA006"]}, 422),
    ],
)
def test_bad_purchases_get_a_4xx_envelope_and_change_nothing(
    service: Service, client: httpx.Client, body: dict[str, Any], code: int
) -> None:
    reply = post(client, "/purchases", body)
    assert reply.status_code == code, reply.text
    assert reply.json()["error"]["code"]
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 0


def test_keys_and_unknown_purchases(client: httpx.Client) -> None:
    no_key = client.post("/purchases", json=purchase())
    assert no_key.status_code == 400
    assert "Idempotency-Key" in no_key.json()["error"]["message"]
    assert client.get("/purchases/nope").status_code == 404
    missing = post(client, "/purchases/nope/confirm", {"payments": []})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    garbage = client.post(
        "/purchases",
        content=b"{not json",
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
    )
    assert garbage.status_code == 400


def test_a_line_without_a_category_takes_the_catalogues(
    service: Service, client: httpx.Client
) -> None:
    with transaction(service.factory) as session:
        session.add(
            CatalogueItem(
                sku="GC1000",
                name="Подарочная карта",
                category="gift-cards",
                price=100000,
                updated_at=NOW,
            )
        )
    gift = line(sku="GC1000", category=None)
    del gift["category"]
    reply = client.post(
        "/carts/calculate",
        json={"customer": {"id": "c_1"}, "lines": [gift], "redeem": {"points": "max"}},
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert (data["redeem"]["max_points"], data["totals"]["earn_points"]) == ("0", "0")
    assert data["redeem"]["cap_reasons"] == ["no_eligible_lines"]


def test_phone_and_sms_code_make_the_customer_verified_and_pay_for_the_big_spend(
    service: Service, client: httpx.Client
) -> None:
    add_customer(service.factory, "c_7", "+79007770000", points=5000)
    otp = post(
        client, "/otp/send", {"phone": "+79007770000", "purpose": "identify", "customer_id": "c_7"}
    )
    assert otp.status_code == 200, otp.text
    code = re.search(r"\b(\d{4,6})\b", service.sms.messages_to("+79007770000")[-1])
    assert code is not None
    verified = client.post(
        "/otp/verify", json={"otp_id": otp.json()["otp_id"], "code": code.group(1)}
    )
    token = verified.json()["confirmation_token"]
    ident = {"identifier": {"type": "phone", "value": "+79007770000"}, "confirmation_token": token}
    seen = client.post("/customers/identify", json=ident).json()
    assert seen["customer"]["auth_level"] == "verified"
    assert (
        client.post("/customers/identify", json=ident).json()["customer"]["auth_level"]
        == "verified"
    )
    wrong = client.post("/customers/identify", json={**ident, "confirmation_token": "nope"}).json()
    assert (wrong["customer"]["auth_level"], bool(wrong["message"])) == ("identified", True)

    big = purchase("c_7", redeem="4000", lines=[line(price="10000.00")], confirmation_token=token)
    assert post(client, "/purchases", big).status_code == 201
    again = purchase("c_7", redeem="600", lines=[line(price="10000.00")], confirmation_token=token)
    assert post(client, "/purchases", again).json()["error"]["code"] == "otp_invalid"  # spent
