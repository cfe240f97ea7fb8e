from __future__ import annotations

import ipaddress

import pytest

from apicall.core.errors import BlockedURL, InvalidRequest, UpstreamConnectionError
from apicall.core.redaction import safe_url
from apicall.http.guard import METADATA_ENDPOINTS, Guard, blocked_reason, check_url

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


# --- cloud metadata endpoints, every spelling ---------------------------------------------------

METADATA_IPV4 = [
    "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean, Hetzner, OpenStack, IBM, Linode
    "169.254.170.2",  # AWS ECS task metadata and credentials
    "169.254.170.23",  # AWS EKS Pod Identity agent
    "168.63.129.16",  # Azure WireServer: a public-range address
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud (Classic)
    "169.254.0.23",  # Tencent Cloud
    "169.254.42.42",  # Scaleway
]
METADATA_IPV6 = [
    "fd00:ec2::254",  # AWS IMDS
    "fd00:ec2::23",  # AWS EKS Pod Identity agent
    "fd20:ce::254",  # Google Cloud
    "fd00:c1::a9fe:a9fe",  # Oracle Cloud Infrastructure
    "fd00:100::100:200",  # Alibaba Cloud
    "fd00:42::42",  # Scaleway
    "fd00:a9fe:a9fe::1",  # Akamai / Linode
    "fe80::a9fe:a9fe",  # OpenStack
]
METADATA_NAMES = [
    "metadata.google.internal",
    "metadata",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
    "metadata.tencentyun.com",
    "metadata.packet.net",
    "metadata.platformequinix.com",
    "api.metadata.cloud.ibm.com",
    "rancher-metadata",
]


def ipv4_spellings(address: str) -> list[str]:
    """Every way a URL can spell an IPv4 address that the guard must see through."""
    parts = [int(part) for part in address.split(".")]
    value = int(ipaddress.IPv4Address(address))
    high, low = value >> 16, value & 0xFFFF
    return [
        address,
        f"{address}.",
        str(value),
        hex(value),
        hex(value).upper().replace("0X", "0x"),
        ".".join(f"0{part:o}" for part in parts),
        ".".join(hex(part) for part in parts),
        f"{parts[0]}.{parts[1]}.{(parts[2] << 8) | parts[3]}",
        f"{parts[0]}.{(parts[1] << 16) | (parts[2] << 8) | parts[3]}",
        f"[::ffff:{address}]",
        f"[::ffff:{high:x}:{low:x}]",
        f"[::FFFF:{high:X}:{low:X}]",
        f"[0:0:0:0:0:ffff:{address}]",
        f"[::{address}]",  # IPv4-compatible (deprecated)
        f"[::ffff:0:{address}]",  # IPv4-translated (SIIT)
        f"[64:ff9b::{address}]",  # NAT64
        f"[64:ff9b::{high:x}:{low:x}]",
        f"[2002:{high:x}:{low:x}::1]",  # 6to4
    ]


def ipv6_spellings(address: str) -> list[str]:
    exploded = ipaddress.IPv6Address(address).exploded
    return [f"[{address}]", f"[{address.upper()}]", f"[{exploded}]", f"[{exploded.upper()}]"]


def name_spellings(name: str) -> list[str]:
    return [name, f"{name}.", name.upper(), f"{name.title()}."]


METADATA_URLS = sorted(
    {
        f"http://{host}/latest/meta-data/"
        for host in [
            *(s for address in METADATA_IPV4 for s in ipv4_spellings(address)),
            *(s for address in METADATA_IPV6 for s in ipv6_spellings(address)),
            *(s for name in METADATA_NAMES for s in name_spellings(name)),
        ]
    }
)


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} must be judged without DNS")


@pytest.mark.parametrize("url", METADATA_URLS)
def test_every_cloud_metadata_endpoint_is_refused_in_every_spelling(url: str) -> None:
    with pytest.raises(BlockedURL, match="cloud metadata"):
        check_url(url, allow_private=False, resolver=no_dns)


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_endpoints_are_refused_before_dns_at_connect_time_too(url: str) -> None:
    with pytest.raises(BlockedURL, match="cloud metadata"):
        Guard(resolver=no_dns).check_url(url, resolve=False)


