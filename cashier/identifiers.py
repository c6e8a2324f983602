"""Customer identifiers typed or scanned at the till: phone, card, wallet QR, Mindbox QR, id.

Owns: normalising phone numbers to E.164 and masking them, card-number and EAN-13 checks,
the signed wallet token (re-exported from :mod:`cashier.wallet_token`), Mindbox's
``QR:{phone}:{code}`` payload, and :func:`classify`, which tells which of these a cashier's single identification field holds (cleaning scanner noise on the way).

Must not: talk to the network, touch a database or import Qt.  Everything here is a pure function
of its arguments (``now`` is passed in), so it runs the same on the till and on the server.
Every failure a cashier can cause is a translated :class:`~cashier.errors.UserFacingError`; only
programmer errors (a naive datetime, a key of the wrong size) raise ``ValueError``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from cashier.errors import InvalidCard, InvalidPhone, InvalidQrPayload
from cashier.i18n import N_, _
from cashier.wallet_token import (  # re-exported: the QR kinds are identifiers too
    TOKEN_BAD_SIGNATURE,
    TOKEN_EXPIRED,
    TOKEN_MALFORMED,
    WALLET_TOKEN_PREFIXES,
    WalletToken,
    _parse_wallet_structure,
    generate_wallet_keypair,
    public_key_from_text,
    public_key_to_text,
    sign_wallet_token,
    verify_wallet_token,
)

__all__ = [
    "TOKEN_BAD_SIGNATURE",
    "TOKEN_EXPIRED",
    "TOKEN_MALFORMED",
    "Identifier",
    "IdentifierKind",
    "MindboxQr",
    "WalletToken",
    "classify",
    "ean13_check_digit",
    "generate_wallet_keypair",
    "is_valid_ean13",
    "mask_phone",
    "normalize_card",
    "normalize_phone",
    "parse_mindbox_qr",
    "public_key_from_text",
    "public_key_to_text",
    "sign_wallet_token",
    "verify_wallet_token",
]

# --- messages: one constant per cause, translated when raised --------------------------------
PHONE_EMPTY = N_("No phone number was entered. Type the customer's phone number.")
PHONE_NOT_A_NUMBER = N_(
    "This is not a phone number: it contains letters or symbols. Type the digits only."
)
PHONE_TOO_SHORT = N_("This phone number is too short. Check the digits and try again.")
PHONE_TOO_LONG = N_("This phone number is too long. Check the digits and try again.")
PHONE_BAD_COUNTRY = N_(
    "This phone number has an unknown country code. Check the digits after the +."
)
PHONE_DOES_NOT_EXIST = N_("This phone number does not exist. Check the digits and try again.")

CARD_EMPTY = N_("No card number was entered. Scan the card or type its number.")
CARD_NOT_DIGITS = N_("A card number has digits only. Check what was typed and try again.")
CARD_TOO_SHORT = N_(
    "This card number is too short: a card number has {min} to {max} digits. "
    "Check the digits and try again."
)
CARD_TOO_LONG = N_(
    "This card number is too long: a card number has {min} to {max} digits. "
    "Check the digits and try again."
)
CARD_TYPO = N_(
    "This card number has a typo: its last digit does not match the others. "
    "Check the digits or scan the card."
)

MINDBOX_MALFORMED = N_("This QR code is damaged or incomplete. Scan it again.")
MINDBOX_BAD_PHONE = N_(
    "The phone number in this QR code is not valid. Ask the customer to refresh the code "
    "in the app."
)

INPUT_EMPTY = N_("Nothing was scanned or typed. Scan the code again or type the phone number.")
INPUT_TOO_LONG = N_(
    "The scanned text is too long for a phone number, card or loyalty QR code. "
    "Scan again or ask for the phone number."
)
INPUT_UNRECOGNISED = N_("Not a phone number, card or loyalty QR code. Ask for the phone number.")
CUSTOMER_ID_INVALID = N_(
    "This customer ID is not valid. Check what was typed or ask for the phone number."
)
NUMBER_TOO_SHORT = N_(
    "This number is too short for a phone number or a card. Check the digits and try again."
)
NUMBER_TOO_LONG = N_(
    "This number is too long for a phone number or a card. Check the digits and try again."
)

# --- limits and formats ----------------------------------------------------------------------
MAX_INPUT_CHARS = 4096
"""Longest text :func:`classify` accepts; a scanner burst beyond this is not one of ours."""
CARD_MIN_DIGITS = 8
CARD_MAX_DIGITS = 19
_MAX_PHONE_CHARS = 64
_MAX_E164_DIGITS = 15

MINDBOX_QR_PREFIX = "QR:"
CUSTOMER_ID_PREFIX = "c_"

_MINDBOX_RE = re.compile(r"QR:(?P<phone>\+?[0-9]{5,15}):(?P<code>[A-Za-z0-9_-]{1,64})")
_CUSTOMER_ID_INPUT_RE = re.compile(r"c_[A-Za-z0-9_-]{1,62}")
# Phone text: an optional leading +, then digits, whitespace, dashes and brackets.
_PHONE_BODY_RE = re.compile(r"[0-9\s()\-\u2010-\u2015]*")
_CARD_SEPARATORS_RE = re.compile(r"[\s\-\u2010-\u2015]+")
_NON_DIGITS_RE = re.compile(r"[^0-9]")
# AIM symbology identifier some scanners send first: "]" + symbology letter + modifier.
_AIM_PREFIX_RE = re.compile(r"\][A-Za-z][0-9A-Za-z]")

# A keyboard-wedge scanner types key presses; with the Russian (ЙЦУКЕН) layout active each key
# produces the Cyrillic letter on the same key.  This maps what was typed back to the keys.
_QWERTY = "`qwertyuiop[]asdfghjkl;'zxcvbnm,./" + '~QWERTYUIOP{}ASDFGHJKL:"ZXCVBNM<>?' + "@#$^&|"
_RUSSIAN = "ёйцукенгшщзхъфывапролджэячсмитьбю." + "ЁЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ," + '"№;:?/'
_RUSSIAN_TO_QWERTY = str.maketrans(_RUSSIAN, _QWERTY)


# --- phone -----------------------------------------------------------------------------------
def normalize_phone(text: str, region: str = "RU") -> str:
    """Return ``text`` as an E.164 phone number (``+79001234567``).

    Accepts the ways cashiers type Russian numbers: ``8 900 123-45-67``, ``+7 (900) 123 45 67``,
    ``9001234567``, ``89001234567``, ``7 900 1234567``.

    Raises:
        InvalidPhone: for any text that is not a valid phone number; the message says whether it
            is too short, too long or not a phone number at all.  No other exception is raised
            for any ``str``.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidPhone(_(PHONE_EMPTY))
    if len(stripped) > _MAX_PHONE_CHARS:
        raise InvalidPhone(_(PHONE_TOO_LONG))
    plus = stripped.startswith("+")
    body = stripped[1:] if plus else stripped
    if not _PHONE_BODY_RE.fullmatch(body):
        raise InvalidPhone(_(PHONE_NOT_A_NUMBER))
    digits = _NON_DIGITS_RE.sub("", body)
    if not digits:
        raise InvalidPhone(_(PHONE_NOT_A_NUMBER))
    if len(digits) > _MAX_E164_DIGITS:
        raise InvalidPhone(_(PHONE_TOO_LONG))
    if not plus and len(digits) == 11 and digits[0] in "78" and _country_code(region) == 7:
        # "8 900 …" and "7 900 …" both mean +7 900 …; say so instead of letting the library
        # read the 7 as part of the national number.
        plus, digits = True, "7" + digits[1:]
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(_(_parse_error_message(exc.error_type))) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(_(_invalid_number_message(number)))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _country_code(region: str) -> int:
    return int(phonenumbers.country_code_for_region(region))


