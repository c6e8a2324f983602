"""An existing customer completing the profile instead of registering twice, and the profile bonus
(SQLite and PostgreSQL): only missing details are filled in, only with a confirmation token, the
bonus once per customer ever and only in a program that has one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cashier.errors import ProgramError
from cashier.program import load_preset, parse_program
from processing.db import transaction
from processing.models import AuditRecord, Customer, ProfileBonus
from processing.otp import consume_confirmation
from tests.processing.conftest import NOW, Service, add_customer
from tests.processing.test_accounts import (
    PHONE,
    _age_sms,
    _confirm,
    _customer,
    _error,
    _ledger,
    _register,
    _till,
    _use_program,
)


def _identify(c: httpx.Client, phone: str = PHONE) -> dict[str, Any]:
    reply = c.post("/customers/identify", json={"identifier": {"type": "phone", "value": phone}})
    assert reply.status_code == 200, reply.text
    customer: dict[str, Any] = reply.json()["customer"]
    return customer


def _profile_lots(service: Service, customer_id: str) -> list[Decimal]:
    return [e.amount for e in _ledger(service, customer_id, "profile")]


def test_a_verified_customer_completes_the_profile_once(service: Service) -> None:
    _use_program(service, "kanistra")
    add_customer(service.factory, "c_1", PHONE, first_name="Иван")
    with service.client() as c:
        assert _identify(c)["missing"] == ["email", "birth_date"]
        details = {"email": "ivan@example.ru", "birth_date": "1990-05-01", "first_name": "Пётр"}

        without = _register(c, **details)  # no token: nothing changes
        assert without.status_code == 200, without.text
        data = without.json()
        assert (data["status"], data["customer"]["id"]) == ("already_exists", "c_1")
        assert (data["completed"], data["profile_points"]) == ([], None)
        stored = _customer(service, "c_1")
        assert stored.email is None and stored.birth_date is None

        token = _confirm(service, c)  # purpose register
        reply = _register(c, confirmation_token=token, **details)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert (data["status"], data["customer"]["id"]) == ("updated", "c_1")
        assert data["completed"] == ["email", "birth_date"]  # the name is not overwritten
        assert data["profile_points"] == "100"
        assert data["welcome_points"] is None
        assert data["customer"]["missing"] == []
        assert data["customer"]["auth_level"] == "verified"
        assert data["balance"]["available"] == "100"
        assert _identify(c)["missing"] == []

        reused = _register(c, confirmation_token=token, email="other@example.ru")
        assert reused.status_code == 422  # a register token is spent
        assert _error(reused)["code"] == "otp_invalid"

        _age_sms(service)
        again = _register(
            c, confirmation_token=_confirm(service, c), email="new@example.ru", birth_date=None
        )
        assert again.status_code == 200, again.text
        assert again.json()["status"] == "updated"
        assert (again.json()["completed"], again.json()["profile_points"]) == ([], None)

        history = c.get("/customers/c_1/history").json()["items"]
        assert [(i["kind"], i["amount"]) for i in history] == [("profile", "+100")]
    stored = _customer(service, "c_1")
    assert (stored.first_name, stored.email) == ("Иван", "ivan@example.ru")
    assert stored.birth_date == date(1990, 5, 1)
    assert _profile_lots(service, "c_1") == [Decimal(100)]
    lot = _ledger(service, "c_1", "profile")[0]
    assert (
        lot.is_lot and lot.store_id == "iport-msk-1" and lot.device_id == _till(service).device_id
    )
    with transaction(service.factory) as session:
        assert session.get(ProfileBonus, "c_1") is not None
        actions = list(
            session.scalars(select(AuditRecord.action).where(AuditRecord.subject == "c_1"))
        )
    assert actions.count("customer.profile_completed") == 2
    assert actions.count("bonus.profile") == 1


def test_an_identify_token_completes_and_stays_usable_for_the_sale(service: Service) -> None:
    _use_program(service, "kanistra")
    add_customer(service.factory, "c_1", PHONE, first_name="Иван")
    with transaction(service.factory) as session:
        customer = session.get(Customer, "c_1")
        assert customer is not None
        customer.email = "ivan@example.ru"
        customer.first_name = None
        customer.consents = {"pd_processing": True, "sms": False, "email": False}
    with service.client() as c:
        assert _identify(c)["missing"] == ["birth_date"]
        token = _confirm(service, c, purpose="identify")
        consents = {"sms": True, "email": True, "terms_version": "2026-02"}
        reply = _register(
            c,
            confirmation_token=token,
            first_name="Иван",
            birth_date="1985-03-04",
            email="other@example.ru",
            consents=consents,
        )
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert data["status"] == "updated"
        assert data["completed"] == ["birth_date", "first_name"]
        assert data["profile_points"] == "100"
        assert data["customer"]["display_name"] == "Иван П."
    stored = _customer(service, "c_1")
    assert stored.email == "ivan@example.ru"  # never overwritten
    assert stored.consents == {
        "pd_processing": True,  # not taken back by a completion that did not send it
        "sms": True,
        "email": True,
        "terms_version": "2026-02",
    }
    with transaction(service.factory) as session:  # the sale may still spend it to pay with points
        consume_confirmation(
            session,
            token,
            purpose=("redeem", "identify"),
            device_id=_till(service).device_id,
            customer_id="c_1",
            now=NOW,
        )


def test_no_profile_bonus_in_a_program_without_one(service: Service) -> None:
    add_customer(service.factory, "c_1", PHONE)  # the service runs NBclub
    with service.client() as c:
        reply = _register(c, confirmation_token=_confirm(service, c), email="ivan@example.ru")
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert (data["status"], data["completed"]) == ("updated", ["email"])
        assert data["profile_points"] is None
    assert _profile_lots(service, "c_1") == []
    assert load_preset("nbclub").profile_bonus is None


def test_a_bad_token_changes_nothing(service: Service) -> None:
    _use_program(service, "kanistra")
    add_customer(service.factory, "c_1", PHONE)
    add_customer(service.factory, "c_2", "+79007654321")
    with service.client() as c:
        other = _confirm(service, c, phone="+79007654321")
        reply = _register(c, confirmation_token=other, email="ivan@example.ru")
        assert reply.status_code == 422
        assert _error(reply)["code"] == "otp_invalid"
        unknown = _register(c, confirmation_token="ct_unknown-token", email="ivan@example.ru")
        assert _error(unknown)["code"] == "otp_invalid"
    assert _customer(service, "c_1").email is None
    assert _profile_lots(service, "c_1") == []


def test_a_new_registration_with_a_token_gets_the_profile_bonus_with_details_only(
    service: Service,
) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        plain = _register(c, confirmation_token=_confirm(service, c))
        assert plain.status_code == 201, plain.text
        assert (plain.json()["welcome_points"], plain.json()["profile_points"]) == ("200", None)
        assert plain.json()["customer"]["missing"] == ["email", "birth_date"]
        other = "+79007654321"
        full = _register(
            c, other, confirmation_token=_confirm(service, c, other), birth_date="1990-05-01"
        )
        assert full.status_code == 201, full.text
        data = full.json()
        assert (data["welcome_points"], data["profile_points"]) == ("200", "100")
        assert data["balance"]["available"] == "300"
        assert data["customer"]["missing"] == ["email"]


def test_details_given_without_a_verified_phone_earn_nothing_later(service: Service) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        created = _register(c, email="anna@example.ru").json()  # no token: unverified
        customer_id = created["customer"]["id"]
        assert created["profile_points"] is None
        token = _confirm(service, c)  # verifying the phone gives the welcome bonus only
        assert [e.kind for e in _ledger(service, customer_id)] == ["welcome"]
        completed = _register(c, confirmation_token=token, birth_date="1991-02-03")
        assert completed.status_code == 200, completed.text
        data = completed.json()
        assert data["status"] == "updated" and data["completed"] == ["birth_date"]
        assert (data["welcome_points"], data["profile_points"]) == (None, "100")
        assert data["balance"]["available"] == "300"
    assert _profile_lots(service, customer_id) == [Decimal(100)]


def test_concurrent_completions_give_one_bonus(service: Service) -> None:
    _use_program(service, "kanistra")
    add_customer(service.factory, "c_1", PHONE)
    with service.client() as c:
        tokens = [_confirm(service, c, purpose="identify")]

    def complete(n: int) -> int:
        with service.client() as c:
            return _register(c, confirmation_token=tokens[0], email=f"n{n}@example.ru").status_code

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(complete, range(4))) == [200] * 4
    assert _profile_lots(service, "c_1") == [Decimal(100)]


def test_the_profile_bonus_in_a_program_file() -> None:
    base = load_preset("kanistra")
    assert base.profile_bonus is not None and base.profile_bonus.points == Decimal(100)
    text = (
        '[program]\ncode = "p"\nname = "P"\nversion = "1"\n'
        '[[tiers.levels]]\ncode = "a"\nname = "A"\nfrom_spend = "0"\n'
        'redeem_cap_pct = "50"\nearn_pct = "1"\n'
    )
    assert parse_program(text).profile_bonus is None
    given = parse_program(text + '[bonuses.profile]\npoints = "50"\n').profile_bonus
    assert given is not None and given.points == Decimal(50)
    for wrong in ('points = "0"', 'points = "1.5"', 'points = "5"\ndays_before = 1', ""):
        with pytest.raises(ProgramError) as caught:
            parse_program(text + "[bonuses.profile]\n" + wrong + "\n")
        assert "bonuses.profile" in str(caught.value)


def test_missing_is_in_every_customer_answer(service: Service) -> None:
    add_customer(service.factory, "c_1", PHONE)
    with transaction(service.factory) as session:
        customer = session.get(Customer, "c_1")
        assert customer is not None
        customer.birth_date = date(1990, 1, 1)
    with service.client() as c:
        assert _identify(c)["missing"] == ["email"]
        by_id = c.post(
            "/customers/identify", json={"identifier": {"type": "customer_id", "value": "c_1"}}
        ).json()
        assert by_id["customer"]["missing"] == ["email"]


def test_completing_an_unverified_account_with_a_token_gives_both_bonuses(
    service: Service,
) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        token = _confirm(service, c)  # verified before the account existed
        customer_id = _register(c).json()["customer"]["id"]  # e.g. an offline registration
        reply = _register(c, confirmation_token=token, birth_date="1991-02-03", last_name="Ли")
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert (data["status"], data["customer"]["id"]) == ("updated", customer_id)
        assert data["completed"] == ["birth_date", "last_name"]
        assert (data["welcome_points"], data["profile_points"]) == ("200", "100")
        assert data["customer"]["missing"] == ["email"]
