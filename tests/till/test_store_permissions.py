"""Issue 12, finding 5: the till's data folder and files are readable by their user only (they hold
customers' names, masked phones and balances; on a store tablet too)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from cashier.store.db import DB_NAME, LOCK_NAME, open_store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_till_folder_is_its_users_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files 0644, folders 0755
    try:
        store = open_store(tmp_path / "till")
        try:
            with store.write() as s:  # a write: the -wal and -shm exist now
                s.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            folder = tmp_path / "till"
            assert mode(folder) == 0o700
            for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", LOCK_NAME):
                assert mode(folder / name) == 0o600, name
        finally:
            store.close()
    finally:
        os.umask(old)


def test_an_existing_open_folder_is_closed_on_the_next_start(tmp_path: Path) -> None:
    folder = tmp_path / "till"
    open_store(folder).close()
    folder.chmod(0o755)
    (folder / DB_NAME).chmod(0o644)
    store = open_store(folder)
    try:
        assert (mode(folder), mode(folder / DB_NAME)) == (0o700, 0o600)
    finally:
        store.close()
