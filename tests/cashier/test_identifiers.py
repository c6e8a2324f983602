"""Tests of cashier/identifiers.py: phones, cards, wallet tokens, Mindbox QR and classify()."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import phonenumbers
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from cashier import i18n
from cashier import identifiers as ids
from cashier.errors import (
    InvalidCard,
    InvalidPhone,
    InvalidQrPayload,
    UserFacingError,
    WalletTokenRejected,
)
from cashier.i18n import _
from cashier.identifiers import (
    Identifier,
    IdentifierKind,
    MindboxQr,
    WalletToken,
    classify,
    ean13_check_digit,
    generate_wallet_keypair,
    is_valid_ean13,
    mask_phone,
    normalize_card,
    normalize_phone,
    parse_mindbox_qr,
    public_key_from_text,
    public_key_to_text,
    sign_wallet_token,
    verify_wallet_token,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "cashier" / "identifiers.py"
SOURCES = (SOURCE, ROOT / "cashier" / "wallet_token.py")
PO_FILE = ROOT / "resources" / "locale" / "ru" / "LC_MESSAGES" / "identifiers.po"

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PRIVATE, PUBLIC = generate_wallet_keypair()
OTHER_PRIVATE, OTHER_PUBLIC = generate_wallet_keypair()

# What a keyboard-wedge scanner types for each QWERTY character when the Russian layout is active.
_TO_RUSSIAN = str.maketrans(
    "`qwertyuiop[]asdfghjkl;'zxcvbnm,./" + '~QWERTYUIOP{}ASDFGHJKL:"ZXCVBNM<>?',
    "ёйцукенгшщзхъфывапролджэячсмитьбю." + "ЁЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ,",
)


def token(customer_id: str = "c_123", minutes: int = 5) -> str:
    return sign_wallet_token(PRIVATE, customer_id, NOW + timedelta(minutes=minutes))


@pytest.fixture
def language() -> Iterator[None]:
    """Restore the language whatever a test switches it to."""
    before = i18n.get_language()
    yield
    i18n.set_language(before)


# --- phone -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "8 900 123-45-67",
        "+7 (900) 123 45 67",
        "9001234567",
        "89001234567",
        "7 900 1234567",
        "+79001234567",
        " 8-900-123-45-67\t",
        "8 (900) 123\u201145\u00a067",
    ],
)
def test_normalize_phone_accepts_how_cashiers_type_russian_numbers(text: str) -> None:
    assert normalize_phone(text) == "+79001234567"


def test_normalize_phone_keeps_landlines_and_foreign_numbers() -> None:
    assert normalize_phone("8 (495) 123-45-67") == "+74951234567"
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    assert normalize_phone("(202) 555-0100", region="US") == "+12025550100"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ids.PHONE_EMPTY),
        ("   ", ids.PHONE_EMPTY),
        ("900123", ids.PHONE_TOO_SHORT),
        ("+7 900 123 45 6", ids.PHONE_TOO_SHORT),
        ("+1", ids.PHONE_TOO_SHORT),
        ("8 900 123 45 67 890", ids.PHONE_TOO_LONG),
        ("+7 900 123 45 678", ids.PHONE_TOO_LONG),
        ("1" * 16, ids.PHONE_TOO_LONG),
        ("8" * 65, ids.PHONE_TOO_LONG),
        ("abc", ids.PHONE_NOT_A_NUMBER),
        ("8 900 ABC-45-67", ids.PHONE_NOT_A_NUMBER),
        ("8 900 123-45-67 доб. 5", ids.PHONE_NOT_A_NUMBER),
        ("+", ids.PHONE_NOT_A_NUMBER),
        ("++79001234567", ids.PHONE_NOT_A_NUMBER),
        ("８９００１２３４５６７", ids.PHONE_NOT_A_NUMBER),
        ("+999 123 45 67", ids.PHONE_BAD_COUNTRY),
        ("+7 000 000 00 00", ids.PHONE_DOES_NOT_EXIST),
        ("70000000000", ids.PHONE_DOES_NOT_EXIST),
    ],
)
def test_normalize_phone_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(text)
    assert caught.value.message == _(message)
    assert caught.value.code == "invalid_phone"


def test_too_short_too_long_and_not_a_phone_are_different_messages() -> None:
    messages = {ids.PHONE_TOO_SHORT, ids.PHONE_TOO_LONG, ids.PHONE_NOT_A_NUMBER}
    assert len({_(m) for m in messages}) == 3


def test_mask_phone() -> None:
    assert mask_phone("+79001234567") == "+7 900 ***-45-67"
    assert mask_phone("+442079460958") == "+44 207 ***-09-58"


@pytest.mark.parametrize("text", ["79001234567", "+7 900 123 45 67", "", "+0123456789", "+7"])
def test_mask_phone_refuses_what_is_not_e164(text: str) -> None:
    with pytest.raises(InvalidPhone):
        mask_phone(text)


# --- cards -----------------------------------------------------------------------------------
def test_ean13_check_digit() -> None:
    assert ean13_check_digit("400638133393") == 1
    assert ean13_check_digit("460123456789") == 3
    assert ean13_check_digit("000000000000") == 0
    with pytest.raises(ValueError, match="12 digits"):
        ean13_check_digit("46012345678")
    with pytest.raises(ValueError, match="12 digits"):
        ean13_check_digit("46012345678x")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("4006381333931", True),
        ("4601234567893", True),
        ("4601234567890", False),
        ("460123456789", False),
        ("46012345678931", False),
        ("460123456789x", False),
        ("", False),
        ("٤٦٠١٢٣٤٥٦٧٨٩٣", False),  # Arabic-Indic digits are not barcode digits
    ],
)
def test_is_valid_ean13(text: str, valid: bool) -> None:
    assert is_valid_ean13(text) is valid


def test_normalize_card_strips_spaces_and_dashes() -> None:
    assert normalize_card("4601 2345-6789 3") == "4601234567893"
    assert normalize_card(" 12345678 ") == "12345678"
    assert normalize_card("1" * 19) == "1" * 19


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ids.CARD_EMPTY),
        (" - ", ids.CARD_EMPTY),
        ("4601234567O93", ids.CARD_NOT_DIGITS),
        ("1234567", ids.CARD_TOO_SHORT),
        ("1" * 20, ids.CARD_TOO_LONG),
        ("4601234567890", ids.CARD_TYPO),
    ],
)
def test_normalize_card_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidCard) as caught:
        normalize_card(text)
    assert caught.value.message == _(message).format(
        min=ids.CARD_MIN_DIGITS, max=ids.CARD_MAX_DIGITS
    )


# --- wallet token ----------------------------------------------------------------------------
def test_keypair_and_public_key_text() -> None:
    assert len(PRIVATE) == 32
    assert len(PUBLIC) == 32
    text = public_key_to_text(PUBLIC)
    assert "=" not in text
    assert len(text) == 43
    assert public_key_from_text(text) == PUBLIC
    assert public_key_from_text(f" {text}\n") == PUBLIC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        public_key_to_text(PUBLIC) + "=",
        public_key_to_text(PUBLIC) + "A",
        public_key_to_text(PUBLIC)[:-1] + "+",
        public_key_to_text(PUBLIC)[:-1] + "/",
    ],
)
def test_public_key_from_text_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="public key"):
        public_key_from_text(text)


def test_public_key_from_text_rejects_non_canonical_encoding() -> None:
    text = public_key_to_text(PUBLIC)
    # 43 characters carry 258 bits; the last 2 must be zero in the one canonical encoding.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = text[:-1] + alphabet[alphabet.index(text[-1]) ^ 1]
    with pytest.raises(ValueError, match="public key"):
        public_key_from_text(bumped)


def test_public_key_to_text_needs_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        public_key_to_text(b"\x00" * 31)


def test_sign_and_verify() -> None:
    signed = token("c_123", minutes=5)
    assert signed.startswith("LW1.c_123.")
    prefix, customer_id, expires, signature = signed.split(".")
    assert (prefix, customer_id) == ("LW1", "c_123")
    assert int(expires) == int((NOW + timedelta(minutes=5)).timestamp())
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", signature)
    assert verify_wallet_token(signed, PUBLIC, NOW) == WalletToken(
        customer_id="c_123", expires_at=NOW + timedelta(minutes=5)
    )


def test_verified_expiry_is_aware_utc_and_whole_seconds() -> None:
    moscow = timezone(timedelta(hours=3))
    expires = datetime(2026, 5, 1, 15, 5, 30, 999_999, tzinfo=moscow)
    signed = sign_wallet_token(PRIVATE, "c_1", expires)
    result = verify_wallet_token(signed, PUBLIC, NOW)
    assert result.expires_at.tzinfo is UTC
    assert result.expires_at == datetime(2026, 5, 1, 12, 5, 30, tzinfo=UTC)


def _replace_part(signed: str, index: int, value: str) -> str:
    parts = signed.split(".")
    parts[index] = value
    return ".".join(parts)


def _flip_signature_char(signed: str) -> str:
    head, signature = signed.rsplit(".", 1)
    middle = signature[40]
    return f"{head}.{signature[:40]}{'B' if middle == 'A' else 'A'}{signature[41:]}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: _replace_part(t, 1, "c_124"),
        lambda t: _replace_part(t, 2, str(int(t.split(".")[2]) + 3600)),
        _flip_signature_char,
    ],
    ids=["customer_id", "expiry", "signature"],
)
def test_tampered_token_is_not_from_this_program(tamper: Callable[[str], str]) -> None:
    with pytest.raises(WalletTokenRejected) as caught:
        verify_wallet_token(tamper(token()), PUBLIC, NOW)
    assert caught.value.message == _(ids.TOKEN_BAD_SIGNATURE)


def test_token_signed_with_another_key_is_rejected() -> None:
    foreign = sign_wallet_token(OTHER_PRIVATE, "c_123", NOW + timedelta(minutes=5))
    with pytest.raises(WalletTokenRejected) as caught:
        verify_wallet_token(foreign, PUBLIC, NOW)
    assert caught.value.message == _(ids.TOKEN_BAD_SIGNATURE)
    assert verify_wallet_token(foreign, OTHER_PUBLIC, NOW).customer_id == "c_123"


def test_expired_token_within_and_beyond_leeway() -> None:
    signed = token(minutes=0)
    assert verify_wallet_token(signed, PUBLIC, NOW + timedelta(seconds=60)).customer_id == "c_123"
    with pytest.raises(WalletTokenRejected) as caught:
        verify_wallet_token(signed, PUBLIC, NOW + timedelta(seconds=61))
    assert caught.value.message == _(ids.TOKEN_EXPIRED)
    with pytest.raises(WalletTokenRejected):
        verify_wallet_token(signed, PUBLIC, NOW + timedelta(seconds=1), leeway_s=0)
    assert verify_wallet_token(signed, PUBLIC, NOW + timedelta(hours=1), leeway_s=3600)


def test_forged_and_expired_token_is_reported_as_forged() -> None:
    forged = _replace_part(token(minutes=-60), 1, "c_999")
    with pytest.raises(WalletTokenRejected) as caught:
        verify_wallet_token(forged, PUBLIC, NOW)
    assert caught.value.message == _(ids.TOKEN_BAD_SIGNATURE)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: "",
        lambda t: "LW1.c_123.1777593900",
        lambda t: t + "=",
        lambda t: t + ".x",
        lambda t: t[:-1],
        lambda t: "LW2" + t[3:],
        lambda t: _replace_part(t, 1, ""),
        lambda t: _replace_part(t, 1, "c 123"),
        lambda t: _replace_part(t, 1, "c" * 65),
        lambda t: _replace_part(t, 2, "0" + t.split(".")[2]),
        lambda t: _replace_part(t, 2, "-1"),
        lambda t: _replace_part(t, 2, "1" * 12),
        lambda t: " " + t,
    ],
)
def test_malformed_token_is_rejected(make: Callable[[str], str]) -> None:
    with pytest.raises(WalletTokenRejected) as caught:
        verify_wallet_token(make(token()), PUBLIC, NOW)
    assert caught.value.message == _(ids.TOKEN_MALFORMED)


def test_non_canonical_signature_encoding_is_malformed() -> None:
    head, signature = token().rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 86 characters carry 516 bits for a 512-bit signature: the last 4 bits must be zero.
    bumped = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]
    with pytest.raises(WalletTokenRejected) as caught:
        verify_wallet_token(f"{head}.{bumped}", PUBLIC, NOW)
    assert caught.value.message == _(ids.TOKEN_MALFORMED)


def test_programmer_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_wallet_token(token(), PUBLIC, datetime(2026, 5, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_wallet_token(PRIVATE, "c_1", datetime(2026, 5, 1))
    with pytest.raises(ValueError, match="customer_id"):
        sign_wallet_token(PRIVATE, "c.1", NOW)
    with pytest.raises(ValueError, match="customer_id"):
        sign_wallet_token(PRIVATE, "", NOW)
    with pytest.raises(ValueError, match="out of range"):
        sign_wallet_token(PRIVATE, "c_1", datetime(1969, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="32"):
        verify_wallet_token(token(), b"short", NOW)


# --- Mindbox QR ------------------------------------------------------------------------------
def test_parse_mindbox_qr() -> None:
    assert parse_mindbox_qr("QR:79001234567:123456") == MindboxQr("+79001234567", "123456")
    assert parse_mindbox_qr("QR:+79001234567:aB-9_") == MindboxQr("+79001234567", "aB-9_")
    assert parse_mindbox_qr("QR:89001234567:1\r\n").phone == "+79001234567"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("QR:", ids.MINDBOX_MALFORMED),
        ("QR:79001234567", ids.MINDBOX_MALFORMED),
        ("QR:79001234567:", ids.MINDBOX_MALFORMED),
        ("QR:79001234567:12:34", ids.MINDBOX_MALFORMED),
        ("QR:7900abc4567:1234", ids.MINDBOX_MALFORMED),
        ("qr:79001234567:1234", ids.MINDBOX_MALFORMED),
        ("QR:70000000000:1234", ids.MINDBOX_BAD_PHONE),
        ("QR:900123:1234", ids.MINDBOX_BAD_PHONE),
    ],
)
def test_parse_mindbox_qr_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidQrPayload) as caught:
        parse_mindbox_qr(text)
    assert caught.value.message == _(message)


# --- classify --------------------------------------------------------------------------------
def test_identifier_kinds() -> None:
    assert [k.value for k in IdentifierKind] == [
        "phone",
        "card",
        "wallet_token",
        "mindbox_qr",
        "customer_id",
    ]
    assert IdentifierKind("phone") is IdentifierKind.PHONE
    assert f"{IdentifierKind.CARD}" == "card"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("8 900 123-45-67", IdentifierKind.PHONE, "+79001234567"),
        ("+7 (900) 123 45 67", IdentifierKind.PHONE, "+79001234567"),
        ("9001234567", IdentifierKind.PHONE, "+79001234567"),
        ("89001234567", IdentifierKind.PHONE, "+79001234567"),
        ("7 900 1234567", IdentifierKind.PHONE, "+79001234567"),
        ("(495) 123-45-67", IdentifierKind.PHONE, "+74951234567"),
        ("+44 20 7946 0958", IdentifierKind.PHONE, "+442079460958"),
        ("4601234567893", IdentifierKind.CARD, "4601234567893"),
        ("4601 2345 6789 3", IdentifierKind.CARD, "4601234567893"),
        ("12345678", IdentifierKind.CARD, "12345678"),
        ("2200-0000-0001-2345-678", IdentifierKind.CARD, "2200000000012345678"),
        ("80000000000", IdentifierKind.CARD, "80000000000"),  # 11 digits, but no such phone
        ("1234567890", IdentifierKind.CARD, "1234567890"),  # 10 digits not starting with 9
        ("c_123", IdentifierKind.CUSTOMER_ID, "c_123"),
        ("c_A-b_9", IdentifierKind.CUSTOMER_ID, "c_A-b_9"),
        ("QR:79001234567:123456", IdentifierKind.MINDBOX_QR, "QR:79001234567:123456"),
    ],
)
def test_classify_rules(text: str, kind: IdentifierKind, value: str) -> None:
    assert classify(text) == Identifier(kind=kind, value=value, raw=text)


def test_classify_wallet_token_checks_structure_only() -> None:
    signed = token()
    assert classify(signed) == Identifier(IdentifierKind.WALLET_TOKEN, signed, signed)
    # Signed with another program's key: classify accepts it, verify refuses it.
    foreign = sign_wallet_token(OTHER_PRIVATE, "c_1", NOW)
    assert classify(foreign).kind is IdentifierKind.WALLET_TOKEN
    with pytest.raises(WalletTokenRejected):
        verify_wallet_token(classify(foreign).value, PUBLIC, NOW)


@pytest.mark.parametrize("text", ["LW1.", "LW1.c_1.123.abc", "LW1." + "x" * 200])
def test_classify_malformed_wallet_token(text: str) -> None:
    with pytest.raises(InvalidQrPayload) as caught:
        classify(text)
    assert caught.value.message == _(ids.TOKEN_MALFORMED)


def test_classify_malformed_mindbox_qr() -> None:
    with pytest.raises(InvalidQrPayload) as caught:
        classify("QR:79001234567")
    assert caught.value.message == _(ids.MINDBOX_MALFORMED)


def test_classify_cleans_a_scanner_burst() -> None:
    signed = token()
    burst = "\x1d" + signed + "\r\n"
    found = classify(burst)
    assert found == Identifier(IdentifierKind.WALLET_TOKEN, signed, burst)
    assert verify_wallet_token(found.value, PUBLIC, NOW).customer_id == "c_123"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("]Q1QR:79001234567:42\r\n", "QR:79001234567:42"),
        ("  ]C04601234567893\n", "4601234567893"),
        ("]E04601234567893", "4601234567893"),
        ("\t9001234567\r", "+79001234567"),
        ("\ufeff4601\x1d234567893\x00", "4601234567893"),
        ("\u200bc_123\x7f", "c_123"),
    ],
)
def test_classify_removes_aim_prefix_and_control_characters(text: str, value: str) -> None:
    assert classify(text).value == value


def test_classify_repairs_russian_keyboard_layout() -> None:
    signed = token("c_Ab-9")
    typed = signed.translate(_TO_RUSSIAN)
    assert typed.startswith("ДЦ1ю")
    found = classify(typed + "\r\n")
    assert found.kind is IdentifierKind.WALLET_TOKEN
    assert found.value == signed
    assert verify_wallet_token(found.value, PUBLIC, NOW).customer_id == "c_Ab-9"

    qr = "QR:79001234567:AbC123"
    assert qr.translate(_TO_RUSSIAN) == "ЙКЖ79001234567ЖФиС123"
    assert classify(qr.translate(_TO_RUSSIAN)).value == qr
    assert classify("]Q1" + qr.translate(_TO_RUSSIAN)).value == qr
    # The AIM prefix itself typed in the Russian layout: "]Q1" -> "ъЙ1".
    assert classify("]Q1".translate(_TO_RUSSIAN) + qr.translate(_TO_RUSSIAN)).value == qr


def test_classify_repairs_caps_lock() -> None:
    signed = token("c_Ab-9")
    assert classify(signed.swapcase()).value == signed
    # Russian layout with Caps Lock: every key is a letter key there, "." (ю) included.
    assert classify(signed.translate(_TO_RUSSIAN).swapcase()).value == signed
    qr = "QR:79001234567:AbC123"
    assert classify(qr.translate(_TO_RUSSIAN).swapcase()).value == qr


@pytest.mark.parametrize("text", ["привет", "Иванов", "дц", "йк 123"])
def test_classify_leaves_ordinary_russian_text_alone(text: str) -> None:
    with pytest.raises(InvalidQrPayload) as caught:
        classify(text)
    assert caught.value.message == _(ids.INPUT_UNRECOGNISED)


def test_classify_damaged_qr_in_russian_layout_says_damaged() -> None:
    with pytest.raises(InvalidQrPayload) as caught:
        classify("ДЦ1юс_1ю")  # "LW1.c_1." typed in the Russian layout, cut short
    assert caught.value.message == _(ids.TOKEN_MALFORMED)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", InvalidQrPayload, ids.INPUT_EMPTY),
        ("\r\n\x1d  ", InvalidQrPayload, ids.INPUT_EMPTY),
        ("]Q1", InvalidQrPayload, ids.INPUT_EMPTY),
        ("hello", InvalidQrPayload, ids.INPUT_UNRECOGNISED),
        ("https://example.com/?c=1", InvalidQrPayload, ids.INPUT_UNRECOGNISED),
        ("8 900 123 45 67 доб", InvalidQrPayload, ids.INPUT_UNRECOGNISED),
        ("c_", InvalidQrPayload, ids.CUSTOMER_ID_INVALID),
        ("c_12 3", InvalidQrPayload, ids.CUSTOMER_ID_INVALID),
        ("c_" + "1" * 63, InvalidQrPayload, ids.CUSTOMER_ID_INVALID),
        ("12345", InvalidPhone, ids.NUMBER_TOO_SHORT),
        ("1" * 20, InvalidCard, ids.NUMBER_TOO_LONG),
        ("4601234567890", InvalidCard, ids.CARD_TYPO),
        ("+7 900 123", InvalidPhone, ids.PHONE_TOO_SHORT),
        ("+7 ABC", InvalidPhone, ids.PHONE_NOT_A_NUMBER),
        ("(000) 000-00-00", InvalidPhone, ids.PHONE_DOES_NOT_EXIST),
        ("x" * 4097, InvalidQrPayload, ids.INPUT_TOO_LONG),
        ("4601234567893" + " " * 4084, InvalidQrPayload, ids.INPUT_TOO_LONG),
    ],
)
def test_classify_errors(text: str, error: type[UserFacingError], message: str) -> None:
    with pytest.raises(error) as caught:
        classify(text)
    assert caught.value.message == _(message)


def test_classify_accepts_input_up_to_the_cap() -> None:
    text = "4601234567893" + " " * (ids.MAX_INPUT_CHARS - 13)
    assert len(text) == ids.MAX_INPUT_CHARS
    assert classify(text).value == "4601234567893"


# --- properties ------------------------------------------------------------------------------
_NOISY_PREFIXES = st.sampled_from(
    ["", "LW1.", "QR:", "c_", "+", "+7", "8", "9", "]Q1", "]C0", "ДЦ1ю", "ЙКЖ", "lw1.", "qr:"]
)
_PHONE_ALPHABET = "0123456789+-() \u00a0\u2011\t\r\n\x1d78"


def _never_raises_other_than_user_facing(call: Callable[[str], object], text: str) -> None:
    """Any other exception propagates and fails the test."""
    with contextlib.suppress(UserFacingError):
        call(text)


@settings(max_examples=300)
@given(st.text())
def test_classify_and_normalize_phone_never_crash_on_text(text: str) -> None:
    _never_raises_other_than_user_facing(classify, text)
    _never_raises_other_than_user_facing(normalize_phone, text)


@settings(max_examples=300)
@given(st.binary().map(lambda b: b.decode("latin-1")))
def test_classify_and_normalize_phone_never_crash_on_bytes(text: str) -> None:
    _never_raises_other_than_user_facing(classify, text)
    _never_raises_other_than_user_facing(normalize_phone, text)


@settings(max_examples=300)
@given(_NOISY_PREFIXES, st.text(alphabet=_PHONE_ALPHABET) | st.text())
def test_classify_and_normalize_phone_never_crash_near_valid_input(prefix: str, rest: str) -> None:
    _never_raises_other_than_user_facing(classify, prefix + rest)
    _never_raises_other_than_user_facing(normalize_phone, prefix + rest)


@settings(max_examples=50)
@given(_NOISY_PREFIXES, st.text(min_size=1, max_size=20), st.integers(100, 5000))
def test_classify_never_crashes_on_huge_input(prefix: str, chunk: str, times: int) -> None:
    text = prefix + chunk * times
    _never_raises_other_than_user_facing(classify, text)
    _never_raises_other_than_user_facing(normalize_phone, text)


@settings(deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    st.integers(min_value=1, max_value=10**9),
)
def test_sign_verify_round_trip(customer_id: str, seconds: int) -> None:
    expires_at = NOW + timedelta(seconds=seconds)
    signed = sign_wallet_token(PRIVATE, customer_id, expires_at)
    assert verify_wallet_token(signed, PUBLIC, NOW) == WalletToken(customer_id, expires_at)
    found = classify(signed)
    assert found.kind is IdentifierKind.WALLET_TOKEN
    assert found.value == signed
    assert classify(signed.translate(_TO_RUSSIAN) + "\r\n").value == signed


@given(st.from_regex(r"9[0-9]{9}", fullmatch=True))
def test_mask_phone_hides_the_middle_of_russian_mobiles(national: str) -> None:
    masked = mask_phone("+7" + national)
    assert masked == f"+7 {national[:3]} ***-{national[6:8]}-{national[8:]}"
    assert national[3:6] not in masked.replace(" ", "").removeprefix("+7" + national[:3])


_CALLING_CODES = sorted(code for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if code != 0)


@given(st.sampled_from(_CALLING_CODES), st.data())
def test_mask_phone_never_reveals_the_middle_digits(code: int, data: st.DataObject) -> None:
    country = str(code)
    low = max(4, 7 - len(country))
    national = data.draw(st.from_regex(rf"[0-9]{{{low},{15 - len(country)}}}", fullmatch=True))
    masked = mask_phone(f"+{country}{national}")
    assert masked.startswith(f"+{country} ")
    shown = masked[len(country) + 2 :]
    head, _sep, tail = shown.partition("*")
    stars = shown.count("*")
    head_digits = re.sub(r"[^0-9]", "", head)
    tail_digits = re.sub(r"[^0-9*]", "", tail).lstrip("*")
    assert stars >= 3
    assert "*" * stars in shown  # one run of stars
    assert len(head_digits) + stars + len(tail_digits) == len(national)
    assert national.startswith(head_digits)
    assert national.endswith(tail_digits)


# --- translations ----------------------------------------------------------------------------
def _source_msgids() -> set[str]:
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    found: set[str] = set()
    for source in SOURCES:
        for _lineno, message, _comments, _context in extract_from_file(
            "python", str(source), keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _russian_catalogue() -> dict[str, str]:
    with PO_FILE.open("rb") as fh:
        catalog = read_po(fh, locale="ru")
    assert catalog.plural_forms.startswith("nplurals=3;")
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


def test_every_message_has_a_russian_translation() -> None:
    msgids = _source_msgids()
    assert len(msgids) >= 20
    russian = _russian_catalogue()
    missing = sorted(msgids - russian.keys())
    assert not missing, missing
    for msgid in msgids:
        translated = russian[msgid]
        assert re.search("[а-яА-ЯёЁ]", translated), msgid
        placeholders = set(re.findall(r"\{(\w+)\}", msgid))
        assert set(re.findall(r"\{(\w+)\}", translated)) == placeholders, msgid


def test_no_f_strings_inside_underscore() -> None:
    for path in SOURCES:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"\b_\(\s*f[\"']", source)
        assert not re.search(r"\bN_\(\s*f[\"']", source)


@pytest.mark.usefixtures("language")
def test_errors_come_out_in_russian() -> None:
    i18n.set_language("ru")
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone("900123")
    assert (
        caught.value.message == "Номер телефона слишком короткий. Проверьте цифры и введите снова."
    )
    with pytest.raises(InvalidCard) as card:
        normalize_card("1234567")
    assert "от 8 до 19 цифр" in card.value.message
    with pytest.raises(WalletTokenRejected) as expired:
        verify_wallet_token(token(minutes=-10), PUBLIC, NOW)
    assert str(expired.value).startswith("Срок действия QR-кода истёк")


@pytest.mark.usefixtures("language")
def test_errors_come_out_in_english() -> None:
    i18n.set_language("en")
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone("900123")
    assert caught.value.message == "This phone number is too short. Check the digits and try again."
    with pytest.raises(InvalidQrPayload) as unknown:
        classify("hello")
    assert unknown.value.message == (
        "Not a phone number, card or loyalty QR code. Ask for the phone number."
    )
