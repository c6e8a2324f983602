"""Customer accounts over the real API: OTP, registration, welcome bonus, balance, history, coupons.

The service's clock is fixed at NOW, so time passing is simulated by moving rows back in the
database: ``_age_sms`` makes earlier SMS look older (the per-number limit), and tests set an OTP's
``expires_at`` into the past to expire a code or a token.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from processing.admin import create_enrolment_code
from processing.db import transaction
from processing.deps import TillRef
from processing.errors import ApiError
from processing.models import (
    AuditRecord,
    Card,
    Coupon,
    Customer,
    Device,
    LedgerEntry,
    Otp,
    PhoneWelcome,
    ReviewItem,
    SmsSent,
)
from processing.otp import consume_confirmation
from processing.registration import grant_birthday_if_due, grant_welcome_if_due, register
from processing.state import active_program, set_program
from sync.protocol_accounts import RegisterRequest
from tests.processing.conftest import NOW, Service, add_customer

PHONE = "+79001234567"
CONSENTS = {"pd_processing": True, "sms": True, "email": False, "terms_version": "2026-01"}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _use_program(service: Service, name: str) -> None:
    text = resources.files("resources").joinpath("programs", f"{name}.toml").read_text("utf-8")
    with transaction(service.factory) as session:
        set_program(session, text, f"{name}.toml", now=NOW)


def _till(service: Service) -> TillRef:
    with transaction(service.factory) as session:
        device = session.scalars(select(Device)).one()
        return TillRef(device.id, device.store_id, "iport", device.name)


def _age_sms(service: Service, by: timedelta = timedelta(minutes=10)) -> None:
    with transaction(service.factory) as session:
        for row in session.scalars(select(SmsSent)):
            row.sent_at -= by


def _last_code(service: Service, phone: str) -> str:
    texts = service.sms.messages_to(phone)
    assert texts, f"no SMS to {phone}"
    found = re.search(r"\b(\d{4,6})\b", texts[-1])
    assert found, texts[-1]
    return found.group(1)


def _send(c: httpx.Client, phone: str = PHONE, purpose: str = "register", **extra: Any) -> str:
    reply = c.post("/otp/send", json={"phone": phone, "purpose": purpose, **extra}, headers=_key())
    assert reply.status_code == 200, reply.text
    return str(reply.json()["otp_id"])


def _confirm(
    service: Service, c: httpx.Client, phone: str = PHONE, purpose: str = "register"
) -> str:
    otp_id = _send(c, phone, purpose)
    reply = c.post("/otp/verify", json={"otp_id": otp_id, "code": _last_code(service, phone)})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["confirmation_token"])


def _register(c: httpx.Client, phone: str = PHONE, **fields: Any) -> httpx.Response:
    body = {"phone": phone, "first_name": "Анна", "consents": CONSENTS, **fields}
    return c.post("/customers", json=body, headers=_key())


def _error(reply: httpx.Response) -> dict[str, Any]:
    data = reply.json()
    assert set(data) >= {"error"}, data
    error: dict[str, Any] = data["error"]
    assert error["request_id"]
    return error


def _ledger(service: Service, customer_id: str, kind: str | None = None) -> list[LedgerEntry]:
    with transaction(service.factory) as session:
        stmt = select(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
        if kind:
            stmt = stmt.where(LedgerEntry.kind == kind)
        return list(session.scalars(stmt.order_by(LedgerEntry.id)))


def _customer(service: Service, customer_id: str) -> Customer:
    with transaction(service.factory) as session:
        found = session.get(Customer, customer_id)
        assert found is not None
        return found


# -- OTP ------------------------------------------------------------------------------------------
def test_send_and_verify_marks_the_customers_phone_verified(service: Service) -> None:
    add_customer(service.factory, "c_1", PHONE, verified=False)
    with transaction(service.factory) as session:
        session.execute(update(Customer).values(updated_at=NOW - timedelta(days=3)))
    with service.client() as c:
        reply = c.post(
            "/otp/send", json={"phone": "8 900 123-45-67", "purpose": "identify"}, headers=_key()
        )
        assert reply.status_code == 200, reply.text
        sent = reply.json()
        assert sent["expires_at"] == (NOW + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        assert (sent["resend_after_s"], sent["attempts_left"]) == (60, 5)
        assert sent["phone_masked"] == "+7 900 ***-45-67"
        assert sent["server_time"]
        code = _last_code(service, PHONE)
        assert len(code) == 6
        assert service.sms.messages_to(PHONE)[0].startswith("Код для NBclub: ")
        with transaction(service.factory) as session:
            row = session.get(Otp, sent["otp_id"])
            assert row is not None
            assert row.code_hash.startswith("hmac-sha256$")
            assert code not in row.code_hash.split("$")  # no field of it is the code itself
            assert session.scalar(select(func.count()).select_from(SmsSent)) == 1
        reply = c.post("/otp/verify", json={"otp_id": sent["otp_id"], "code": code})
        assert reply.status_code == 200, reply.text
        verified = reply.json()
        assert verified["status"] == "verified"
        assert verified["confirmation_token"].startswith("ct_")
        assert verified["customer_id"] == "c_1"
        assert verified["expires_at"].startswith("2026-11-23T12:10:00")
    with transaction(service.factory) as session:
        row = session.get(Otp, sent["otp_id"])
        assert row is not None and row.token_hash
        assert verified["confirmation_token"] not in row.token_hash
        customer = session.get(Customer, "c_1")
        assert customer is not None
        assert customer.phone_verified is True
        assert customer.updated_at == NOW


def test_wrong_codes_count_attempts_then_the_code_is_dead(service: Service) -> None:
    with service.client() as c:
        otp_id = _send(c)
        code = _last_code(service, PHONE)
        wrong = "0000" if code != "0000" else "1111"
        for left in (4, 3, 2, 1):
            reply = c.post("/otp/verify", json={"otp_id": otp_id, "code": wrong})
            assert reply.status_code == 422
            error = _error(reply)
            assert error["code"] == "otp_invalid"
            assert f"{left} attempt" in error["message"]
        last = c.post("/otp/verify", json={"otp_id": otp_id, "code": wrong})
        assert _error(last)["code"] == "otp_attempts_exceeded"
        right = c.post("/otp/verify", json={"otp_id": otp_id, "code": code})
        assert right.status_code == 422
        assert _error(right)["code"] == "otp_attempts_exceeded"


def test_an_expired_code_is_refused_and_costs_no_attempt(service: Service) -> None:
    with service.client() as c:
        otp_id = _send(c)
        with transaction(service.factory) as session:
            session.execute(
                update(Otp).where(Otp.id == otp_id).values(expires_at=NOW - timedelta(seconds=1))
            )
        reply = c.post("/otp/verify", json={"otp_id": otp_id, "code": _last_code(service, PHONE)})
        assert reply.status_code == 422
        assert _error(reply)["code"] == "otp_expired"
    with transaction(service.factory) as session:
        row = session.get(Otp, otp_id)
        assert row is not None and row.attempts_left == 5 and row.verified_at is None


def test_a_code_from_another_till_or_unknown_is_invalid(service: Service) -> None:
    with transaction(service.factory) as session:
        enrol, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    other = httpx.post(f"{service.base_url}/api/v1/devices/enroll", json={"code": enrol})
    with service.client() as c, service.client(other.json()["token"]) as c2:
        otp_id = _send(c)
        code = _last_code(service, PHONE)
        reply = c2.post("/otp/verify", json={"otp_id": otp_id, "code": code})
        assert _error(reply)["code"] == "otp_invalid"
        unknown = c.post("/otp/verify", json={"otp_id": "o_nothing", "code": code})
        assert _error(unknown)["code"] == "otp_invalid"
        assert c.post("/otp/verify", json={"otp_id": otp_id, "code": code}).status_code == 200


def test_a_second_send_within_a_minute_is_rate_limited(service: Service) -> None:
    with service.client() as c:
        key = _key()
        body = {"phone": PHONE, "purpose": "register"}
        first = c.post("/otp/send", json=body, headers=key)
        assert first.status_code == 200
        assert first.json()["resend_after_s"] == 60  # what the limit below really allows
        replay = c.post("/otp/send", json=body, headers=key)
        assert replay.status_code == 200
        assert replay.headers["Idempotent-Replay"] == "true"
        assert replay.json()["otp_id"] == first.json()["otp_id"]
        assert len(service.sms.sent) == 1  # a replay sends nothing
        again = c.post("/otp/send", json=body, headers=_key())
        assert again.status_code == 429
        assert again.headers["Retry-After"] == "60"
        error = _error(again)
        assert (error["code"], error["retryable"]) == ("rate_limited", True)
        assert "minute" in error["message"]
        _age_sms(service, timedelta(seconds=40))
        assert c.post("/otp/send", json=body, headers=_key()).headers["Retry-After"] == "20"
        _age_sms(service, timedelta(seconds=20))
        assert c.post("/otp/send", json=body, headers=_key()).status_code == 200
    assert len(service.sms.sent) == 2


def test_ten_codes_a_day_to_one_number_at_most(service: Service) -> None:
    with service.client() as c:
        body = {"phone": PHONE, "purpose": "register"}
        for _n in range(10):
            assert c.post("/otp/send", json=body, headers=_key()).status_code == 200
            _age_sms(service, timedelta(minutes=2))
        eleventh = c.post("/otp/send", json=body, headers=_key())
        assert eleventh.status_code == 429, eleventh.text
        assert "24 hours" in _error(eleventh)["message"]
        assert int(eleventh.headers["Retry-After"]) > 3600


def test_wrong_codes_lock_the_number_for_a_day(service: Service) -> None:
    with service.client() as c:
        body = {"phone": PHONE, "purpose": "register"}
        for _round in range(3):  # 3 codes × 5 wrong attempts: 15 wrong codes in a day
            sent = c.post("/otp/send", json=body, headers=_key()).json()
            for _n in range(5):
                c.post("/otp/verify", json={"otp_id": sent["otp_id"], "code": "000000"})
            _age_sms(service, timedelta(minutes=2))
        locked = c.post("/otp/send", json=body, headers=_key())
        assert locked.status_code == 429, locked.text
        assert "locked" in _error(locked)["message"]
        other = c.post("/otp/send", json={**body, "phone": "+79001112233"}, headers=_key())
        assert other.status_code == 200  # only that number


def test_codes_go_only_to_the_programs_countries(service: Service) -> None:
    with service.client() as c:
        foreign = c.post(
            "/otp/send", json={"phone": "+44 7911 123456", "purpose": "register"}, headers=_key()
        )
        assert foreign.status_code == 422, foreign.text
        assert "+7" in _error(foreign)["message"] and "+44" in _error(foreign)["message"]
    assert service.sms.sent == []


def test_a_flood_of_sms_raises_one_alarm(service: Service) -> None:
    with transaction(service.factory) as session:
        session.add_all(
            SmsSent(phone=f"+7900555{n:04d}", device_id=None, address=None, sent_at=NOW)
            for n in range(998)
        )
    with service.client() as c:
        for phone in ("+79001110001", "+79001110002", "+79001110003"):
            assert (
                c.post(
                    "/otp/send", json={"phone": phone, "purpose": "register"}, headers=_key()
                ).status_code
                == 200
            )
    with transaction(service.factory) as session:
        alarms = session.scalars(select(ReviewItem).where(ReviewItem.kind == "sms_alarm")).all()
    assert len(alarms) == 1 and "1000" in alarms[0].reason


def test_per_device_and_per_address_caps(service: Service) -> None:
    till = _till(service)
    with transaction(service.factory) as session:
        session.add_all(
            SmsSent(
                phone=f"+7900555{n:04d}",
                device_id=till.device_id,
                address="10.1.1.1",
                sent_at=NOW - timedelta(minutes=30),
            )
            for n in range(29)
        )
    with service.client() as c:
        _send(c, "+79001110001")  # the 30th of this till in the hour
        capped = c.post(
            "/otp/send", json={"phone": "+79001110002", "purpose": "register"}, headers=_key()
        )
        assert capped.status_code == 429
        assert capped.headers["Retry-After"] == str(30 * 60)
        assert "30 codes" in _error(capped)["message"]
        with transaction(service.factory) as session:
            session.execute(update(SmsSent).values(device_id="another-till", address="127.0.0.1"))
            session.add_all(
                SmsSent(phone=f"+7900666{n:04d}", address="127.0.0.1", sent_at=NOW)
                for n in range(30)
            )
        by_address = c.post(
            "/otp/send", json={"phone": "+79001110003", "purpose": "register"}, headers=_key()
        )
        assert by_address.status_code == 429
        assert "network address" in _error(by_address)["message"]
        assert by_address.headers["Retry-After"] == str(30 * 60)


def test_a_failing_gateway_answers_503_and_counts_nothing(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processing.sms import SmsError

    def broken(phone: str, text: str) -> None:
        raise SmsError("The SMS gateway sms.example refused the SMS with HTTP 500")

    key = _key()
    body = {"phone": PHONE, "purpose": "register"}
    with service.client() as c:
        monkeypatch.setattr(service.sms, "send", broken)
        reply = c.post("/otp/send", json=body, headers=key)
        assert reply.status_code == 503
        error = _error(reply)
        assert (error["code"], error["retryable"]) == ("unavailable", True)
        assert "HTTP 500" in error["message"]
        with transaction(service.factory) as session:
            assert session.scalar(select(func.count()).select_from(SmsSent)) == 0
            assert session.scalar(select(func.count()).select_from(Otp)) == 0
        monkeypatch.undo()
        retry = c.post("/otp/send", json=body, headers=key)  # same key: now it goes through
        assert retry.status_code == 200, retry.text
        assert "Idempotent-Replay" not in retry.headers
    assert len(service.sms.sent) == 1


def test_send_for_a_customer_checks_the_customer_and_phone(service: Service) -> None:
    add_customer(service.factory, "c_1", PHONE)
    with service.client() as c:
        ok = _send(c, PHONE, "redeem", customer_id="c_1")
        assert ok.startswith("o_")
        assert "оплаты баллами" in service.sms.messages_to(PHONE)[0]
        other = c.post(
            "/otp/send",
            json={"phone": "+79007654321", "purpose": "redeem", "customer_id": "c_1"},
            headers=_key(),
        )
        assert other.status_code == 422
        assert _error(other)["code"] == "validation_error"
        nobody = c.post(
            "/otp/send",
            json={"phone": "+79007654321", "purpose": "redeem", "customer_id": "c_404"},
            headers=_key(),
        )
        assert nobody.status_code == 404


def test_verify_with_an_idempotency_key_replays_the_same_answer(service: Service) -> None:
    with service.client() as c:
        otp_id = _send(c)
        code = _last_code(service, PHONE)
        wrong = "0000" if code != "0000" else "1111"
        key = _key()
        first = c.post("/otp/verify", json={"otp_id": otp_id, "code": wrong}, headers=key)
        again = c.post("/otp/verify", json={"otp_id": otp_id, "code": wrong}, headers=key)
        assert first.status_code == again.status_code == 422
        assert _error(again)["message"] == _error(first)["message"]
        assert again.headers["Idempotent-Replay"] == "true"
        with transaction(service.factory) as session:
            row = session.get(Otp, otp_id)
            assert row is not None and row.attempts_left == 4  # counted once
        key = _key()
        ok = c.post("/otp/verify", json={"otp_id": otp_id, "code": code}, headers=key)
        replay = c.post("/otp/verify", json={"otp_id": otp_id, "code": code}, headers=key)
        assert ok.status_code == replay.status_code == 200
        assert replay.json()["confirmation_token"] == ok.json()["confirmation_token"]


# -- registration and the welcome bonus -----------------------------------------------------------
def test_a_verified_registration_gets_the_welcome_bonus_once(service: Service) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        token = _confirm(service, c)
        reply = _register(
            c,
            confirmation_token=token,
            last_name="Смирнова",
            birth_date="1990-05-01",
            email="anna@example.ru",
            card_number="2200000000019",
            occurred_at="2026-11-23T14:59:00+03:00",
        )
        assert reply.status_code == 201, reply.text
        data = reply.json()
        assert data["status"] == "created"
        customer = data["customer"]
        assert re.fullmatch(r"c_[0-9a-f]{12}", customer["id"])
        assert customer["phone_confirmed"] is True
        assert customer["auth_level"] == "verified"
        assert customer["display_name"] == "Анна С."
        assert data["card"] == {"number": "2200000000019", "status": "bound"}
        assert data["welcome_points"] == "200"
        assert data["profile_points"] == "100"  # an e-mail and a birth date with a verified phone
        assert data["balance"]["available"] == "300"
        again = _register(c, first_name="Другое имя")
        assert again.status_code == 200
        assert again.json()["status"] == "already_exists"
        assert again.json()["customer"]["id"] == customer["id"]
        assert again.json()["welcome_points"] is None
    welcome = _ledger(service, customer["id"], "welcome")
    assert [e.amount for e in welcome] == [Decimal(200)]
    lot = welcome[0]
    with transaction(service.factory) as session:
        program = active_program(session).program
        stored = session.get(Customer, customer["id"])
        assert stored is not None
        assert stored.first_name == "Анна" and stored.email == "anna@example.ru"
        assert stored.birth_date == date(1990, 5, 1)
        assert stored.consents == CONSENTS
        card = session.get(Card, "2200000000019")
        assert card is not None and card.customer_id == customer["id"]
        assert session.get(PhoneWelcome, PHONE) is not None
        audits = list(
            session.scalars(select(AuditRecord.action).where(AuditRecord.subject == customer["id"]))
        )
        assert audits.count("customer.register") == 2
        assert "bonus.welcome" in audits
    assert lot.is_lot and lot.available_from == NOW
    assert lot.expires_at == program.earn_expires_at(NOW)
    assert (lot.store_id, lot.chain_id, lot.device_id) == (
        "iport-msk-1",
        "iport",
        _till(service).device_id,
    )


def test_the_same_phone_after_delete_gets_no_second_welcome(service: Service) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        first = _register(c, confirmation_token=_confirm(service, c)).json()["customer"]["id"]
        with transaction(service.factory) as session:
            session.execute(update(Customer).where(Customer.id == first).values(deleted=True))
        _age_sms(service)
        reply = _register(c, confirmation_token=_confirm(service, c))
        assert reply.status_code == 201, reply.text
        second = reply.json()
        assert second["customer"]["id"] != first
        assert second["welcome_points"] is None
        assert second["balance"]["available"] == "0"
    assert _ledger(service, second["customer"]["id"]) == []
    assert _customer(service, first).phone is None  # released for the new account
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(PhoneWelcome)) == 1


def test_a_customer_who_changes_number_gets_no_second_welcome(service: Service) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        first = _register(c, confirmation_token=_confirm(service, c)).json()["customer"]["id"]
    assert [e.amount for e in _ledger(service, first, "welcome")] == [Decimal(200)]
    till = _till(service)
    with transaction(service.factory) as session:  # the customer moves to a new number
        customer = session.get(Customer, first)
        assert customer is not None
        customer.phone, customer.phone_verified = "+79009998877", True
        program = active_program(session).program
        assert grant_welcome_if_due(session, program, customer, till, NOW) is None
    assert [e.amount for e in _ledger(service, first, "welcome")] == [Decimal(200)]


def test_unverified_registration_gets_the_bonus_when_the_phone_is_verified(
    service: Service,
) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        reply = _register(c)
        assert reply.status_code == 201, reply.text
        data = reply.json()
        customer_id = data["customer"]["id"]
        assert data["customer"]["phone_confirmed"] is False
        assert data["welcome_points"] is None
        assert _ledger(service, customer_id) == []
        again = _register(c, last_name="Смирнова", email="anna@example.ru")
        assert again.status_code == 200
        assert again.json()["status"] == "updated"
        assert again.json()["customer"]["id"] == customer_id
        otp_id = _send(c, PHONE, "identify")
        verified = c.post(
            "/otp/verify", json={"otp_id": otp_id, "code": _last_code(service, PHONE)}
        )
        assert verified.status_code == 200
        assert verified.json()["customer_id"] == customer_id
        balance = c.get(f"/customers/{customer_id}/balance").json()
        assert balance["available"] == "200"
    stored = _customer(service, customer_id)
    assert stored.phone_verified and stored.last_name == "Смирнова"
    assert [e.amount for e in _ledger(service, customer_id, "welcome")] == [Decimal(200)]


def test_a_token_completes_an_unverified_account(service: Service) -> None:
    _use_program(service, "kanistra")
    with service.client() as c:
        token = _confirm(service, c)  # verified before the account existed
        customer_id = _register(c).json()["customer"]["id"]  # e.g. an offline registration
        consents = {**CONSENTS, "sms": False}
        reply = _register(c, confirmation_token=token, consents=consents, birth_date="1991-02-03")
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert (data["status"], data["customer"]["id"]) == ("updated", customer_id)
        assert data["customer"]["phone_confirmed"] is True
        assert data["welcome_points"] == "200"
    stored = _customer(service, customer_id)
    assert stored.consents["sms"] is False and stored.birth_date == date(1991, 2, 3)


def test_a_confirmation_token_is_single_use(service: Service) -> None:
    with service.client() as c:
        token = _confirm(service, c)
        first = _register(c, confirmation_token=token)
        assert first.status_code == 201
        with transaction(service.factory) as session:
            session.execute(update(Customer).values(deleted=True))
        again = _register(c, confirmation_token=token)
        assert again.status_code == 422
        assert _error(again)["code"] == "otp_invalid"
        assert "already been used" in _error(again)["message"]


def test_consume_confirmation_checks_purpose_till_phone_and_life(service: Service) -> None:
    add_customer(service.factory, "c_1", PHONE)
    till = _till(service)
    with service.client() as c:
        otp_id = _send(c, PHONE, "redeem", customer_id="c_1")
        reply = c.post("/otp/verify", json={"otp_id": otp_id, "code": _last_code(service, PHONE)})
        token = reply.json()["confirmation_token"]

    def consume(**overrides: Any) -> str:
        args: dict[str, Any] = {
            "purpose": "redeem",
            "device_id": till.device_id,
            "phone": PHONE,
            "customer_id": "c_1",
            "now": NOW,
        }
        args.update(overrides)
        token_given = args.pop("token", token)
        try:
            with transaction(service.factory) as session:
                consume_confirmation(session, token_given, **args)
        except ApiError as exc:
            return exc.code
        return "ok"

    assert consume(token=None) == "otp_required"
    assert consume(token="ct_not-a-token") == "otp_invalid"
    assert consume(purpose="register") == "otp_invalid"
    assert consume(device_id="other-till") == "otp_invalid"
    assert consume(phone="+79007654321") == "otp_invalid"
    assert consume(customer_id="c_2") == "otp_invalid"
    assert consume(now=NOW + timedelta(minutes=10)) == "otp_expired"
    assert consume() == "ok"
    assert consume() == "otp_invalid"  # used


def test_registration_is_idempotent_by_key(service: Service) -> None:
    body = {"phone": PHONE, "first_name": "Анна", "consents": CONSENTS}
    with service.client() as c:
        key = _key()
        first = c.post("/customers", json=body, headers=key)
        replay = c.post("/customers", json=body, headers=key)
        assert first.status_code == replay.status_code == 201
        assert replay.headers["Idempotent-Replay"] == "true"
        assert replay.json()["customer"] == first.json()["customer"]
        other = c.post("/customers", json={**body, "first_name": "Ольга"}, headers=key)
        assert other.status_code == 422
        assert _error(other)["code"] == "idempotency_key_reused"
        no_key = c.post("/customers", json=body)
        assert no_key.status_code == 400
        assert _error(no_key)["code"] == "validation_error"
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_a_card_of_another_customer_is_refused(service: Service) -> None:
    add_customer(service.factory, "c_1", "+79007654321", card="2200000000019")
    with service.client() as c:
        reply = _register(c, card_number="2200000000019")
        assert reply.status_code == 422
        error = _error(reply)
        assert error["code"] == "card_already_bound"
        assert error["details"][0]["field"] == "/card_number"
        with transaction(service.factory) as session:
            card = session.get(Card, "2200000000019")
            assert card is not None
            card.status = "blocked"
        blocked = _register(c, card_number="2200000000019")
        assert _error(blocked)["code"] == "card_blocked"
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1  # nothing created


def test_offline_registration_stays_unverified_and_maps_a_known_phone(service: Service) -> None:
    _use_program(service, "kanistra")
    add_customer(service.factory, "c_1", PHONE, verified=False)
    till = _till(service)
    with transaction(service.factory) as session:
        program = active_program(session).program
        known = register(
            session,
            program,
            till,
            RegisterRequest(phone="8 900 123 45 67", first_name="Пётр"),
            NOW,
            offline=True,
        )
        assert (known.status, known.customer.id) == ("already_exists", "c_1")
        new = register(
            session,
            program,
            till,
            RegisterRequest(
                phone="+79005550000",
                confirmation_token="ct_ignored-offline",
                occurred_at=NOW - timedelta(hours=2),
            ),
            NOW,
            offline=True,
        )
        assert new.status == "created"
        assert new.customer.phone_verified is False
        assert new.welcome is None
        assert new.customer.created_at == NOW - timedelta(hours=2)
        assert new.customer.consents["pd_processing"] is False


def test_birthday_bonus_at_most_once_a_year(service: Service) -> None:
    _use_program(service, "kanistra")
    add_customer(service.factory, "c_1", PHONE)
    with transaction(service.factory) as session:
        session.execute(update(Customer).values(birth_date=date(1990, 11, 21)))
    till = _till(service)
    with transaction(service.factory) as session:
        program = active_program(session).program
        customer = session.get(Customer, "c_1")
        assert customer is not None
        entry = grant_birthday_if_due(session, program, customer, till, NOW)
        assert entry is not None and entry.kind == "birthday" and entry.amount == Decimal(300)
        assert customer.last_birthday_bonus == NOW.date()
        assert grant_birthday_if_due(session, program, customer, till, NOW) is None
        later = NOW + timedelta(days=1)
        assert grant_birthday_if_due(session, program, customer, till, later) is None
        next_year = NOW + timedelta(days=365)
        assert grant_birthday_if_due(session, program, customer, till, next_year) is not None


# -- balance, history, coupons --------------------------------------------------------------------
def _seed_history(service: Service) -> dict[str, int]:
    add_customer(service.factory, "c_1", PHONE, points=1250)
    ids: dict[str, int] = {}
    with transaction(service.factory) as session:
        opening = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "opening")).one()
        ids["opening"] = opening.id

        def entry(name: str, kind: str, amount: int, ago: timedelta, **extra: Any) -> None:
            row = LedgerEntry(
                customer_id="c_1",
                kind=kind,
                amount=Decimal(amount),
                occurred_at=NOW - ago,
                created_at=NOW - ago,
                store_id="iport-msk-1",
                chain_id="iport",
                **extra,
            )
            session.add(row)
            session.flush()
            ids[name] = row.id

        entry("redeem", "redeem", -200, timedelta(days=5), lot_id=opening.id, purchase_id="p1")
        entry(
            "earn",
            "earn",
            58,
            timedelta(days=5),
            is_lot=True,
            available_from=NOW + timedelta(days=9),
            purchase_id="p1",
            line_id="L1",
        )
        entry(
            "hold",
            "hold",
            -100,
            timedelta(minutes=5),
            lot_id=opening.id,
            expires_at=NOW + timedelta(minutes=25),
            purchase_id="p2",
        )
        entry(
            "old_hold",
            "hold",
            -50,
            timedelta(days=2),
            lot_id=opening.id,
            expires_at=NOW - timedelta(days=2) + timedelta(minutes=30),
        )
        entry(
            "release",
            "release",
            50,
            timedelta(days=2),
            lot_id=opening.id,
            expires_at=NOW - timedelta(days=2) + timedelta(minutes=30),
        )
        entry("adjust", "adjust", -10, timedelta(days=1))
    return ids


def test_balance_counts_holds_and_pending(service: Service) -> None:
    _seed_history(service)
    with service.client() as c:
        reply = c.get("/customers/c_1/balance")
        assert reply.status_code == 200, reply.text
        data = reply.json()
    # 1250 opening - 200 redeemed - 100 held (live hold) - 10 loose adjust; the old hold is over
    assert (data["available"], data["pending"], data["total"]) == ("940", "58", "998")
    assert data["accounts"] == [{"id": "main", "available": "940", "pending": "58"}]
    assert data["next_activation"]["amount"] == "58"
    assert data["server_time"]


def test_history_hides_holds_and_pages_newest_first(service: Service) -> None:
    ids = _seed_history(service)
    with service.client() as c:
        first = c.get("/customers/c_1/history", params={"limit": 2})
        assert first.status_code == 200, first.text
        page1 = first.json()
        assert [i["kind"] for i in page1["items"]] == ["adjust", "earn"]
        assert page1["items"][0]["amount"] == "-10"
        earn = page1["items"][1]
        assert earn["amount"] == "+58"
        assert (earn["purchase_id"], earn["line_id"], earn["store_id"]) == (
            "p1",
            "L1",
            "iport-msk-1",
        )
        assert earn["available_from"].startswith("2026-12-02")
        assert earn["id"] == str(ids["earn"])
        assert page1["next_cursor"]
        second = c.get(
            "/customers/c_1/history", params={"limit": 2, "cursor": page1["next_cursor"]}
        ).json()
        assert [i["kind"] for i in second["items"]] == ["redeem", "opening"]
        assert [i["amount"] for i in second["items"]] == ["-200", "+1250"]
        assert second["next_cursor"] is None
        everything = c.get("/customers/c_1/history").json()
        kinds = [i["kind"] for i in everything["items"]]
        assert "hold" not in kinds and "release" not in kinds and len(kinds) == 4
        recent = c.get(
            "/customers/c_1/history", params={"since": (NOW - timedelta(days=3)).isoformat()}
        ).json()
        assert [i["kind"] for i in recent["items"]] == ["adjust"]
        for params in (
            {"cursor": "not-a-cursor"},
            {"limit": 0},
            {"limit": 201},
            {"since": "yesterday"},
            {"since": "2026-11-01T00:00:00"},
        ):
            bad = c.get("/customers/c_1/history", params=params)
            assert bad.status_code == 400, params
            assert _error(bad)["code"] == "validation_error"


def test_coupons_with_their_status(service: Service) -> None:
    add_customer(service.factory, "c_1", PHONE)
    with transaction(service.factory) as session:
        for code, start, end, status in (
            ("NB-LIVE", -5, 10, "issued"),
            ("NB-SOON", 2, 20, "issued"),
            ("NB-OVER", -30, -1, "issued"),
            ("NB-USED", -5, 30, "used"),
        ):
            session.add(
                Coupon(
                    code=code,
                    customer_id="c_1",
                    title=f"−10% {code}",
                    discount_pct=Decimal(10),
                    valid_from=NOW + timedelta(days=start),
                    valid_till=NOW + timedelta(days=end),
                    status=status,
                )
            )
    with service.client() as c:
        reply = c.get("/customers/c_1/coupons")
        assert reply.status_code == 200, reply.text
        items = reply.json()["items"]
    assert [(i["code"], i["status"]) for i in items] == [
        ("NB-OVER", "expired"),
        ("NB-LIVE", "active"),
        ("NB-SOON", "not_yet_active"),
        ("NB-USED", "used"),
    ]
    assert items[1]["title"] == "−10% NB-LIVE"


def test_unknown_or_deleted_customers_are_404(service: Service) -> None:
    add_customer(service.factory, "c_gone", PHONE)
    with transaction(service.factory) as session:
        session.execute(update(Customer).values(deleted=True, merged_into="c_new"))
    with service.client() as c:
        for path in ("balance", "history", "coupons"):
            for customer_id in ("c_nobody", "c_gone"):
                reply = c.get(f"/customers/{customer_id}/{path}")
                assert reply.status_code == 404, (path, customer_id)
                assert _error(reply)["code"] == "not_found"
        assert "merged into c_new" in _error(c.get("/customers/c_gone/balance"))["message"]
    unauthenticated = httpx.get(f"{service.base_url}/api/v1/customers/c_gone/balance")
    assert unauthenticated.status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/otp/send", {"phone": "abc", "purpose": "register"}, "/phone"),
        ("/otp/send", {"phone": "+7900", "purpose": "register"}, "/phone"),
        ("/otp/send", {"phone": PHONE}, "/purpose"),
        ("/otp/send", {"phone": PHONE, "purpose": "spam"}, "/purpose"),
        ("/otp/send", {"phone": PHONE, "purpose": "register", "extra": 1}, "/extra"),
        ("/otp/verify", {"otp_id": "o_1", "code": "12a4"}, "/code"),
        ("/otp/verify", {"otp_id": "o_1"}, "/code"),
        ("/customers", {"phone": PHONE, "birth_date": "1990-13-01"}, "/birth_date"),
        ("/customers", {"phone": PHONE, "birth_date": "2030-01-01"}, "/birth_date"),
        ("/customers", {"phone": PHONE, "email": "not-an-email"}, "/email"),
        ("/customers", {"phone": PHONE, "card_number": "2200000000018"}, "/card_number"),
        ("/customers", {"phone": PHONE, "occurred_at": "2026-11-23T12:00:00"}, "/occurred_at"),
        ("/customers", {"phone": PHONE, "consents": {"pd_processing": "maybe"}}, None),
        ("/customers", {"phone": "8 800 ABC"}, "/phone"),
        ("/customers", [], None),
    ],
)
def test_malformed_bodies_get_the_400_envelope(
    service: Service, path: str, body: Any, field: str | None
) -> None:
    with service.client() as c:
        full = body
        if path == "/customers" and isinstance(body, dict):
            full = {**body, "consents": body.get("consents", CONSENTS)}
        reply = c.post(path, json=full, headers=_key())
        assert reply.status_code == 400, reply.text
        error = _error(reply)
        assert error["code"] == "validation_error"
        assert error["message"]
        if field:
            assert any(d["field"].startswith(field) for d in error["details"]), error
        broken = c.post(
            path, content=b"{not json", headers={**_key(), "Content-Type": "application/json"}
        )
        assert broken.status_code == 400
    assert service.sms.sent == []


def test_registration_needs_consent_to_personal_data(service: Service) -> None:
    with service.client() as c:
        reply = _register(c, consents={"pd_processing": False, "sms": True})
        assert reply.status_code == 422
        error = _error(reply)
        assert error["code"] == "validation_error"
        assert error["details"][0]["field"] == "/consents/pd_processing"


def test_concurrent_sends_to_one_number_send_one_sms(service: Service) -> None:
    def send(_: int) -> int:
        with service.client() as c:
            body = {"phone": PHONE, "purpose": "register"}
            return c.post("/otp/send", json=body, headers=_key()).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(send, range(6)))
    assert statuses == [200, 429, 429, 429, 429, 429]
    assert len(service.sms.sent) == 1


def test_concurrent_registrations_of_one_phone_make_one_customer(service: Service) -> None:
    def post(n: int) -> tuple[int, str]:
        with service.client() as c:
            reply = _register(c, first_name=f"Имя{n}")
            return reply.status_code, reply.json()["customer"]["id"]

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(post, range(5)))
    assert sorted(status for status, _ in results) == [200, 200, 200, 200, 201]
    assert len({customer_id for _, customer_id in results}) == 1
    with transaction(service.factory) as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