@pytest.mark.parametrize("address", ["168.63.129.16", "192.0.0.192", "fd20:ce::254"])
def test_a_name_resolving_to_a_metadata_address_is_refused_as_metadata(address: str) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return [address]

    with pytest.raises(BlockedURL, match=r"innocent\.example \(.*\) is a cloud metadata"):
        check_url("http://innocent.example/", allow_private=False, resolver=resolver)


def test_metadata_table_lists_each_address_and_name_once() -> None:
    addresses = [str(a) for endpoint in METADATA_ENDPOINTS for a in endpoint.addresses]
    names = [name for endpoint in METADATA_ENDPOINTS for name in endpoint.names]
    assert set(METADATA_IPV4 + METADATA_IPV6) == set(addresses)
    assert set(METADATA_NAMES) == set(names)
    assert len(set(names)) == len(names)


# --- apicall's own table of special-purpose addresses -------------------------------------------
# The verdicts come from apicall's table (IANA's special-purpose registries), never from
# ipaddress's is_private/is_global, whose answers changed between Python 3.11 and 3.12. Each row
# is a representative address; edges are tested with their public neighbours.

VERDICTS = [
    # IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "reserved"),
    ("0.255.255.255", "reserved"),
    ("1.0.0.0", None),
    ("9.255.255.255", None),
    ("10.0.0.0", "private"),
    ("10.255.255.255", "private"),
    ("11.0.0.0", None),
    ("100.63.255.255", None),
    ("100.64.0.0", "private"),
    ("100.127.255.255", "private"),
    ("100.128.0.0", None),
    ("126.255.255.255", None),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("128.0.0.0", None),
    ("169.253.255.255", None),
    ("169.254.0.1", "link-local"),
    ("169.254.255.255", "link-local"),
    ("169.255.0.0", None),
    ("172.15.255.255", None),
    ("172.16.0.0", "private"),
    ("172.31.255.255", "private"),
    ("172.32.0.0", None),
    ("191.255.255.255", None),
    ("192.0.0.0", "reserved"),
    ("192.0.0.8", "reserved"),
    ("192.0.0.9", "reserved"),  # PCP anycast: global per IANA and Python 3.12, no API lives there
    ("192.0.0.170", "reserved"),
    ("192.0.0.255", "reserved"),
    ("192.0.1.0", None),
    ("192.0.2.1", "documentation"),
    ("192.0.3.0", None),
    ("192.31.196.1", None),  # AS112: globally reachable
    ("192.52.193.1", None),  # AMT: globally reachable
    ("192.88.99.1", "reserved"),  # deprecated 6to4 relay anycast
    ("192.167.255.255", None),
    ("192.168.0.0", "private"),
    ("192.168.255.255", "private"),
    ("192.169.0.0", None),
    ("192.175.48.1", None),  # AS112 direct delegation: globally reachable
    ("198.17.255.255", None),
    ("198.18.0.0", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("198.20.0.0", None),
    ("198.51.100.7", "documentation"),
    ("203.0.113.7", "documentation"),
    ("223.255.255.255", None),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.254", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("8.8.8.8", None),
    ("93.184.215.14", None),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::2", "reserved"),  # ::0.0.0.2, IPv4-compatible with 0/8
    ("::ffff:8.8.8.8", None),  # IPv4-mapped: judged by the IPv4 address
    ("::ffff:10.0.0.1", "private"),
    ("::8.8.8.8", None),  # IPv4-compatible: judged by the IPv4 address
    ("::ffff:0:8.8.8.8", "reserved"),  # IPv4-translated (SIIT): no route here
    ("::ffff:0:127.0.0.1", "loopback"),
    ("64:ff9b::8.8.8.8", None),  # NAT64 well-known prefix
    ("64:ff9b::192.168.0.1", "private"),
    ("64:ff9b:1::8.8.8.8", "private"),  # NAT64 local-use prefix: a site's own translator
    ("100::1", "reserved"),  # discard-only
    ("100:0:0:1::1", "reserved"),  # dummy prefix
    ("2000::1", None),
    ("2001::1", "reserved"),  # Teredo
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "reserved"),  # Teredo, client 8.8.8.8
    ("2001:1::1", "reserved"),
    ("2001:2::1", "reserved"),  # benchmarking
    ("2001:4:112::1", "reserved"),  # AS112: global per Python 3.12, private per 3.11
    ("2001:1ff:ffff::1", "reserved"),
    ("2001:200::1", None),  # just past 2001::/23
    ("2001:4860:4860::8888", None),
    ("2001:db8::1", "documentation"),
    ("2002:808:808::1", None),  # 6to4 of a public address
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("2606:4700:4700::1111", None),
    ("2620:4f:8000::1", None),  # AS112 direct delegation: global
    ("3fff::1", "documentation"),
    ("3fff:fff:ffff::1", "documentation"),
    ("3fff:1000::1", None),
    ("4000::1", "reserved"),  # outside 2000::/3, the only global unicast space
    ("5f00::1", "reserved"),  # SRv6 SIDs
    ("8000::1", "reserved"),
    ("fc00::1", "private"),
    ("fdff:ffff::1", "private"),
    ("fe80::1", "link-local"),
    ("febf::1", "link-local"),
    ("fec0::1", "private"),  # site-local, deprecated
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    # cloud metadata, inside and outside the ranges above
    ("169.254.169.254", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),
    ("192.0.0.192", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fd00:ec2::253", "private"),
]


@pytest.mark.parametrize(("address", "reason"), VERDICTS)
def test_address_verdicts_come_from_apicalls_own_table(address: str, reason: str | None) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


def test_the_verdicts_do_not_read_ipaddress_is_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    # If the guard asked ipaddress, its answers would change with the Python version.
    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        for name in (
            "is_private",
            "is_global",
            "is_reserved",
            "is_loopback",
            "is_link_local",
            "is_multicast",
            "is_unspecified",
            "is_site_local",
        ):
            if hasattr(cls, name):
                monkeypatch.setattr(cls, name, property(_forbidden_property))
    for address, reason in VERDICTS:
        assert blocked_reason(ipaddress.ip_address(address)) == reason


def _forbidden_property(self: object) -> bool:
    raise AssertionError("the guard must not ask ipaddress whether an address is private")


# --- refusal messages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:hunter2@10.0.0.1/x?key=abc",
        "http://admin:hunter2@127.0.0.1:8080/",
        "http://admin:hunter2@localhost/",
        "http://admin:hunter2@metadata.google.internal/",
        "http://admin:hunter2@169.254.169.254/",
        "http://admin:hunter2@[fd00::1]/",
        "http://admin:hunter2@rebind.example/",
        "http://hunter2@0x7f000001/",
    ],
)
def test_a_refusal_names_allow_private_network_and_no_credentials(url: str) -> None:
    with pytest.raises(BlockedURL) as caught:
        check_url(url, allow_private=False, resolver=resolver)
    error = caught.value
    assert "set allow_private_network on the connection to allow it" in error.message
    shown = f"{error.message} {error.url} {error.to_dict()}"
    assert "hunter2" not in shown and "admin" not in shown and "abc" not in shown


