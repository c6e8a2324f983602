"""Purchases over the API: pending → confirm / cancel, returns, lookup (PROTOCOL.md E, F, K)."""

from __future__ import annotations

from fastapi import APIRouter

from processing.deps import API

router = APIRouter(prefix=API)
