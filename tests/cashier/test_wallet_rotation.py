"""Second-form wallet tokens (key id, issue time), withdrawals and key endorsements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cashier.errors import WalletKeyUntrusted, WalletTokenRejected
from cashier.identifiers import IdentifierKind, classify
from cashier.wallet_token import (
    OfferedKey,
    accept_keys,
    check_not_revoked,
    endorse_key,
    endorsement_holds,
    generate_wallet_keypair,
    key_id,
    sign_wallet_token,
    verify_wallet_token,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
A_PRIVATE, A = generate_wallet_keypair()
B_PRIVATE, B = generate_wallet_keypair()
C_PRIVATE, C = generate_wallet_keypair()


def lw2(private: bytes, issued: datetime = NOW - timedelta(hours=1)) -> str:
    return sign_wallet_token(private, "c_1", NOW + timedelta(days=1), issued_at=issued)


def test_a_second_form_token_names_its_key_and_issue_time() -> None:
    token = lw2(A_PRIVATE)
    prefix, kid, customer, issued, _expires, _sig = token.split(".")
    assert (prefix, kid, customer) == ("LW2", key_id(A), "c_1")
    assert int(issued) == int((NOW - timedelta(hours=1)).timestamp())
    found = verify_wallet_token(token, {key_id(A): A, key_id(B): B}, NOW)
    assert (found.key_id, found.issued_at) == (key_id(A), NOW - timedelta(hours=1))
    assert classify(token).kind is IdentifierKind.WALLET_TOKEN


def test_a_token_of_a_key_not_accepted_is_refused() -> None:
    with pytest.raises(WalletTokenRejected):
        verify_wallet_token(lw2(A_PRIVATE), {key_id(B): B}, NOW)
    with pytest.raises(WalletTokenRejected):
        verify_wallet_token(lw2(A_PRIVATE), {}, NOW)
    forged = lw2(B_PRIVATE).replace(key_id(B), key_id(A))  # names A, signed by B
    with pytest.raises(WalletTokenRejected):
        verify_wallet_token(forged, {key_id(A): A, key_id(B): B}, NOW)
    with pytest.raises(WalletTokenRejected):  # issued tomorrow: not a real token
        verify_wallet_token(lw2(A_PRIVATE, NOW + timedelta(days=1)), A, NOW)


def test_first_form_tokens_match_any_accepted_key() -> None:
    old = sign_wallet_token(B_PRIVATE, "c_1", NOW + timedelta(days=1))
    assert verify_wallet_token(old, {key_id(A): A, key_id(B): B}, NOW).key_id is None


def test_withdrawn_tokens() -> None:
    token = verify_wallet_token(lw2(A_PRIVATE), A, NOW)
    check_not_revoked(token, None)
    check_not_revoked(token, NOW - timedelta(hours=2))
    with pytest.raises(WalletTokenRejected):
        check_not_revoked(token, NOW - timedelta(minutes=30))
    first_form = verify_wallet_token(
        sign_wallet_token(A_PRIVATE, "c_1", NOW + timedelta(1)), A, NOW
    )
    with pytest.raises(WalletTokenRejected):
        check_not_revoked(first_form, NOW - timedelta(days=300))


def test_endorsements_chain_from_a_trusted_key() -> None:
    ab = endorse_key(A_PRIVATE, B)
    bc = endorse_key(B_PRIVATE, C)
    assert endorsement_holds(A, B, ab) and not endorsement_holds(A, C, ab)
    assert not endorsement_holds(A, B, "x" * 86) and not endorsement_holds(A, B, "!")
    offered = [
        OfferedKey(key_id(A), A),
        OfferedKey(key_id(B), B, key_id(A), ab),
        OfferedKey(key_id(C), C, key_id(B), bc),
    ]
    # a till that trusts A and missed two rotations follows the chain to C
    assert accept_keys({key_id(A): A}, offered) == {key_id(k): k for k in (A, B, C)}
    # a till enrolled after the first rotation, and a till that trusts nothing yet
    assert key_id(C) in accept_keys({key_id(B): B}, offered[1:])
    assert accept_keys({}, offered) == {key_id(k): k for k in (A, B, C)}


@pytest.mark.parametrize(
    "offered",
    [
        [OfferedKey(key_id(B), B)],  # a new key, not endorsed
        [OfferedKey(key_id(B), B, key_id(A), endorse_key(C_PRIVATE, B))],  # endorsed by another
        [OfferedKey(key_id(A), B)],  # a known id with another key
        [OfferedKey(key_id(C), B, key_id(A), endorse_key(A_PRIVATE, B))],  # id not the key's
    ],
)
def test_a_key_without_an_endorsed_path_is_refused(offered: list[OfferedKey]) -> None:
    with pytest.raises(WalletKeyUntrusted):
        accept_keys({key_id(A): A}, offered)


def test_trusting_nothing_takes_only_the_first_key_unendorsed() -> None:
    with pytest.raises(WalletKeyUntrusted):
        accept_keys({}, [OfferedKey(key_id(A), A), OfferedKey(key_id(B), B)])


def test_a_list_that_drops_every_trusted_key_is_refused() -> None:
    with pytest.raises(WalletKeyUntrusted):
        accept_keys({key_id(A): A}, [])  # an empty answer would leave the till trusting nothing


def test_a_retired_key_endorses_nothing() -> None:
    offered = [
        OfferedKey(key_id(A), A),
        OfferedKey(key_id(B), B, key_id(A), endorse_key(A_PRIVATE, B)),
    ]
    assert key_id(B) in accept_keys({key_id(A): A}, offered)
    with pytest.raises(WalletKeyUntrusted):
        accept_keys({key_id(A): A}, offered, retired={key_id(A)})
