"""Issue 12 (wallet QR, finding 6): key ids and rotation, tokens withdrawn per customer, the signing
key kept out of the database, and tills that pin the key at enrolment and take a new one only
with the old one's endorsement.

Reproduced before the fix: the signing key sat in ``service_keys`` in clear (a database dump
carried it); a token named no key, so a key could not be replaced without breaking every token
in wallets; a leaked token could not be withdrawn; and a till took whatever ``wallet_public_key``
the rules carried, so a swapped key made forged QR codes pass offline.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from cashier.errors import WalletKeyUntrusted
from cashier.identifiers import generate_wallet_keypair, sign_wallet_token
from cashier.store.db import Store, open_store
from cashier.store.models import CachedCustomer, Meta, Rules
from cashier.till import Served, Till
from cashier.wallet_token import key_id, public_key_to_text
from processing import wallet_keys
from processing.admin import create_enrolment_code
from processing.db import transaction
from processing.deps import API
from processing.models import Customer, ServiceKey
from sync.client import HttpGateway
from sync.credentials import load_token
from sync.puller import PINNED_WALLET_KEYS, Puller
from sync.runtime import enroll
from tests.processing.conftest import NOW, Service, add_customer, run_cli
from tests.processing.test_isolation import enrol

ISSUED = NOW - timedelta(hours=1)
UNTIL = NOW + timedelta(days=10)


def _identify(service: Service, token: str, bearer: str | None = None) -> dict[str, object]:
    with service.client(bearer) as c:
        reply = c.post("/customers/identify", json={"identifier": {"type": "qr", "value": token}})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _rotate(service: Service, at: datetime = NOW, keep: int = 30) -> wallet_keys.WalletKey:
    with transaction(service.factory) as session:
        return wallet_keys.rotate(session, service.key_file, at, timedelta(days=keep))


def test_the_signing_key_is_in_a_file_of_its_owner_not_in_the_database(service: Service) -> None:
    private = service.wallet_private()
    assert stat.S_IMODE(service.key_file.stat().st_mode) == 0o600
    with transaction(service.factory) as session:
        stored = " ".join(k.value for k in session.scalars(select(ServiceKey)))
    text = public_key_to_text(private)  # the same alphabet the file uses
    assert text not in stored and "wallet_private" not in stored
    token = sign_wallet_token(private, "c_1", UNTIL, issued_at=ISSUED)
    add_customer(service.factory, "c_1", "+79001234567")
    assert _identify(service, token)["status"] == "found"


def test_a_legacy_key_in_the_database_moves_into_the_file(service: Service) -> None:
    private, public = generate_wallet_keypair()
    with transaction(service.factory) as session:
        for name, raw in (("wallet_private", private), ("wallet_public", public)):
            session.add(ServiceKey(name=name, value=wallet_keys._b64(raw)))
    wallet_keys.forget_cache()
    add_customer(service.factory, "c_1", "+79001234567")
    old_token = sign_wallet_token(private, "c_1", UNTIL)  # LW1, as tokens in wallets are
    assert _identify(service, old_token)["status"] == "found"
    assert service.wallet_private() == private
    with transaction(service.factory) as session:
        names = set(session.scalars(select(ServiceKey.name)))
    assert "wallet_private" not in names and "wallet_public" not in names
    wallet_keys.forget_cache()
    assert _identify(service, old_token)["status"] == "found"


def test_a_server_without_the_key_file_says_where_to_copy_it(
    service: Service, tmp_path: Path
) -> None:
    service.wallet_private()
    with (
        transaction(service.factory) as session,
        pytest.raises(wallet_keys.WalletKeyError, match="Скопируйте файл ключа"),
    ):
        wallet_keys.signing_key(session, tmp_path / "elsewhere.key", NOW)
    service.key_file.write_text("{not json")
    with (
        transaction(service.factory) as session,
        pytest.raises(wallet_keys.WalletKeyError, match="не читается"),
    ):
        wallet_keys.signing_key(session, service.key_file, NOW)


def test_rotation_keeps_old_tokens_for_a_while_and_names_the_key(service: Service) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    old_private = service.wallet_private()
    old = sign_wallet_token(old_private, "c_1", UNTIL, issued_at=ISSUED)
    new_key = _rotate(service, NOW - timedelta(days=31), keep=30)  # the old key retired at NOW-1d
    wallet_keys.forget_cache()
    new_private = service.wallet_private()
    assert key_id(new_key.public) == new_key.kid and new_private != old_private
    new = sign_wallet_token(new_private, "c_1", UNTIL, issued_at=ISSUED)
    assert new.split(".")[1] == new_key.kid
    assert _identify(service, new)["status"] == "found"
    assert _identify(service, old)["status"] == "unrecognised"  # its key retired a day ago
    _rotate(service, NOW, keep=30)
    wallet_keys.forget_cache()
    assert _identify(service, new)["status"] == "found"  # kept 30 more days


def test_a_withdrawn_token_is_refused_online_and_a_new_one_works(service: Service) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    private = service.wallet_private()
    leaked = sign_wallet_token(private, "c_1", UNTIL, issued_at=ISSUED)
    legacy = sign_wallet_token(private, "c_1", UNTIL)
    with transaction(service.factory) as session:
        customer = session.get(Customer, "c_1")
        assert customer is not None
        wallet_keys.revoke(customer, NOW - timedelta(minutes=30))
    refused = _identify(service, leaked)
    assert refused["status"] == "unrecognised" and refused["message"]
    assert _identify(service, legacy)["status"] == "unrecognised"  # no issue time: refused too
    fresh = sign_wallet_token(private, "c_1", UNTIL, issued_at=NOW - timedelta(minutes=1))
    assert _identify(service, fresh)["status"] == "found"


def test_the_cli_withdraws_lists_and_rotates(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    key = tmp_path / "keys" / "wallet.key"
    run_cli(db, "program", "set", "nbclub", check=True)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO customers (id, phone, phone_verified, consents, created_at, updated_at,"
            " deleted, opening_spend) VALUES ('c_1', '+79001234567', 1, '{}', '2026-01-01',"
            " '2026-01-01', 0, 0)"
        )
    assert "no wallet key" in run_cli(db, "wallet-key", "list", lang="en", check=True).stdout
    token = run_cli(db, "wallet-token", "c_1", "--wallet-key-file", str(key), check=True).stdout
    assert token.startswith("LW2.") and stat.S_IMODE(key.stat().st_mode) == 0o600
    first = token.split(".")[1]
    rotated = run_cli(db, "wallet-key", "rotate", "--wallet-key-file", str(key), lang="en")
    assert rotated.returncode == 0 and "previous key's tokens are accepted for 30" in rotated.stdout
    listed = run_cli(db, "wallet-key", "list", lang="en", check=True).stdout.splitlines()
    assert listed[0].startswith(first) and "accepted until" in listed[0]
    assert "signs new tokens" in listed[1]
    elsewhere = run_cli(db, "wallet-token", "c_1", "--wallet-key-file", str(tmp_path / "x.key"))
    assert elsewhere.returncode == 2 and "Скопируйте файл ключа" in elsewhere.stderr
    withdrawn = run_cli(db, "wallet-token", "c_1", "--revoke", lang="en", check=True)
    assert "withdrawn" in withdrawn.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT wallet_not_before FROM customers").fetchone()[0]


# -- the till's side ----------------------------------------------------------------------------
@pytest.fixture
def till_folder(service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOYALTY_KEYRING", "file")  # the till's key in its folder, as on a lab till
    service.wallet_private()  # the service has a key before the till enrols: it is pinned
    folder = tmp_path / "till"
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    enroll(folder, service.base_url, code, "till 2")
    return folder


def _pull(service: Service, folder: Path, token: str | None = None) -> Store:
    store = open_store(folder)
    with HttpGateway(service.base_url, token or load_token(folder)) as gateway:
        puller = Puller(store, gateway, clock=lambda: NOW)
        try:
            puller.rules()
            puller.customers()
        except BaseException:
            store.close()
            raise
    return store


def test_a_till_takes_an_endorsed_key_and_verifies_its_tokens_offline(
    service: Service, till_folder: Path
) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    _pull(service, till_folder).close()
    _rotate(service)
    wallet_keys.forget_cache()
    store = _pull(service, till_folder)  # the tag changed: not a 304 although the version did not
    try:
        token = sign_wallet_token(service.wallet_private(), "c_1", UNTIL, issued_at=ISSUED)
        found = Till(store, None, clock=lambda: NOW).identify(token)
        assert (found.status, found.served) == ("found", Served.OFFLINE)
    finally:
        store.close()


def test_a_swapped_key_is_refused_and_the_rules_kept(service: Service, till_folder: Path) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    _pull(service, till_folder).close()
    forger_private, forger_public = generate_wallet_keypair()
    with transaction(service.factory) as session:  # what a man in the middle would send
        session.merge(
            ServiceKey(
                name="wallet_keys",
                value=json.dumps(
                    [wallet_keys.WalletKey(key_id(forger_public), forger_public, NOW).as_json()]
                ),
            )
        )
    wallet_keys.forget_cache()
    with pytest.raises(WalletKeyUntrusted, match="подключить кассу заново"):
        _pull(service, till_folder)
    store = open_store(till_folder)
    try:
        forged = sign_wallet_token(forger_private, "c_1", UNTIL, issued_at=ISSUED)
        assert Till(store, None, clock=lambda: NOW).identify(forged).status == "unrecognised"
        with store.read() as s:
            rules = s.get(Rules, 1)
            assert rules is not None
            assert key_id(forger_public) not in json.dumps(rules.wallet_keys)
    finally:
        store.close()


def test_a_withdrawn_token_is_refused_offline_after_the_sync(
    service: Service, till_folder: Path
) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    leaked = sign_wallet_token(service.wallet_private(), "c_1", UNTIL, issued_at=ISSUED)
    store = _pull(service, till_folder)
    try:
        assert Till(store, None, clock=lambda: NOW).identify(leaked).status == "found"
    finally:
        store.close()
    with transaction(service.factory) as session:
        customer = session.get(Customer, "c_1")
        assert customer is not None
        wallet_keys.revoke(customer, NOW + timedelta(seconds=1))  # a later updated_at: re-sent
    store = _pull(service, till_folder)
    try:
        refused = Till(store, None, clock=lambda: NOW).identify(leaked)
        assert refused.status == "unrecognised" and "отозван" in str(refused.message)
    finally:
        store.close()


def test_enrolment_answers_the_keys_to_pin(service: Service) -> None:
    service.wallet_private()
    token = enrol(service, "iport-spb-1", "till")
    assert token
    with transaction(service.factory) as session:
        code, _ = create_enrolment_code(session, "iport-msk-1", NOW)
    reply = httpx.post(f"{service.base_url}{API}/devices/enroll", json={"code": code, "name": "t"})
    [pinned] = reply.json()["wallet_keys"]
    with transaction(service.factory) as session:
        assert pinned["kid"] == wallet_keys.wallet_keys(session)[-1].kid


def test_a_till_from_before_key_lists_trusts_the_key_it_had(
    service: Service, till_folder: Path
) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    _pull(service, till_folder).close()
    store = open_store(till_folder)
    with store.write() as s:  # as a till upgraded from before key lists has it
        rules = s.get(Rules, 1)
        assert rules is not None
        rules.wallet_keys = None
        s.execute(delete(Meta).where(Meta.key == PINNED_WALLET_KEYS))
    store.close()
    _rotate(service)
    wallet_keys.forget_cache()
    store = _pull(service, till_folder)  # same program version: the "-" tag still gets the list
    try:
        token = sign_wallet_token(service.wallet_private(), "c_1", UNTIL, issued_at=ISSUED)
        assert Till(store, None, clock=lambda: NOW).identify(token).status == "found"
    finally:
        store.close()


def test_a_till_from_before_key_lists_refuses_an_unendorsed_key(
    service: Service, till_folder: Path
) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    _pull(service, till_folder).close()
    store = open_store(till_folder)
    with store.write() as s:
        rules = s.get(Rules, 1)
        assert rules is not None
        rules.wallet_keys = None
        s.execute(delete(Meta).where(Meta.key == PINNED_WALLET_KEYS))
    store.close()
    _swap_in_a_forged_key(service)
    with pytest.raises(WalletKeyUntrusted):
        _pull(service, till_folder)


def _swap_in_a_forged_key(service: Service) -> bytes:
    forger_private, forger_public = generate_wallet_keypair()
    with transaction(service.factory) as session:
        session.merge(
            ServiceKey(
                name="wallet_keys",
                value=json.dumps(
                    [wallet_keys.WalletKey(key_id(forger_public), forger_public, NOW).as_json()]
                ),
            )
        )
    wallet_keys.forget_cache()
    return forger_private


def test_a_refused_key_list_still_lets_the_rest_of_the_sync_through(
    service: Service, till_folder: Path
) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    _pull(service, till_folder).close()
    _swap_in_a_forged_key(service)
    add_customer(service.factory, "c_2", "+79001234568")  # arrives although the keys are refused
    store = open_store(till_folder)
    try:
        with (
            HttpGateway(service.base_url, load_token(till_folder)) as gateway,
            pytest.raises(WalletKeyUntrusted),
        ):
            Puller(store, gateway, clock=lambda: NOW).all()
        with store.read() as s:
            assert s.get(CachedCustomer, "c_2") is not None
    finally:
        store.close()


def test_an_answer_cannot_revive_a_retired_key(service: Service, till_folder: Path) -> None:
    add_customer(service.factory, "c_1", "+79001234567")
    old = sign_wallet_token(service.wallet_private(), "c_1", UNTIL, issued_at=ISSUED)
    _rotate(service, NOW - timedelta(days=1), keep=2)  # the old key retires tomorrow
    wallet_keys.forget_cache()
    store = _pull(service, till_folder)
    try:
        assert Till(store, None, clock=lambda: NOW).identify(old).status == "found"
    finally:
        store.close()
    with transaction(service.factory) as session:  # an answer that says it never retired
        listed = wallet_keys.wallet_keys(session)
        revived = [wallet_keys._retire(k, None) for k in listed]  # type: ignore[arg-type]
        session.merge(
            ServiceKey(name="wallet_keys", value=json.dumps([k.as_json() for k in revived]))
        )
    wallet_keys.forget_cache()
    store = _pull(service, till_folder)
    try:
        later = NOW + timedelta(days=2)  # past the end the till was first told
        assert Till(store, None, clock=lambda: later).identify(old).status == "unrecognised"
    finally:
        store.close()
