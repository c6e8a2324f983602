"""The one exception hierarchy of the till and the rules engine.

::

    CashierError
    ├── UserFacingError              message says what happened and what to do (translated)
    │   ├── InvalidIdentifier        bad phone, card, QR payload or scanner noise
    │   │   ├── InvalidPhone
    │   │   ├── InvalidCard
    │   │   └── InvalidQrPayload
    │   │       └── WalletTokenRejected   bad signature or expired wallet token
    │   ├── ProgramError             a program (rules) file is wrong: names file, key and expectation
    │   ├── InvalidCart              a cart line, quantity or price makes no sense
    │   ├── InvalidPayments          payments that do not add up to the amount to pay
    │   ├── RedeemNotAllowed         a redemption above the cap was asked for explicitly
    │   ├── InsufficientPoints       the ledger holds fewer points than must be taken
    │   ├── ReturnExceedsPurchase    more returned than bought (cumulative)
    │   └── StoreWriteFailed         the till's disk refused a write (full, I/O error, read-only):
    │                                nothing of it was saved; free space / fix the disk, try again
    └── (internal errors are plain CashierError and are logged, never shown raw)

``UserFacingError.message`` is already translated when the exception is raised; the UI shows it as
is.  ``code`` is a stable machine-readable reason (it matches docs/protocol.md error codes where one
exists) so the wire and tests do not depend on wording.
"""

from __future__ import annotations


class CashierError(Exception):
    """Base of every error raised by this project's core."""


class UserFacingError(CashierError):
    """An error whose message a cashier (or an admin) can act on."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidIdentifier(UserFacingError):
    code = "validation_error"


class InvalidPhone(InvalidIdentifier):
    code = "invalid_phone"


class InvalidCard(InvalidIdentifier):
    code = "invalid_card"


class InvalidQrPayload(InvalidIdentifier):
    code = "invalid_qr"


class WalletTokenRejected(InvalidQrPayload):
    code = "wallet_token_rejected"


class WalletKeyUntrusted(UserFacingError):
    """The service sent a wallet key the till has no endorsed path to: the rules are not taken."""

    code = "wallet_key_untrusted"


class ProgramError(UserFacingError):
    """A program file failed validation."""

    code = "program_invalid"

    def __init__(self, message: str, *, source: str, key: str) -> None:
        super().__init__(message)
        self.source = source
        self.key = key


class InvalidCart(UserFacingError):
    code = "validation_error"


class InvalidPayments(UserFacingError):
    code = "validation_error"


class RedeemNotAllowed(UserFacingError):
    code = "redeem_limit_exceeded"


class InsufficientPoints(UserFacingError):
    code = "insufficient_points"


class ReturnExceedsPurchase(UserFacingError):
    code = "return_exceeds_purchase"


class StoreWriteFailed(UserFacingError):
    """The till's own database could not be written: the disk is full (``kind="full"``), failed
    (``"io"``) or is read-only (``"read_only"``).  The transaction was rolled back whole: nothing
    of the operation was saved, and it may simply be done again once the disk is fixed."""

    code = "store_write_failed"

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message, code="disk_full" if kind == "full" else None)
        self.kind = kind
