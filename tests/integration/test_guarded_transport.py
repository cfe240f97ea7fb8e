"""apicall's own transport (transport.GuardedTransport): what httpx's transport did, through the
proxy's tunnel and across a streamed body, with the guard's backend under every socket."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest
import trustme
from pytest_httpserver import HTTPServer

from apicall.core.errors import UpstreamConnectionError
from apicall.core.models import Connection
from apicall.http.client import ConnectionClient, OutgoingRequest, SendPolicy
from tests.support.servers import (
    PROXY_PASSWORD,
    PROXY_USER,
    ScriptedServer,
    client_cert,
    read_request_head,
)

MB = 1024 * 1024


def get(url: str, connection: Connection) -> tuple[int, bytes]:
    response = ConnectionClient(connection).send(
        OutgoingRequest("GET", url), SendPolicy(timeout_s=5, max_bytes=MB)
    )
    return response.status, response.content


def test_https_goes_through_the_proxy_tunnel_with_the_connections_tls(
    mtls_server: HTTPServer, tls_ca: trustme.CA, auth_proxy: int
) -> None:
    # CONNECT with the proxy's credentials, then TLS to the target inside the tunnel: the
    # connection's CA bundle verifies it and its client certificate is presented.
    mtls_server.expect_request("/tunnelled").respond_with_data("secret of the target")
    connection = Connection(
        allow_private_network=True,
        ca_bundle=tls_ca.cert_pem.bytes().decode(),
        client_cert=client_cert(tls_ca),
        proxy=f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{auth_proxy}",
    )
    wrong_password = connection.model_copy(
        update={"proxy": f"http://{PROXY_USER}:wrong@127.0.0.1:{auth_proxy}"}
    )

    assert get(mtls_server.url_for("/tunnelled"), connection) == (200, b"secret of the target")
    with pytest.raises(UpstreamConnectionError, match="proxy refused"):
        get(mtls_server.url_for("/tunnelled"), wrong_password)  # so the tunnel is the proxy's
    assert len(mtls_server.log) == 1


def test_requests_go_as_http_1_1_over_one_kept_alive_connection(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    heads: list[bytes] = []

    def keep_alive(conn: socket.socket, index: int) -> None:
        while head := read_request_head(conn):
            heads.append(head)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    target = scripted_server(keep_alive)
    connection = Connection(allow_private_network=True)

    for _ in range(2):
        assert get(f"{target.url}/v", connection) == (200, b"ok")

    assert [head.split(b"\r\n")[0] for head in heads] == [b"GET /v HTTP/1.1"] * 2
    assert len(target.arrivals) == 1


def test_a_body_cut_short_is_an_httpx_error_and_then_a_connection_error(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    # The error comes from httpcore while the body streams; the transport raises it as httpx's.
    def cut(conn: socket.socket, index: int) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        conn.close()

    target = scripted_server(cut)
    connection = Connection(allow_private_network=True)

    with (
        pytest.raises(httpx.RemoteProtocolError),
        ConnectionClient(connection).http.stream("GET", f"{target.url}/") as response,
    ):
        response.read()
    with pytest.raises(UpstreamConnectionError, match="RemoteProtocolError"):
        get(f"{target.url}/", connection)
