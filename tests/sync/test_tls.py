"""Issue 12, finding 6: no keys or customers' data in clear on a store's network.

- the till refuses ``http://`` to another computer (https, or loopback; ``LOYALTY_ALLOW_HTTP=1``
  for a lab, logged);
- the service serves HTTPS itself (``processing serve --ssl-certfile --ssl-keyfile``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sync.client import ENV_ALLOW_HTTP, HttpGateway, InsecureServer, check_server_url
from tests.processing.conftest import _free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5:8765",
        "https://loyalty.example.ru",
        "http://127.0.0.1:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
    ],
)
def test_https_and_loopback_are_accepted(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_ALLOW_HTTP, raising=False)
    check_server_url(url)
    HttpGateway(url).close()


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8765", "http://loyalty.example.ru", "ftp://10.0.0.5", "10.0.0.5:8765"]
)
def test_plain_http_to_another_computer_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_ALLOW_HTTP, raising=False)
    with pytest.raises(InsecureServer) as refused:
        HttpGateway(url)
    assert url in refused.value.message
    assert "https://" in refused.value.message


def test_a_lab_may_allow_plain_http_and_it_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_ALLOW_HTTP, "1")
    with caplog.at_level(logging.WARNING, logger="sync.client"):
        HttpGateway("http://10.0.0.5:8765").close()
    assert any("in clear" in r.getMessage() for r in caplog.records)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loyalty test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_the_service_serves_https_itself(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PROCESSING_SMS": "log", "LOYALTY_LANG": "en"}
    command = [sys.executable, "-m", "processing.cli", "--db", f"sqlite:///{tmp_path / 'p.db'}"]
    command += ["serve", "--port", str(port), "--ssl-certfile", str(certfile)]
    proc = subprocess.Popen(
        [*command, "--ssl-keyfile", str(keyfile)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    trust = ssl.create_default_context(cafile=str(certfile))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.get(
                    f"https://127.0.0.1:{port}/api/v1/health", verify=trust, timeout=2
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the HTTPS service did not answer"
                time.sleep(0.2)
        assert reply.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not spoken on that port
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert f"https://127.0.0.1:{port}/api/v1" in out


def test_serve_wants_both_tls_files(tmp_path: Path) -> None:
    certfile, _keyfile = _self_signed(tmp_path)
    env = {**os.environ, "PROCESSING_SMS": "log", "LOYALTY_LANG": "en"}
    command = [sys.executable, "-m", "processing.cli", "--db", f"sqlite:///{tmp_path / 'p.db'}"]
    done = subprocess.run(
        [*command, "serve", "--ssl-certfile", str(certfile)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2 and "--ssl-keyfile" in done.stderr