def _parse_error_message(error_type: int) -> str:
    error = phonenumbers.NumberParseException
    # Only "+" and digits reach the library, so "not a number" means too few digits.
    if error_type in (error.TOO_SHORT_NSN, error.TOO_SHORT_AFTER_IDD, error.NOT_A_NUMBER):
        return PHONE_TOO_SHORT
    if error_type == error.TOO_LONG:
        return PHONE_TOO_LONG
    if error_type == error.INVALID_COUNTRY_CODE:
        return PHONE_BAD_COUNTRY
    return PHONE_NOT_A_NUMBER


def _invalid_number_message(number: phonenumbers.PhoneNumber) -> str:
    """Say why a parsed number is not valid: too short, too long, or no such number."""
    result = phonenumbers.ValidationResult
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in (result.TOO_SHORT, result.IS_POSSIBLE_LOCAL_ONLY):
        return PHONE_TOO_SHORT
    if reason == result.TOO_LONG:
        return PHONE_TOO_LONG
    if reason == result.INVALID_COUNTRY_CODE:
        return PHONE_BAD_COUNTRY
    country_code = number.country_code or 0
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is not None:
        # Compare with the usual lengths (mobile and landline), not the odd special ones.
        lengths = [
            n
            for desc in (metadata.mobile, metadata.fixed_line)
            if desc is not None
            for n in (desc.possible_length or ())
            if n > 0
        ]
        national = len(phonenumbers.national_significant_number(number))
        if lengths and national > max(lengths):
            return PHONE_TOO_LONG
        if lengths and national < min(lengths):
            return PHONE_TOO_SHORT
    return PHONE_DOES_NOT_EXIST


