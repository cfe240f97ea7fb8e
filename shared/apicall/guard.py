"""The URL guard: refuse targets on loopback, private, link-local and cloud-metadata addresses.

A host is judged by every address it stands for. Numeric spellings that `inet_aton` accepts
(`2130706433`, `0177.1`, `0x7f.0.0.1`) are parsed here the same way, so they are caught without a
resolver; names are resolved and every address must pass. IPv6 forms that embed an IPv4 address
(mapped, compatible, NAT64, 6to4, Teredo) are judged by the embedded address.

The client judges a name when it opens a socket, by the very addresses it connects to (see
`network.py`), so a name that resolves to a public address once and to a private one a moment
later (DNS rebinding) is still refused. Its pre-request check then judges only what the URL spells
(`check_url(resolve=False)`): one lookup per new connection, none per request on a kept-alive one.
Behind a proxy the socket goes to the proxy, so there the pre-request check resolves the target.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from apicall.errors import BlockedURL, InvalidRequest, UpstreamConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(ip) for ip in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
LOCALHOST_NAMES = ("localhost", "localhost.localdomain")


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def safe_url(url: str | httpx.URL) -> str:
    """The URL for messages and logs: no userinfo, query values replaced by `***`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "(invalid URL)"
    query = "&".join(f"{name}=***" for name, _ in parsed.params.multi_items())
    return str(parsed.copy_with(userinfo=b"", query=query.encode() or None, fragment=None))


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
        names) and leaves a DNS name to a connect-time check, which must then be in place: the
        client's backend resolves once there, and a kept-alive connection was judged when it
        was opened.
        """
        parsed = _parse(url)
        if parsed.scheme not in ("http", "https"):
            raise BlockedURL(
                f"scheme {parsed.scheme!r} is not allowed, only http and https",
                url=safe_url(url),
            )
        if not parsed.host:
            raise InvalidRequest("the URL has no host", field="url", url=safe_url(url))
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
        without DNS (forbidden literals, localhost names)."""
        host = host.rstrip(".").lower()
        literal = parse_ip(host)
        if literal is not None:
            self._check_address(literal, host)
            return [str(literal)]
        if not self.permit_loopback and _is_localhost_name(host):
            raise BlockedURL(f"host {host!r} is a loopback name")
        return None

    def check_address(self, address: str) -> None:
        if not self.allow_private:
            self._check_address(ipaddress.ip_address(address), address)

    def _check_address(self, ip: IPAddress, host: str) -> None:
        reason = blocked_reason(ip)
        if reason is None or (reason == "loopback" and self.permit_loopback):
            return
        shown = host if host == str(ip) else f"{host} ({ip})"
        raise BlockedURL(f"host {shown} is a {reason} address")

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


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public target (`"loopback"`, `"private"`, ...), or None when it is."""
    ip = embedded_ipv4(ip) or ip
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private or ip in CGNAT:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # 64:ff9b::a.b.c.d, ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


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


def _is_localhost_name(host: str) -> bool:
    return host in LOCALHOST_NAMES or host.endswith(".localhost")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


@dataclass(frozen=True)
class _ParsedURL:
    scheme: str
    host: str
    port: int | None


def _parse(url: str | httpx.URL) -> _ParsedURL:
    # httpx's parser is the one the client connects with, so the guard judges the same host.
    # httpx refuses some numeric spellings (`0177.0.0.1`) that it would never send; they are
    # still judged by address below so that the answer is "blocked", not "invalid".
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        return _ParsedURL(parsed.scheme, parsed.host, parsed.port)
    except httpx.InvalidURL as exc:
        fallback = urlsplit(str(url))
        literal = parse_ip((fallback.hostname or "").rstrip("."))
        if literal is not None and blocked_reason(literal):
            return _ParsedURL(fallback.scheme.lower(), str(literal), None)
        raise InvalidRequest(f"invalid URL: {exc}", field="url", url=safe_url(url)) from exc
