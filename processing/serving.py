"""Running the service under uvicorn: one process, or several workers sharing one socket.

Owns: :func:`serve`.  Served processes run the housekeeping (expired points, abandoned holds).
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import uvicorn
from uvicorn.supervisors import Multiprocess

from processing.app import create_app
from processing.db import ENV_DB

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


def serve(url: str, host: str, port: int, workers: int = 1) -> None:
    """Serve the database at ``url`` (already migrated) until interrupted."""
    if workers <= 1:
        app = create_app(url, housekeeping=HOUSEKEEPING)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    os.environ[ENV_DB] = url  # each worker builds its app from processing.asgi
    config = TcpConfig(
        "processing.asgi:app", host=host, port=port, workers=workers, log_level="warning"
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
