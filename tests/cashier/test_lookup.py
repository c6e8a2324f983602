"""Offline lookup keys: a till finds customers by phone or card without holding either."""

from __future__ import annotations

import hashlib
import random

import pytest

from cashier.lookup import (
    DEFAULT_PARAMS,
    LookupKey,
    LookupParams,
    bucket,
    digest,
    key_from_rules,
    matches,
)

KEY = LookupKey(b"k" * 32)


def test_the_same_phone_has_another_digest_for_every_customer() -> None:
    """Salted per customer: one computed table cannot test every customer at once."""
    a = digest("phone", "+79001234567", KEY, "c_1")
    b = digest("phone", "+79001234567", KEY, "c_2")
    assert a != b and len(a) == len(b) == 32
    assert digest("phone", "+79001234567", KEY, "c_1") == a  # deterministic
    assert digest("card", "+79001234567", KEY, "c_1") != a  # kinds apart
    assert digest("phone", "+79001234567", LookupKey(b"x" * 32), "c_1") != a  # keyed
    assert matches("phone", "+79001234567", KEY, "c_1", a)
    assert not matches("phone", "+79001234568", KEY, "c_1", a)


def test_a_bucket_is_short_and_says_little() -> None:
    """16 bits: some 15 000 of the 10^9 Russian mobile numbers share each bucket."""
    rng = random.Random(7)
    phones = [f"+79{rng.randrange(10**9):09d}" for _ in range(20_000)]
    buckets = [bucket("phone", p, KEY) for p in phones]
    assert all(0 <= b < 2**16 for b in buckets)
    assert len(set(buckets)) > 12_000  # spread: not a few crowded buckets
    assert 10**9 // 2**DEFAULT_PARAMS.bucket_bits > 15_000


def test_a_guess_costs_a_memory_hard_hash() -> None:
    """Each guess against one customer is a scrypt of 4 MiB: a bucket of 15 000 candidates is
    about a CPU-minute and a half per customer (the figure docs/protocol.md I gives)."""
    assert DEFAULT_PARAMS.n * DEFAULT_PARAMS.r * 128 >= 4 * 2**20
    assert DEFAULT_PARAMS.scheme == "scrypt-n4096-r8-p1-b16"
    expected = hashlib.scrypt(
        b"phone:+79001234567", salt=KEY.key + b"\x00c_1", n=4096, r=8, p=1, dklen=16
    ).hex()
    assert digest("phone", "+79001234567", KEY, "c_1") == expected


def test_customers_sharing_a_bucket_are_told_apart_by_their_digest() -> None:
    narrow = LookupKey(b"k" * 32, LookupParams(bucket_bits=8, n=1024, r=1))
    phones = {f"c_{i}": f"+7901{i:07d}" for i in range(600)}  # 600 in 256 buckets: shared
    rows = [
        (cid, bucket("phone", p, narrow), digest("phone", p, narrow, cid))
        for cid, p in phones.items()
    ]
    shared = [(cid, b) for cid, b, _ in rows if sum(1 for r in rows if r[1] == b) > 1]
    assert len(shared) > 400  # most customers share their bucket with another
    for cid, b in shared[:40]:
        found = [r[0] for r in rows if r[1] == b and matches("phone", phones[cid], narrow, *r[::2])]
        assert found == [cid]


@pytest.mark.parametrize(
    "raw",
    [
        {"bucket_bits": 4},
        {"bucket_bits": 30},
        {"n": 1000},
        {"n": 512},
        {"n": 2**20},
        {"r": 0},
        {"p": 9},
        {"n": "4096"},
        {"n": True},
        ["n", 4096],
    ],
)
def test_out_of_bounds_parameters_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="lookup"):
        LookupParams.from_json(raw)


def test_the_rules_give_the_key_and_the_parameters() -> None:
    key = key_from_rules("a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s", {"n": 2048})
    assert key.key == b"k" * 32 and key.params == LookupParams(n=2048)
    assert key_from_rules("a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s", None).params == (
        DEFAULT_PARAMS
    )
    with pytest.raises(ValueError, match="lookup key"):
        key_from_rules("a2s", None)
    with pytest.raises(ValueError, match="base64url"):
        key_from_rules("***", None)
