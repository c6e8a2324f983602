"""ASGI entry point for several workers: ``uvicorn processing.asgi:app`` with ``$PROCESSING_DB``."""

from __future__ import annotations

from processing.app import create_app
from processing.db import default_url
from processing.serving import HOUSEKEEPING

app = create_app(default_url(), housekeeping=HOUSEKEEPING)
