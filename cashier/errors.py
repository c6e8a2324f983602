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
    │   └── ReturnExceedsPurchase    more returned than bought (cumulative)
    └── (internal errors are plain CashierError and are logged, never shown raw)

``UserFacingError.message`` is already translated when the exception is raised; the UI shows it as
is.  ``code`` is a stable machine-readable reason (it matches PROTOCOL.md error codes where one
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
