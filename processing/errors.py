"""The error envelope of docs/protocol.md §2: every non-2xx answer has the same shape, never a bare 500."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cashier.errors import UserFacingError
from processing.state import NoProgram

log = logging.getLogger("processing")

_STATUS_CODES = {
    400: "validation_error",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "validation_error",
    409: "invalid_state",
    413: "validation_error",
    415: "validation_error",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}
_USER_ERROR_STATUS = {
    "validation_error": 400,
    "invalid_phone": 400,
    "invalid_card": 400,
    "invalid_qr": 400,
    "wallet_token_rejected": 400,
}


class ApiError(Exception):
    """An error with a protocol code, raised by handlers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
        self.details = details or []
        self.headers = headers or {}
        self.extra = extra or {}
        """Top-level fields beside ``error`` (``price_changed`` carries a fresh ``calculation``)."""


def request_id_of(request: Request) -> str:
    rid: str | None = getattr(request.state, "request_id", None)
    return rid or str(uuid.uuid4())


def from_user_error(exc: UserFacingError) -> ApiError:
    """A domain error (from ``cashier``) as an API error with its protocol code."""
    return ApiError(_USER_ERROR_STATUS.get(exc.code, 422), exc.code, exc.message)


def envelope(request: Request, error: ApiError) -> JSONResponse:
    """The protocol's error body for ``error``, echoing the request id."""
    request_id = request_id_of(request)
    body: dict[str, Any] = {
        "error": {
            "code": error.code,
            "message": error.message,
            "retryable": error.retryable,
            "details": error.details,
            "request_id": request_id,
        },
        **error.extra,
    }
    headers = {"X-Request-Id": request_id, **error.headers}
    return JSONResponse(body, status_code=error.status, headers=headers)


def _pointer(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return "/" + "/".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return envelope(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": _pointer(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
            for e in exc.errors()[:20]
        ]
        message = "The request is not valid: see details."
        return envelope(request, ApiError(400, "validation_error", message, details=details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(
            exc.status_code, "internal" if exc.status_code >= 500 else "validation_error"
        )
        return envelope(request, ApiError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(UserFacingError)
    async def _user(request: Request, exc: UserFacingError) -> JSONResponse:
        return envelope(request, from_user_error(exc))

    @app.exception_handler(NoProgram)
    async def _no_program(request: Request, exc: NoProgram) -> JSONResponse:
        return envelope(request, ApiError(503, "unavailable", str(exc), retryable=True))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        message = "Unexpected error on the processing service; retry with the same Idempotency-Key."
        return envelope(request, ApiError(500, "internal", message, retryable=True))