def mask_phone(e164: str) -> str:
    """Mask an E.164 number for the screen and receipts: ``+79001234567`` → ``+7 900 ***-45-67``.

    At least three digits in the middle are always hidden, whatever the number's length.

    Raises:
        InvalidPhone: ``e164`` is not an E.164 number.
    """
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", e164):
        raise InvalidPhone(_(PHONE_NOT_A_NUMBER))
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(_(PHONE_BAD_COUNTRY)) from None
    country = str(number.country_code)
    national = e164[1 + len(country) :]
    tail_len = min(4, max(0, len(national) - 3))
    head_len = max(0, min(3, len(national) - tail_len - 3))
    head = national[:head_len]
    tail = national[len(national) - tail_len :] if tail_len else ""
    stars = "*" * (len(national) - head_len - tail_len)
    tail_text = f"-{tail[:2]}-{tail[2:]}" if len(tail) == 4 else (f"-{tail}" if tail else "")
    return f"+{country} " + (f"{head} " if head else "") + stars + tail_text


# --- cards -----------------------------------------------------------------------------------
def ean13_check_digit(first12: str) -> int:
    """Return the EAN-13 check digit for the first 12 digits.

    Raises:
        ValueError: ``first12`` is not exactly 12 ASCII digits.
    """
    if not re.fullmatch(r"[0-9]{12}", first12):
        raise ValueError("ean13_check_digit needs exactly 12 digits")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def is_valid_ean13(s: str) -> bool:
    """Tell whether ``s`` is 13 ASCII digits with a correct EAN-13 check digit."""
    if not re.fullmatch(r"[0-9]{13}", s):
        return False
    return ean13_check_digit(s[:12]) == int(s[12])


def normalize_card(text: str) -> str:
    """Return a loyalty-card number as digits only (spaces and dashes removed).

    A card number has 8 to 19 digits; a 13-digit number must carry a valid EAN-13 check digit.

    Raises:
        InvalidCard: the text is empty, has non-digits, has the wrong length or a typo.
    """
    compact = _CARD_SEPARATORS_RE.sub("", text)
    if not compact:
        raise InvalidCard(_(CARD_EMPTY))
    if not re.fullmatch(r"[0-9]+", compact):
        raise InvalidCard(_(CARD_NOT_DIGITS))
    if len(compact) < CARD_MIN_DIGITS:
        raise InvalidCard(_(CARD_TOO_SHORT).format(min=CARD_MIN_DIGITS, max=CARD_MAX_DIGITS))
    if len(compact) > CARD_MAX_DIGITS:
        raise InvalidCard(_(CARD_TOO_LONG).format(min=CARD_MIN_DIGITS, max=CARD_MAX_DIGITS))
    if len(compact) == 13 and not is_valid_ean13(compact):
        raise InvalidCard(_(CARD_TYPO))
    return compact


# --- Mindbox QR ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MindboxQr:
    """Mindbox's ``QR:{phone}:{code}`` payload; ``phone`` is E.164."""

    phone: str
    code: str


def parse_mindbox_qr(text: str) -> MindboxQr:
    """Parse Mindbox's ``QR:{phone}:{code}``.

    Raises:
        InvalidQrPayload: not that shape, or the phone in it is not a valid number.
    """
    match = _MINDBOX_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidQrPayload(_(MINDBOX_MALFORMED))
    try:
        phone = normalize_phone(match["phone"])
    except InvalidPhone:
        raise InvalidQrPayload(_(MINDBOX_BAD_PHONE)) from None
    return MindboxQr(phone=phone, code=match["code"])


# --- the single identification field ---------------------------------------------------------
class IdentifierKind(StrEnum):
    PHONE = "phone"
    CARD = "card"
    WALLET_TOKEN = "wallet_token"
    MINDBOX_QR = "mindbox_qr"
    CUSTOMER_ID = "customer_id"


@dataclass(frozen=True)
class Identifier:
    """What :func:`classify` found: the kind, the normalised value and the text as entered."""

    kind: IdentifierKind
    value: str
    raw: str


