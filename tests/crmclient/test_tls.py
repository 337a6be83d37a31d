"""TLS verification is always on: a certificate nobody vouches for is refused."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crmclient.errors import AuthError, TransportError
from crmclient.http import HttpCrm, RetryPolicy
from tests.crmclient.conftest import MAYA
from tests.crmclient.waiting import wait_until


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


async def _me(request: Request) -> JSONResponse:
    body = {"error": {"code": "not_signed_in", "message": "sign in", "status": 401}}
    return JSONResponse(body, status_code=401)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate")
    key, cert = _self_signed(tmp_path_factory.mktemp("tls"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(
        Starlette(routes=[Route("/v1/session", _me, methods=["POST"])]),
        log_level="warning",
        ssl_keyfile=str(key),
        ssl_certfile=str(cert),
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "the TLS server")
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}", cert
    finally:
        server.should_exit = True
        thread.join(10)


async def test_unverifiable_certificate_is_refused(tls_server: tuple[str, Path]) -> None:
    url, _cert = tls_server
    crm = HttpCrm(url, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(TransportError, match="certificate"):
            await crm.sign_in(MAYA)
    finally:
        await crm.aclose()


async def test_a_private_ca_can_be_trusted_explicitly(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    crm = HttpCrm(url, verify=str(cert), retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(AuthError):  # the TLS handshake passed; the server answered
            await crm.sign_in(MAYA)
    finally:
        await crm.aclose()
