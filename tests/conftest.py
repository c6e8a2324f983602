"""Shared pytest configuration: headless Qt, and the throwaway PostgreSQL plugin."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["tests.pg"]
