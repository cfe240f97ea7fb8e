from __future__ import annotations

import pytest

from apicall.errors import BlockedURL, InvalidRequest, UpstreamConnectionError
from apicall.guard import Guard, check_url, safe_url

# The injected resolver stands in for DNS: no test here touches the network.
DNS = {
    "public.example": ["93.184.215.14"],
    "public6.example": ["2606:4700:4700::1111"],
    "rebind.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.215.14", "10.1.2.3"],
    "mapped.example": ["::ffff:10.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
}


def resolver(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(f"unknown host {host}")
    return DNS[host]


FORBIDDEN = [
    # cloud metadata, every spelling
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    "http://0xa9fea9fe/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://169.254.43518/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    # loopback
    "http://127.0.0.1/",
    "http://127.1/",
    "http://127.0.0.1./",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://localhost/",
    "http://localhost./",
    "http://LOCALHOST/",
    "http://foo.localhost/",
    "HTTP://LocalHost:8080/path",
    "http://good.com@127.0.0.1/",
    "http://user:pass@127.0.0.1:8000/",
    # unspecified
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    # private, shared and link-local ranges
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://[fd00::1]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://169.254.1.1/",
    # multicast, broadcast, reserved, documentation
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.10/",
    # IPv6 forms embedding a private IPv4 address
    "http://[64:ff9b::a00:1]/",
    "http://[2002:a00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    # names that resolve badly
    "http://rebind.example/",
    "http://metadata.example/",
    "http://mixed.example/",
    "http://mapped.example/",
    "https://rebind.example:8443/x?token=secret",
]

ALLOWED = [
    "http://93.184.215.14/",
    "https://8.8.8.8/dns",
    "http://[2606:4700:4700::1111]/",
    "http://[::ffff:8.8.8.8]/",
    "https://public.example/v2/customers?page=1",
    "http://public6.example:8080/",
    "https://user:pass@public.example/",
]


@pytest.mark.parametrize("url", FORBIDDEN)
def test_forbidden_target_is_blocked(url: str) -> None:
    with pytest.raises(BlockedURL) as caught:
        check_url(url, allow_private=False, resolver=resolver)
    assert caught.value.kind == "blocked"
    assert caught.value.url is not None and "pass" not in caught.value.url


@pytest.mark.parametrize("url", ALLOWED)
def test_public_target_is_allowed(url: str) -> None:
    check_url(url, allow_private=False, resolver=resolver)


@pytest.mark.parametrize("url", [u for u in FORBIDDEN if "0177" not in u and "0251" not in u])
def test_allow_private_lets_every_address_through(url: str) -> None:
    check_url(url, allow_private=True, resolver=resolver)


@pytest.mark.parametrize(
    "url", ["ftp://public.example/", "file:///etc/passwd", "gopher://public.example/"]
)
def test_non_http_scheme_is_blocked_even_with_allow_private(url: str) -> None:
    with pytest.raises(BlockedURL, match="scheme"):
        check_url(url, allow_private=True, resolver=resolver)


def test_message_says_why_and_names_the_resolved_address() -> None:
    with pytest.raises(BlockedURL, match=r"rebind\.example \(127\.0\.0\.1\) is a loopback"):
        check_url("http://rebind.example/", allow_private=False, resolver=resolver)


def test_metadata_spelled_in_decimal_is_reported_as_metadata() -> None:
    with pytest.raises(BlockedURL, match="cloud metadata"):
        check_url("http://2852039166/", allow_private=False, resolver=resolver)


def test_blocked_url_carries_the_url_without_credentials_or_query_values() -> None:
    with pytest.raises(BlockedURL) as caught:
        check_url("http://admin:hunter2@10.0.0.1/x?key=abc", allow_private=False)
    assert caught.value.url == "http://10.0.0.1/x?key=***"


def test_unresolvable_host_is_a_connection_error() -> None:
    with pytest.raises(UpstreamConnectionError, match="could not resolve"):
        check_url("http://nowhere.example/", allow_private=False, resolver=resolver)


def test_literal_addresses_need_no_resolver() -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("a literal address must not be resolved")

    check_url("http://8.8.8.8/", allow_private=False, resolver=no_dns)
    with pytest.raises(BlockedURL):
        check_url("http://0x7f.1/", allow_private=False, resolver=no_dns)


def test_unparseable_url_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        check_url("http://exa mple.com:notaport/", allow_private=False, resolver=resolver)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/", "http://localhost/", "http://rebind.example/"]
)
def test_permit_loopback_lets_only_loopback_through(url: str) -> None:
    Guard(permit_loopback=True, resolver=resolver).check_url(url)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://10.0.0.1/", "http://[fd00::1]/", "http://0.0.0.0/"]
)
def test_permit_loopback_still_blocks_everything_else(url: str) -> None:
    with pytest.raises(BlockedURL):
        Guard(permit_loopback=True, resolver=resolver).check_url(url)


def test_connect_time_check_returns_the_addresses_to_dial() -> None:
    guard = Guard(resolver=resolver)
    assert guard.allowed_addresses("public.example", 443) == ["93.184.215.14"]
    with pytest.raises(BlockedURL):
        guard.allowed_addresses("mixed.example", 443)


def test_safe_url_strips_userinfo_and_query_values() -> None:
    assert safe_url("https://u:p@api.example.com/a?token=t&page=2") == (
        "https://api.example.com/a?token=***&page=***"
    )
