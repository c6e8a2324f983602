"""ASGI entry point for several workers: ``uvicorn processing.asgi:app`` with ``$PROCESSING_DB``."""

from __future__ import annotations

from datetime import timedelta

from processing.app import create_app
from processing.db import default_url

app = create_app(default_url(), housekeeping=timedelta(minutes=10))
