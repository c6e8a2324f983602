"""Customer accounts over the API: OTP, registration, balance, history and coupons (PROTOCOL.md B, C, G, H)."""

from __future__ import annotations

from fastapi import APIRouter

from processing.deps import API

router = APIRouter(prefix=API)
