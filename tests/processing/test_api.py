"""The processing API against a real server on loopback, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from cashier.identifiers import sign_wallet_token
from processing import deps, wallet_keys
from processing.admin import create_enrolment_code
from processing.db import transaction
from processing.models import Device
from tests.processing.conftest import NOW, Service, add_customer


def test_health_and_openapi(service: Service) -> None:
    reply = httpx.get(f"{service.base_url}/api/v1/health")
    assert reply.status_code == 200
    assert reply.json()["status"] == "ok"
    assert reply.headers["X-Request-Id"]
    schema = httpx.get(f"{service.base_url}/api/v1/openapi.json").json()
    for path in ("/api/v1/customers/identify", "/api/v1/carts/calculate", "/api/v1/sync/customers"):
        assert path in schema["paths"]


def test_requests_without_a_valid_token_get_401_in_the_envelope(service: Service) -> None:
    body = {"identifier": {"type": "phone", "value": "+79001234567"}}
    reply = httpx.post(f"{service.base_url}/api/v1/customers/identify", json=body)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthenticated"
    with service.client("not-a-token") as c:
        assert c.post("/customers/identify", json=body).status_code == 401


def test_enrolment_code_is_single_use(service: Service) -> None:
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    url = f"{service.base_url}/api/v1/devices/enroll"
    assert httpx.post(url, json={"code": code.lower()}).status_code == 201
    again = httpx.post(url, json={"code": code})
    assert again.status_code == 403
    assert "already used" in again.json()["error"]["message"]
    assert httpx.post(url, json={"code": "AAAA-BBBB-CCCC"}).status_code == 403


def test_identify_by_phone_card_and_wallet_qr(service: Service) -> None:
    add_customer(service.factory, "c_1", "+79001234567", points=1250, card="2200000000019")
    with service.client() as c:
        for ident in (
            {"type": "phone", "value": "8 900 123-45-67"},
            {"type": "card", "value": "2200000000019"},
            {"type": "qr", "value": "+7 (900) 123 45 67"},
        ):
            reply = c.post("/customers/identify", json={"identifier": ident})
            assert reply.status_code == 200, reply.text
            data = reply.json()
            assert data["status"] == "found", ident
            assert data["customer"]["id"] == "c_1"
            assert data["customer"]["display_name"] == "Иван П."
            assert data["customer"]["phone_masked"] == "+7 900 ***-45-67"
            assert data["balance"]["available"] == "1250"
            assert data["customer"]["auth_level"] == "identified"
        token = sign_wallet_token(service.wallet_private(), "c_1", NOW + timedelta(days=1))
        data = c.post(
            "/customers/identify", json={"identifier": {"type": "qr", "value": token}}
        ).json()
        assert (data["status"], data["customer"]["auth_level"]) == ("found", "verified")
        other_key_token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        bad = c.post(
            "/customers/identify", json={"identifier": {"type": "qr", "value": other_key_token}}
        ).json()
        assert bad["status"] == "unrecognised" and bad["message"]
        nobody = c.post(
            "/customers/identify", json={"identifier": {"type": "phone", "value": "+79009999999"}}
        )
        assert nobody.json()["status"] == "not_found"
        noise = c.post(
            "/customers/identify", json={"identifier": {"type": "qr", "value": "\x1b[ЙЦУК"}}
        )
        assert noise.status_code == 200 and noise.json()["status"] == "unrecognised"


def _cart(
    customer: str | None, price: str = "10000.00", redeem: str = "0", pay: str = "sbp"
) -> dict[str, object]:
    body: dict[str, object] = {
        "lines": [
            {
                "line_id": "L1",
                "line_no": 1,
                "sku": "4601234567890",
                "category": "smartphones",
                "qty": "1.000",
                "unit_price": price,
            }
        ],
        "redeem": {"points": redeem},
        "payments_hint": [{"type": pay}],
    }
    if customer:
        body["customer"] = {"id": customer}
    return body


def test_calculate_follows_the_rules_engine(service: Service) -> None:
    add_customer(service.factory, "c_2", "+79001234568", points=20_000)
    with service.client() as c:
        sbp = c.post("/carts/calculate", json=_cart("c_2")).json()
        assert sbp["totals"]["earn_points"] == "250"
        assert sbp["rules_version"].startswith("2026-11-01")
        card = c.post("/carts/calculate", json=_cart("c_2", pay="card")).json()
        assert card["totals"]["earn_points"] == "150"
        most = c.post("/carts/calculate", json=_cart("c_2", redeem="max", pay="card")).json()
        assert most["redeem"]["max_points"] == "5000"  # Start: 50 %
        assert most["redeem"]["cap_reasons"] == ["tier_share"]
        assert most["totals"]["to_pay"] == "5000.00"
        assert most["lines"][0]["final_amount"] == "5000.00"
        anonymous = c.post("/carts/calculate", json=_cart(None)).json()
        assert anonymous["totals"]["earn_points"] == "0"
        unknown = c.post("/carts/calculate", json=_cart("c_missing"))
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_bad_input_gets_a_4xx_envelope_never_a_500(service: Service) -> None:
    with service.client() as c:
        malformed = c.post(
            "/carts/calculate", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"] == "validation_error"
        wrong = _cart("c_x")
        wrong["lines"][0]["qty"] = "-1"  # type: ignore[index]
        reply = c.post("/carts/calculate", json=wrong)
        assert reply.status_code == 400
        assert reply.json()["error"]["details"][0]["field"].startswith("/lines/0/qty")
        huge = c.post(
            "/carts/calculate",
            content=b"x" * (3 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413
        payments = _cart(None)
        payments["payments_hint"] = [{"type": "card", "amount": "1.00"}]
        reply = c.post("/carts/calculate", json=payments)
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "validation_error"
        extra = _cart(None)
        extra["surprise"] = 1
        assert c.post("/carts/calculate", json=extra).status_code == 400


def test_rules_are_versioned(service: Service) -> None:
    with service.client() as c:
        rules = c.get("/sync/rules").json()
        assert rules["offline_redeem"]["max_points_per_customer_per_day"] == "1000"
        assert (rules["wallet_public_key"], rules["wallet_keys"]) == (None, [])  # none made yet
        current = {"since_version": rules["version"], "keys_tag": rules["wallet_keys_tag"]}
        assert c.get("/sync/rules", params=current).status_code == 304
        service.wallet_private()  # what `processing serve` or the first `wallet-token` does
        wallet_keys.forget_cache()
        rules = c.get("/sync/rules", params=current).json()  # the keys changed: not a 304
        assert rules["wallet_public_key"] == rules["wallet_keys"][0]["public_key"]
        assert c.get("/sync/rules", params={"since_version": rules["version"]}).status_code == 304


def test_customer_sync_pages_by_cursor_with_minimal_pii(service: Service) -> None:
    for i in range(5):
        add_customer(service.factory, f"c_{i:03d}", f"+7900123450{i}", points=i * 10)
    seen: list[str] = []
    cursor = None
    with service.client() as c:
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = c.get("/sync/customers", params=params).json()
            for item in page["items"]:
                assert 0 <= item["phone_lookup"]["bucket"] < 2**16
                assert len(item["phone_lookup"]["digest"]) == 32
                text = str(item)
                assert "phone" not in item and "first_name" not in item
                assert "+7900" not in text and "***" not in text and "Петров" not in text
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == [f"c_{i:03d}" for i in range(5)]
        assert c.get("/sync/customers", params={"cursor": "!!"}).status_code == 400


def test_a_disabled_till_is_refused_once_its_cached_key_lapses(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deps, "AUTH_CACHE_S", 0.2)
    body = {"identifier": {"type": "phone", "value": "+79001234567"}}
    with service.client() as c:
        assert (
            c.post("/customers/identify", json=body, headers={"X-Request-Id": "r-1"}).headers[
                "X-Request-Id"
            ]
            == "r-1"
        )
        with transaction(service.factory) as session:
            session.execute(update(Device).values(disabled=True))
        time.sleep(0.3)
        refused = c.post("/customers/identify", json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
