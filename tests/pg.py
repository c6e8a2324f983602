"""Throwaway PostgreSQL for tests: a pytest plugin (registered in ``tests/conftest.py``).

Fixtures:

``postgres_url`` (session)
    SQLAlchemy URL of the ``loyalty_test`` database on a private cluster:
    ``postgresql+psycopg://loyalty@/loyalty_test?host=SOCKETDIR&port=PORT``.
``fresh_postgres_url`` (function)
    URL of a new, empty, uniquely named database on the same cluster; the
    database is dropped (``WITH (FORCE)``) after the test.
``postgres_cluster`` (session)
    The :class:`PostgresCluster` itself, for tests that need another database name.

The cluster is made lazily, once per session, the first time a test asks for one
of these fixtures: ``initdb`` into a temporary directory, then ``pg_ctl start``
with a Unix socket only (``listen_addresses=''``: nothing listens on the network)
and durability switched off for speed. It is stopped (``pg_ctl stop -m fast``) and
its directory removed at session end, also when tests fail (a finalizer, with an
``atexit`` hook as a fallback).

Binaries come from the highest ``/usr/lib/postgresql/*/bin`` or from ``PATH``.
The server refuses to run as root, so as root every server command runs as the
``postgres`` system user (``runuser -u postgres --``) in a directory that user owns.
Without binaries the tests are skipped, or failed when ``CI`` is ``true``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import LiteralString, NoReturn

import pytest

PG_USER = "loyalty"
PG_DATABASE = "loyalty_test"
SYSTEM_USER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found in "
    "/usr/lib/postgresql/*/bin or on PATH; install them with "
    "`apt-get install --no-install-recommends postgresql`"
)
_LOG_TAIL_LINES = 40
_START_TIMEOUT_S = 30


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _unavailable(message: str) -> NoReturn:
    """Fail under CI, skip elsewhere."""
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    parts = bin_dir.parent.name.split(".")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return (-1,)


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None when there is none."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bin_dir in candidates:
        if all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return bin_dir
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        initdb_dir = Path(os.path.realpath(initdb)).parent
        if (initdb_dir / "pg_ctl").exists():
            return initdb_dir
        return Path(pg_ctl).parent
    return None


def _free_port(socket_dir: Path) -> int:
    """A port number whose socket file is absent in ``socket_dir`` and free on loopback.

    With ``listen_addresses=''`` the port only names the socket file; checking TCP
    too keeps the number unsurprising to anyone reading ``ss``/``pg_lsclusters``.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not (socket_dir / f".s.PGSQL.{port}").exists():
            return port
    raise RuntimeError(f"no free port number for a socket in {socket_dir}")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has exited: it only waits to be reaped by init)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(errors="replace")
    except OSError:
        return False
    return "State:\tZ" not in status


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    """Wait for the postmaster to exit; kill it (that one pid, ours) if it lingers."""
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


