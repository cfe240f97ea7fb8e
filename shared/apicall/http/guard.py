"""The URL guard: refuse targets on loopback, private, link-local and cloud-metadata addresses.

A host is judged by every address it stands for. Numeric spellings that `inet_aton` accepts
(`2130706433`, `0177.1`, `0x7f.0.0.1`) are parsed here the same way, so they are caught without a
resolver; names are resolved and every address must pass. IPv6 forms that embed an IPv4 address
(mapped, compatible, translated, NAT64, 6to4, Teredo) are judged by the embedded address too.

The verdict comes from two tables kept here, never from `ipaddress`'s `is_private`/`is_global`
family: those follow IANA's registries as each Python release saw them, and their answers changed
between 3.11 and 3.12 (192.0.0.0/24, 2001::/23, ...), so the same address could pass on a
developer's machine and be refused on the Lambda runtime, or the reverse.

The client judges a name when it opens a socket, by the very addresses it connects to (see
`transport.py`), so a name that resolves to a public address once and to a private one a moment
later (DNS rebinding) is still refused. Its pre-request check then judges only what the URL spells
(`check_url(resolve=False)`): one lookup per new connection, none per request on a kept-alive one.
Behind a proxy the socket goes to the proxy, so there the pre-request check resolves the target.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from apicall.core.errors import BlockedURL, InvalidRequest, UpstreamConnectionError
from apicall.core.models import Connection

# CROSS
from apicall.core.redaction import safe_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]

ALLOW_HINT = "set allow_private_network on the connection to allow it"


@dataclass(frozen=True)
class MetadataEndpoint:
    """Where one cloud serves instance metadata or credentials to the machine it runs on."""

    provider: str
    addresses: tuple[IPAddress, ...]
    names: tuple[str, ...]
    source: str


def _endpoint(provider: str, addresses: str, names: str, source: str) -> MetadataEndpoint:
    return MetadataEndpoint(
        provider,
        tuple(ipaddress.ip_address(address) for address in addresses.split()),
        tuple(names.split()),
        source,
    )


# Every metadata endpoint apicall knows of: refused as "cloud metadata" in any spelling, by address
# and by name. Most addresses also sit in a blocked range below; the table still matters for the
# ones that do not (Azure's WireServer is a public-range address, Packet's names resolve to public
# addresses) and for a message that says what the target is. A name is refused before any lookup,
# so it is refused behind a proxy too, where only the proxy resolves.
METADATA_ENDPOINTS: tuple[MetadataEndpoint, ...] = (
    _endpoint(
        "AWS EC2 instance metadata (IMDS)",
        "169.254.169.254 fd00:ec2::254",
        "instance-data instance-data.ec2.internal",
        "docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html",
    ),
    _endpoint(
        "AWS ECS task metadata and credentials (v2; v3/v4 are served from the same address)",
        "169.254.170.2",
        "",
        "docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint.html",
    ),
    _endpoint(
        "AWS EKS Pod Identity agent",
        "169.254.170.23 fd00:ec2::23",
        "",
        "docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html",
    ),
    _endpoint(
        "Google Cloud metadata server",
        "169.254.169.254 fd20:ce::254",
        "metadata.google.internal metadata metadata.goog",
        "cloud.google.com/compute/docs/metadata/querying-metadata",
    ),
    _endpoint(
        "Azure IMDS and WireServer (168.63.129.16, a public-range address)",
        "169.254.169.254 168.63.129.16",
        # Not an Azure-documented name, but one SSRF lists try; nothing public is called so.
        "metadata.azure.internal",
        "learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16",
    ),
    _endpoint(
        "Alibaba Cloud ECS metadata",
        "100.100.100.200 fd00:100::100:200",
        "",
        "alibabacloud.com/help/ecs/user-guide/view-instance-metadata",
    ),
    _endpoint(
        "Oracle Cloud Infrastructure IMDS, and Oracle Cloud Classic (192.0.0.192)",
        "169.254.169.254 fd00:c1::a9fe:a9fe 192.0.0.192",
        "",
        "docs.oracle.com/iaas/Content/Compute/Tasks/gettingmetadata.htm",
    ),
    _endpoint(
        "DigitalOcean, Hetzner Cloud, Vultr, Exoscale, Huawei Cloud metadata",
        "169.254.169.254",
        "",
        "each provider's metadata documentation",
    ),
    _endpoint(
        "OpenStack metadata service (Nova)",
        "169.254.169.254 fe80::a9fe:a9fe",
        "",
        "docs.openstack.org/nova/latest/user/metadata.html",
    ),
    _endpoint(
        "Akamai (Linode) metadata service",
        "169.254.169.254 fd00:a9fe:a9fe::1",
        "",
        "techdocs.akamai.com/cloud-computing/docs/metadata-service-api",
    ),
    _endpoint(
        "IBM Cloud VPC metadata service",
        "169.254.169.254",
        "api.metadata.cloud.ibm.com",
        "cloud.ibm.com/docs/vpc?topic=vpc-imd-about",
    ),
    _endpoint(
        "Tencent Cloud metadata",
        "169.254.0.23",
        "metadata.tencentyun.com",
        "tencentcloud.com/document/product/213/4934",
    ),
    _endpoint(
        "Scaleway metadata",
        "169.254.42.42 fd00:42::42",
        "",
        "scaleway.com/en/docs/instances/",
    ),
    _endpoint(
        "Packet / Equinix Metal metadata (names that resolve to public addresses)",
        "",
        "metadata.packet.net metadata.platformequinix.com",
        "deploy.equinix.com/developers/docs/metal/server-metadata/metadata/",
    ),
    _endpoint(
        "Rancher 1.x metadata service (169.254.169.250)",
        "",
        "rancher-metadata",
        "rancher.com/docs/rancher/v1.6/en/rancher-services/metadata-service/",
    ),
)
METADATA_ADDRESSES = frozenset(a for endpoint in METADATA_ENDPOINTS for a in endpoint.addresses)
METADATA_NAMES = frozenset(name for endpoint in METADATA_ENDPOINTS for name in endpoint.names)
LOCALHOST_NAMES = ("localhost", "localhost.localdomain")


# IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its updates), the
# multicast and reserved spaces, and IPv6 space outside 2000::/3 (the only global unicast space
# allocated). The most specific network an address is in gives its reason; an address in none
# is public. Networks IANA marks globally reachable (AS112 192.31.196.0/24 and 192.175.48.0/24,
# AMT 192.52.193.0/24, 2620:4f:8000::/48) are left out; those inside a larger blocked network
# (192.0.0.9 and .10 in 192.0.0.0/24, 2001:1::1 and AS112 2001:4:112::/48 in 2001::/23) stay
# blocked with it: no API is served from an anycast protocol address.
SPECIAL_NETWORKS: tuple[tuple[str, str, str], ...] = (
    # network, reason ("host ... is a <reason> address"), what it is
    ("0.0.0.0/8", "reserved", "'this network' (RFC 791); Linux connects 0.0.0.0 to itself"),
    ("0.0.0.0/32", "unspecified", "'this host' (RFC 1122)"),
    ("10.0.0.0/8", "private", "RFC 1918"),
    ("100.64.0.0/10", "private", "shared address space, carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback", "RFC 1122"),
    ("169.254.0.0/16", "link-local", "RFC 3927"),
    ("172.16.0.0/12", "private", "RFC 1918"),
    ("192.0.0.0/24", "reserved", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation", "TEST-NET-1 (RFC 5737)"),
    ("192.88.99.0/24", "reserved", "6to4 relay anycast, deprecated (RFC 7526)"),
    ("192.168.0.0/16", "private", "RFC 1918"),
    ("198.18.0.0/15", "benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "documentation", "TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation", "TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast", "RFC 5771"),
    ("240.0.0.0/4", "reserved", "future use (RFC 1112)"),
    ("255.255.255.255/32", "broadcast", "limited broadcast (RFC 919)"),
    ("::/128", "unspecified", "RFC 4291"),
    ("::1/128", "loopback", "RFC 4291"),
    ("::/3", "reserved", "outside global unicast 2000::/3 (IANA IPv6 address space)"),
    ("100::/64", "reserved", "discard-only (RFC 6666)"),
    ("64:ff9b:1::/48", "private", "local-use IPv4/IPv6 translation (RFC 8215)"),
    ("2001::/23", "reserved", "IETF protocol assignments, Teredo, benchmarking (RFC 2928)"),
    ("2001:db8::/32", "documentation", "RFC 3849"),
    ("3fff::/20", "documentation", "RFC 9637"),
    ("4000::/2", "reserved", "outside global unicast 2000::/3"),
    ("5f00::/16", "reserved", "SRv6 SIDs (RFC 9602)"),
    ("8000::/1", "reserved", "outside global unicast 2000::/3"),
    ("fc00::/7", "private", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local", "RFC 4291"),
    ("fec0::/10", "private", "site-local, deprecated (RFC 3879)"),
    ("ff00::/8", "multicast", "RFC 4291"),
)
# IPv6 networks whose addresses stand for the IPv4 address they carry; they are judged by it:
# IPv4-mapped and IPv4-compatible (RFC 4291), the NAT64 well-known prefix (RFC 6052), 6to4 (RFC
# 3056). Teredo and IPv4-translated addresses also carry one, which can only add a reason.
IPV4_CARRIERS = tuple(
    ipaddress.IPv6Network(network)
    for network in ("::ffff:0:0/96", "::/96", "64:ff9b::/96", "2002::/16")
)
# A DNS name as it goes to the resolver: IDNA-encoded by httpx, labels of 1 to 63 letters,
# digits, hyphens or underscores, 253 characters at most. The socket module's IDNA codec raises
# on anything else, and a percent sign or a space can never resolve.
DNS_LABEL = re.compile(r"[a-z0-9_-]{1,63}")


def _by_specificity(
    version: int,
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    networks = [
        (ipaddress.ip_network(network), reason)
        for network, reason, _ in SPECIAL_NETWORKS
        if ipaddress.ip_network(network).version == version
    ]
    return tuple(sorted(networks, key=lambda row: -row[0].prefixlen))


_SPECIAL = {4: _by_specificity(4), 6: _by_specificity(6)}
_METADATA = frozenset((ip.version, int(ip)) for ip in METADATA_ADDRESSES)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Guard:
    """The address policy of one connection.

    `permit_loopback` exists for tests only: their servers listen on 127.0.0.1, yet a test must
    still be able to show that a redirect to 10.0.0.1 or 169.254.169.254 is refused. It lets
    loopback addresses and `localhost` names through and nothing else.
    """

    allow_private: bool = False
    permit_loopback: bool = False
    resolver: Resolver = resolve_host

    def check_url(self, url: str | httpx.URL, *, resolve: bool = True) -> None:
        """Raise unless `url` is http(s) on an allowed host.

        `resolve=False` judges only what the URL spells (scheme, literal addresses, localhost
        and metadata names) and leaves a DNS name to a connect-time check, which must then be in
        place: the client's backend resolves once there, and a kept-alive connection was judged
        when it was opened.
        """
        parsed = _parse(url)
        if parsed.scheme not in ("http", "https"):
            raise BlockedURL(
                f"scheme {parsed.scheme!r} is not allowed, only http and https",
                url=safe_url(url),
            )
        problem = address_problem(parsed.host, parsed.port)
        if problem is not None:
            raise InvalidRequest(f"the URL {problem}", field="url", url=safe_url(url))
        if self.allow_private:
            return
        try:
            if resolve:
                self.allowed_addresses(parsed.host, parsed.port or _default_port(parsed.scheme))
            else:
                self._spelled_addresses(parsed.host)
        except BlockedURL as exc:
            exc.url = safe_url(url)
            raise

    def allowed_addresses(self, host: str, port: int) -> list[str]:
        """The addresses `host` stands for, refusing the host unless every one is allowed."""
        spelled = self._spelled_addresses(host)
        if spelled is not None:
            return spelled
        host = host.rstrip(".").lower()
        addresses = self._resolve(host, port)
        for address in addresses:
            self._check_address(ipaddress.ip_address(address), host)
        return addresses

    def _spelled_addresses(self, host: str) -> list[str] | None:
        """The address a literal host is, None for a name to resolve; refuses what it can judge
        without DNS (forbidden literals, localhost and metadata names)."""
        host = host.rstrip(".").lower()
        literal = parse_ip(host)
        if literal is not None:
            self._check_address(literal, host)
            return [str(literal)]
        if host in METADATA_NAMES:
            raise BlockedURL(f"host {host!r} is a cloud metadata name; {ALLOW_HINT}")
        if not self.permit_loopback and _is_localhost_name(host):
            raise BlockedURL(f"host {host!r} is a loopback name; {ALLOW_HINT}")
        return None

    def _check_address(self, ip: IPAddress, host: str) -> None:
        reason = blocked_reason(ip)
        if reason is None or (reason == "loopback" and self.permit_loopback):
            return
        shown = host if host == str(ip) else f"{host} ({ip})"
        article = "an" if reason[0] in "aeiou" else "a"
        raise BlockedURL(f"host {shown} is {article} {reason} address; {ALLOW_HINT}")

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise UpstreamConnectionError(f"could not resolve host {host!r}: {exc}") from exc
        if not addresses:
            raise UpstreamConnectionError(f"host {host!r} resolved to no address")
        return addresses


def check_url(
    url: str | httpx.URL,
    *,
    allow_private: bool,
    permit_loopback: bool = False,
    resolver: Resolver = resolve_host,
) -> None:
    """Raise BlockedURL unless `url` is http(s) on a host whose every address is allowed."""
    Guard(allow_private, permit_loopback, resolver).check_url(url)


@functools.lru_cache(maxsize=1024)  # asked on every request, mostly of the same few hosts
def address_problem(host: str, port: int | None) -> str | None:
    """What makes `host` (as httpx sends it) and `port` impossible to connect to, or None."""
    if not host.rstrip("."):
        return "has no host"
    if parse_ip(host) is None and not _is_dns_name(host):
        return f"host {host!r} is not a valid host name"
    if port is not None and not 0 < port < 1 << 16:
        return f"port {port} is out of range"
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public target (`"loopback"`, `"private"`, ...), or None when it is."""
    carried = embedded_ipv4(ip)
    if carried is not None:
        reason = _table_reason(carried)
        if reason is not None or any(ip in network for network in IPV4_CARRIERS):
            return reason
    return _table_reason(ip)


