"""Running the service under uvicorn: one process, or several workers sharing one socket.

Owns: :func:`serve` and the service's logging (:func:`configure_logging`).  Served processes run
the housekeeping (expired points, abandoned holds).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from processing.app import create_app
from processing.db import ENV_DB
from processing.sms import quiet_http_client_logs

HOUSEKEEPING = timedelta(minutes=10)


class TcpConfig(uvicorn.Config):
    """uvicorn's config, binding the workers' shared socket as TCP explicitly.

    uvicorn creates it as ``socket(AF_INET)`` (protocol 0), so asyncio never sets TCP_NODELAY on
    the connections the workers accept and every small answer waits ~40 ms for Nagle's algorithm
    (uvicorn issue #3149).  Created with ``IPPROTO_TCP``, asyncio sets it.
    """

    def bind_socket(self) -> socket.socket:
        if self.uds is not None or self.fd is not None:
            return super().bind_socket()
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock


def configure_logging() -> None:
    """The service's own records at INFO on stderr; the HTTP client libraries' at WARNING only
    (httpx logs every request's whole URL at INFO: an SMS gateway's key, the phone, the code)."""
    logging.basicConfig(level=logging.INFO)
    quiet_http_client_logs()


def serve(
    url: str,
    host: str,
    port: int,
    workers: int = 1,
    *,
    sms: Any = None,
    tls: tuple[str | None, str | None] = (None, None),
) -> None:
    """Serve the database at ``url`` (already migrated) until interrupted.

    ``sms``: the SMS gateway of a single process (None: ``$PROCESSING_SMS`` on first use).  Several
    workers each build theirs from ``$PROCESSING_SMS``.  ``tls``: the certificate and key files
    to serve HTTPS with (uvicorn's own TLS; a reverse proxy in front is the other way).
    """
    quiet_http_client_logs()
    certfile, keyfile = tls
    if workers <= 1:
        app = create_app(url, housekeeping=HOUSEKEEPING, sms=sms)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        return
    os.environ[ENV_DB] = url  # each worker builds its app from processing.asgi
    config = TcpConfig(
        "processing.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
