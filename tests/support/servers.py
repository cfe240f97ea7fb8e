"""Real local servers for client tests: raw TCP scripts, HTTPS (trustme), an authenticating proxy.

The fixtures are made available to tests/integration by its conftest.py.
"""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from pytest_httpserver import HTTPServer

from apicall.core.models import ClientCert
from local.stack import free_port, wait_for_port

Script = Callable[[socket.socket, int], None]


def read_request_head(conn: socket.socket) -> bytes:
    """Read until the blank line that ends a request's headers."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def reset(conn: socket.socket) -> None:
    """Close with an RST instead of a FIN, as a crashed or overloaded peer does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@dataclass
class ScriptedServer:
    """A TCP server on 127.0.0.1 that runs `script(conn, index)` for the index-th connection.

    `arrivals` holds the monotonic time each connection was accepted.
    """

    script: Script
    port: int = 0
    arrivals: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.arrivals.append(time.monotonic())
            index = len(self.arrivals) - 1
            threading.Thread(target=self._run, args=(conn, index), daemon=True).start()

    def _run(self, conn: socket.socket, index: int) -> None:
        try:
            self.script(conn, index)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()


@pytest.fixture
def scripted_server() -> Iterator[Callable[[Script], ScriptedServer]]:
    """Start ScriptedServers for a test; all are closed after it."""
    started: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def trickle_body(interval_s: float = 0.2, length: int = 1000) -> Script:
    """Headers at once, then the body one byte every `interval_s`."""

    def script(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length)
        for _ in range(length):
            conn.sendall(b"x")
            time.sleep(interval_s)

    return script


def trickle_headers(interval_s: float = 0.2) -> Script:
    """A status line, then header bytes one every `interval_s`, never finishing."""

    def script(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(10_000):
            conn.sendall(b"a")
            time.sleep(interval_s)

    return script


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


def server_tls_context(ca: trustme.CA, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if require_client_cert:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    """pytest-httpserver on 127.0.0.1, a fresh one for each test."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def https_server(tls_ca: trustme.CA) -> Iterator[HTTPServer]:
    """pytest-httpserver over TLS on 127.0.0.1 with a certificate from `tls_ca`."""
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_tls_context(tls_ca))
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def mtls_server(tls_ca: trustme.CA) -> Iterator[HTTPServer]:
    """Like https_server, but the client must present a certificate issued by `tls_ca`."""
    context = server_tls_context(tls_ca, require_client_cert=True)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    server.stop()


def client_cert(ca: trustme.CA, password: str | None = None) -> ClientCert:
    """A client certificate issued by `ca`, its key encrypted with `password` if one is given."""
    issued = ca.issue_cert("client@example.com")
    key = issued.private_key_pem.bytes()
    if password:
        loaded = serialization.load_pem_private_key(key, password=None)
        key = loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
    chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
    return ClientCert(cert=chain.decode(), key=key.decode(), password=password)


# --- proxy --------------------------------------------------------------------------------------

PROXY_USER, PROXY_PASSWORD = "proxyuser", "proxypass"


@pytest.fixture(scope="session")
def auth_proxy() -> Iterator[int]:
    """proxy.py on 127.0.0.1 requiring Basic credentials PROXY_USER:PROXY_PASSWORD; its port."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxy",
            "--hostname",
            "127.0.0.1",
            "--port",
            str(port),
            "--basic-auth",
            f"{PROXY_USER}:{PROXY_PASSWORD}",
            "--num-acceptors",
            "1",
            "--num-workers",
            "1",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