def _table_reason(ip: IPAddress) -> str | None:
    if (ip.version, int(ip)) in _METADATA:  # by value: a zone (fe80::1%eth0) changes equality
        return "cloud metadata"
    for network, reason in _SPECIAL[ip.version]:
        if ip in network:
            return reason
    return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, NAT64, 6to4,
    Teredo), None for any other address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    value = int(ip)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    # ::a.b.c.d (compatible, but not :: or ::1), ::ffff:0:a.b.c.d (translated), 64:ff9b::a.b.c.d
    if (value >> 32 in (0, 0xFFFF0000) and value > 1) or ip in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


@functools.lru_cache(maxsize=1024)
def parse_ip(host: str) -> IPAddress | None:
    """`host` as an IP address in any spelling `inet_aton` or a bracketed URL host accepts."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return parse_loose_ipv4(host)


def parse_loose_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse the BSD `inet_aton` forms: 1 to 4 parts, each decimal, octal (0...) or hex (0x...).

    The last part fills the remaining bytes, so `127.1` is 127.0.0.1 and `2130706433` is too.
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_parse_inet_number(part) for part in parts]
    if None in numbers:
        return None
    *head, last = [number for number in numbers if number is not None]
    if any(number > 0xFF for number in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _parse_inet_number(part: str) -> int | None:
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _is_dns_name(host: str) -> bool:
    name = host[:-1] if host.endswith(".") else host
    return len(name) <= 253 and all(DNS_LABEL.fullmatch(label) for label in name.split("."))


def _is_localhost_name(host: str) -> bool:
    return host in LOCALHOST_NAMES or host.endswith(".localhost")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


@dataclass(frozen=True)
class _ParsedURL:
    scheme: str
    host: str  # lower case, IDNA-encoded: the name the socket will look up
    port: int | None


def _parse(url: str | httpx.URL) -> _ParsedURL:
    # httpx's parser is the one the client connects with, so the guard judges the same host, in
    # the ASCII form httpx sends (its IDNA 2008 encoding; the socket module's IDNA 2003 codec
    # would turn `straße` into another name). httpx refuses some numeric spellings
    # (`0177.0.0.1`) that it would never send; they are still judged by address below so that
    # the answer is "blocked", not "invalid".
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        return _ParsedURL(parsed.scheme, parsed.raw_host.decode("ascii").lower(), parsed.port)
    except (httpx.InvalidURL, UnicodeError) as exc:
        fallback = urlsplit(str(url))
        literal = parse_ip((fallback.hostname or "").rstrip("."))
        if literal is not None and blocked_reason(literal):
            return _ParsedURL(fallback.scheme.lower(), str(literal), None)
        raise InvalidRequest(f"invalid URL: {exc}", field="url", url=safe_url(url)) from exc


_BY_POLICY = {allow: Guard(allow_private=allow) for allow in (False, True)}


def guard_for(connection: Connection) -> Guard:
    """The address policy `connection` asks for: strict unless `allow_private_network`."""
    return _BY_POLICY[connection.allow_private_network]
