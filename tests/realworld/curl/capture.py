"""A server on 127.0.0.1 that records every request it receives, over plain HTTP or TLS.

One port serves both: a connection whose first byte opens a TLS handshake (0x16) is wrapped in
TLS, so curl can be pointed at it with `--connect-to` whatever scheme the command's URL has.
Requests are read with their body (Content-Length or chunked, `Expect: 100-continue` answered)
and answered `200 {}` with `Connection: close`.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field

import trustme


@dataclass
class Captured:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    tls: bool


@dataclass
class CaptureServer:
    requests: list[Captured] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        ca = trustme.CA()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._tls)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def take(self) -> list[Captured]:
        """The requests received since the last call, oldest first."""
        with self._lock:
            taken, self.requests = self.requests, []
            return taken

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            # One connection at a time: the clients under test send one request and wait for it.
            try:
                self._handle(conn)
            except (OSError, ValueError) as exc:
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()

    def _handle(self, conn: socket.socket) -> None:
        tls = conn.recv(1, socket.MSG_PEEK) == b"\x16"
        stream: socket.socket = self._tls.wrap_socket(conn, server_side=True) if tls else conn
        reader = stream.makefile("rb")
        request_line = reader.readline(65536).decode("latin-1").rstrip("\r\n")
        if not request_line:
            return
        method, target, _version = request_line.split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            line = reader.readline(65536).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            if line[0] in " \t" and headers:  # an obsolete line folding (RFC 9112 5.2)
                name, value = headers.pop()
                headers.append((name, f"{value} {line.strip()}".strip()))
                continue
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        lowered = {name.lower(): value for name, value in headers}
        if lowered.get("expect", "").lower() == "100-continue":
            stream.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in lowered.get("transfer-encoding", "").lower():
            body = _read_chunked(reader)
        else:
            body = reader.read(int(lowered.get("content-length", "0") or 0))
        with self._lock:
            self.requests.append(Captured(method, target, headers, body, tls))
        stream.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n{}"
        )


def _read_chunked(reader: object) -> bytes:
    body = b""
    while True:
        size_line = reader.readline(65536)  # type: ignore[attr-defined]
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(65536).strip():  # type: ignore[attr-defined]
                pass  # trailers
            return body
        body += reader.read(size)  # type: ignore[attr-defined]
        reader.readline(65536)  # type: ignore[attr-defined]