def test_a_refusal_reads_as_english() -> None:
    with pytest.raises(BlockedURL, match=r"host 0\.0\.0\.0 is an unspecified address"):
        check_url("http://0.0.0.0/", allow_private=False, resolver=resolver)


# --- host names the resolver would choke on ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://../",
        "http://./",
        "http://a..b.example/",
        "http://.a.example/",
        "http://exa mple.com/",
        "http://%zz/",
        "http://ex%41mple.com/",
        f"http://{'a' * 64}.example/",
        f"http://{'a.' * 127}example/",
        "http://localhost:99999/",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_a_host_that_is_no_dns_name_is_an_invalid_request(url: str, allow_private: bool) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_url(url, allow_private=allow_private, resolver=no_dns)
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    ("url", "looked_up"),
    [
        ("http://under_score.example/", "under_score.example"),
        ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ("http://Bücher.example/", "xn--bcher-kva.example"),
        # IDNA 2003 (the socket module's codec) maps ß to ss; httpx sends IDNA 2008's xn--strae-oqa.
        ("http://straße.example/", "xn--strae-oqa.example"),
        (f"http://{'a' * 63}.example./", f"{'a' * 63}.example"),
    ],
)
def test_names_are_resolved_as_httpx_sends_them(url: str, looked_up: str) -> None:
    lookups: list[str] = []

    def recording(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["93.184.215.14"]

    check_url(url, allow_private=False, resolver=recording)
    assert lookups == [looked_up]