def _clean(text: str) -> str:
    """Drop control and format characters (CR, LF, TAB, GS, BOM…), then outer whitespace."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    return kept.strip()


def _strip_aim(text: str) -> str:
    if _AIM_PREFIX_RE.match(text):
        return text[3:].strip()
    return text


def _classify_qr(cleaned: str, raw: str) -> Identifier | None:
    """Recognise a wallet token or Mindbox QR, repairing a wrong keyboard layout if needed.

    The repairs (Russian layout, Caps Lock, both) are kept only when the result starts with one
    of our prefixes, so ordinary text is never rewritten.
    """
    swapped = cleaned.swapcase()
    candidates = (
        cleaned,
        _strip_aim(cleaned.translate(_RUSSIAN_TO_QWERTY)),
        _strip_aim(swapped),
        _strip_aim(swapped.translate(_RUSSIAN_TO_QWERTY)),
    )
    first_error: InvalidQrPayload | None = None
    for candidate in candidates:
        try:
            if candidate.startswith(WALLET_TOKEN_PREFIXES):
                _parse_wallet_structure(candidate)
                return Identifier(IdentifierKind.WALLET_TOKEN, candidate, raw)
            if candidate.startswith(MINDBOX_QR_PREFIX):
                parse_mindbox_qr(candidate)
                return Identifier(IdentifierKind.MINDBOX_QR, candidate, raw)
        except InvalidQrPayload as exc:
            first_error = first_error or exc
    if first_error is not None:
        # It was one of our QR codes, but damaged: say so rather than "not a phone number".
        raise first_error
    return None


def _looks_like_phone(text: str, digits: str) -> bool:
    if "(" in text or ")" in text:
        return True
    return (len(digits) == 10 and digits[0] == "9") or (len(digits) == 11 and digits[0] in "78")


def _classify_number(cleaned: str, raw: str, region: str) -> Identifier | None:
    """Recognise a phone number or a card number; None if the text is neither shape."""
    if cleaned.startswith("+"):
        return Identifier(IdentifierKind.PHONE, normalize_phone(cleaned, region), raw)
    if not _PHONE_BODY_RE.fullmatch(cleaned):
        return None
    digits = _NON_DIGITS_RE.sub("", cleaned)
    if not digits:
        return None
    if _looks_like_phone(cleaned, digits):
        try:
            return Identifier(IdentifierKind.PHONE, normalize_phone(cleaned, region), raw)
        except InvalidPhone:
            if "(" in cleaned or ")" in cleaned:
                raise
            # 10-11 digits that are no valid phone may still be a card number.
    if len(digits) < CARD_MIN_DIGITS:
        raise InvalidPhone(_(NUMBER_TOO_SHORT))
    if len(digits) > CARD_MAX_DIGITS:
        raise InvalidCard(_(NUMBER_TOO_LONG))
    return Identifier(IdentifierKind.CARD, normalize_card(cleaned), raw)


def classify(text: str, region: str = "RU") -> Identifier:
    """Tell what the cashier typed or scanned into the identification field.

    Scanner noise (control characters such as CR/LF/TAB/GS, outer whitespace, an AIM symbology
    prefix like ``]Q1``) is removed, and a QR typed by a keyboard-wedge scanner while the Russian
    layout was active is repaired.  Then, in order: ``LW1.``/``LW2.`` → wallet token (structure only; the
    signature is checked by :func:`verify_wallet_token`), ``QR:`` → Mindbox QR, ``c_…`` →
    customer id, phone-shaped text → phone (E.164), 8–19 digits → card.

    Raises:
        InvalidQrPayload, InvalidPhone, InvalidCard: with a message for the cashier.  Nothing
            else is raised for any ``str``.
    """
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidQrPayload(_(INPUT_TOO_LONG))
    cleaned = _strip_aim(_clean(text))
    if not cleaned:
        raise InvalidQrPayload(_(INPUT_EMPTY))
    found = _classify_qr(cleaned, text)
    if found is not None:
        return found
    if cleaned.startswith(CUSTOMER_ID_PREFIX):
        if not _CUSTOMER_ID_INPUT_RE.fullmatch(cleaned):
            raise InvalidQrPayload(_(CUSTOMER_ID_INVALID))
        return Identifier(IdentifierKind.CUSTOMER_ID, cleaned, text)
    found = _classify_number(cleaned, text, region)
    if found is not None:
        return found
    raise InvalidQrPayload(_(INPUT_UNRECOGNISED))