@dataclass
class PostgresCluster:
    """One private PostgreSQL cluster in a temporary directory."""

    bin_dir: Path
    base_dir: Path = field(init=False)
    port: int = field(init=False, default=0)
    start_seconds: float = field(init=False, default=0.0)
    _run_as: pwd.struct_passwd | None = field(init=False, default=None)
    _started: bool = field(init=False, default=False)
    _removed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise RuntimeError(
                    f"running as root, but there is no {SYSTEM_USER!r} system user to run "
                    "the server as (the Debian package `postgresql` creates it)"
                ) from None
        # /tmp keeps the socket path short (Unix socket paths are limited to ~107 bytes)
        # and is reachable by the postgres user, unlike e.g. a TMPDIR under /root.
        parent = "/tmp" if self._run_as or len(tempfile.gettempdir()) > 60 else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="loyalty-pg-", dir=parent))
        if self._run_as is not None:
            os.chown(self.base_dir, self._run_as.pw_uid, self._run_as.pw_gid)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def url(self, database: str = PG_DATABASE) -> str:
        """SQLAlchemy URL of ``database`` on this cluster (Unix socket)."""
        return f"postgresql+psycopg://{PG_USER}@/{database}?host={self.socket_dir}&port={self.port}"

    def _command(self, tool: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / tool), *args]
        if self._run_as is not None:
            return ["runuser", "-u", self._run_as.pw_name, "--", *command]
        return command

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run(
            self._command(tool, *args),
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _check(self, what: str, result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed (exit {result.returncode}): {shlex.join(map(str, result.args))}\n"
                f"--- output ---\n{(result.stdout + result.stderr).strip()}\n"
                f"--- server log tail ({self.log_file}) ---\n{_tail(self.log_file)}"
            )

    def start(self) -> None:
        """initdb, start the server, and create the ``loyalty_test`` database."""
        started_at = time.monotonic()
        self._check(
            "initdb",
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                PG_USER,
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ),
        )
        self.port = _free_port(self.socket_dir)
        options = " ".join(
            [
                f"-k {shlex.quote(str(self.socket_dir))}",
                f"-p {self.port}",
                "-c listen_addresses=''",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._started = True  # from here on, stop() must try pg_ctl stop
        self._check(
            "pg_ctl start",
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "-o",
                options,
                "start",
                timeout=_START_TIMEOUT_S + 15,
            ),
        )
        self.create_database(PG_DATABASE)
        self.start_seconds = time.monotonic() - started_at

    def _admin(self, statement: LiteralString, name: str) -> None:
        """Run ``statement`` (with ``{}`` for a quoted database name) on ``postgres``."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=PG_USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    def create_database(self, name: str, template: str | None = None) -> None:
        if template is None:
            self._admin("CREATE DATABASE {}", name)
            return
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=PG_USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still connected to it."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and remove its directory; idempotent."""
        if self._removed:
            return
        pid = self._postmaster_pid()
        if self._started and pid is not None:
            for mode in ("fast", "immediate"):
                try:
                    result = self._run(
                        "pg_ctl",
                        "-D",
                        str(self.data_dir),
                        "-w",
                        "-t",
                        "20",
                        "stop",
                        "-m",
                        mode,
                        timeout=30,
                    )
                except subprocess.TimeoutExpired:
                    continue
                if result.returncode == 0:
                    break
            _wait_gone(pid)
        self._started = False
        shutil.rmtree(self.base_dir, ignore_errors=True)
        self._removed = True


_cluster: PostgresCluster | None = None


@pytest.fixture(scope="session")
def postgres_cluster(request: pytest.FixtureRequest) -> PostgresCluster:
    """The session's private cluster, started on first use and removed at session end."""
    global _cluster
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _unavailable(INSTALL_HINT)
    try:
        cluster = PostgresCluster(bin_dir)
    except RuntimeError as exc:
        _unavailable(str(exc))
    # A finalizer rather than yield: registered before start, so a half-started cluster
    # (initdb done, pg_ctl start failed) is removed too.
    request.addfinalizer(cluster.stop)  # noqa: PT021
    atexit.register(cluster.stop)
    problem = None
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        problem = f"could not start a throwaway PostgreSQL cluster: {exc}"
    if problem is not None:  # failed outside the except block: no chained traceback
        cluster.stop()
        pytest.fail(problem, pytrace=False)
    _cluster = cluster
    return cluster


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """SQLAlchemy URL of the session's ``loyalty_test`` database."""
    return postgres_cluster.url(PG_DATABASE)


@pytest.fixture
def fresh_postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """SQLAlchemy URL of a new empty database, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres_cluster.create_database(name)
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


@pytest.fixture(scope="session")
def _migrated_template(postgres_cluster: PostgresCluster) -> str:
    """A database at the newest schema, made once per run, that test databases are copied from."""
    from processing.db import make_engine, migrate

    name = "t_migrated_template"
    postgres_cluster.drop_database(name)
    postgres_cluster.create_database(name)
    migrate(postgres_cluster.url(name))
    make_engine(postgres_cluster.url(name)).dispose()
    return name


@pytest.fixture
def migrated_postgres_url(
    postgres_cluster: PostgresCluster, _migrated_template: str
) -> Iterator[str]:
    """SQLAlchemy URL of a new database already at the newest schema (a copy of a template:
    much faster than migrating each time), dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres_cluster.create_database(name, template=_migrated_template)
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how long the cluster took to start, when one was started."""
    if _cluster is not None and _cluster.start_seconds:
        terminalreporter.write_line(
            f"postgres: throwaway cluster ({_cluster.bin_dir}) started in "
            f"{_cluster.start_seconds:.2f}s"
        )
