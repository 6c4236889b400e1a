"""Which subscriber URLs the relay may call (SSRF defence), checked at registration and again at every connection.

A URL must be ``http``/``https`` without credentials. Its host is refused when it is a metadata or local name
(``localhost``, ``*.internal``, a single label such as ``redis``), an IP written in a non-canonical spelling
(``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``: resolvers read those as IPs), or when any address it
resolves to is not public: loopback, RFC 1918, link-local (cloud metadata ``169.254.169.254``), CGNAT
``100.64/10``, unique-local IPv6, multicast, unspecified ``0.0.0.0``/``::``, and IPv4 embedded in IPv6
(``::ffff:a.b.c.d``, ``::a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``, Teredo) when the embedded address is
itself refused. Cloud metadata addresses, public ones such as Azure's WireServer ``168.63.129.16`` included, are
refused even with ``RELAY_ALLOW_PRIVATE_TARGETS`` (no local development needs them). A failed lookup refuses too.

Registration (:meth:`TargetGuard.check_url`) refuses what can never be valid and does not resolve names: a name
that does not resolve today may tomorrow, and what it resolves to is only meaningful at connection time.
:meth:`TargetGuard.addresses` resolves once at every connection and returns the checked addresses; the delivery
transport connects to those very addresses (:mod:`relay.delivery.transport`), so a name cannot resolve to
something else in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable

import httpx

from relay.errors import TargetRefused, TargetUnresolved

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[list[str]]]
"""``async (host) -> [ip, ...]``: how names are looked up (injectable so tests control DNS)."""

METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "localhost",
    }
)
LOCAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/3",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
        "fd00:ec2::254/128",
    )
)
# Instance metadata and platform services of cloud hosts: credentials live behind them. Most are link-local or
# private anyway; 168.63.129.16 (Azure WireServer) is a public address, and all are refused even where private
# targets are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, Hetzner...
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.169.123",  # AWS time sync
        "169.254.0.23",  # Tencent Cloud
        "168.63.129.16",  # Azure WireServer (a public address)
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
    )
)
ALLOW_HINT = "RELAY_ALLOW_PRIVATE_TARGETS=true allows local targets, for development only"
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def metadata_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is refused even where private targets are allowed: a cloud metadata address, or one embedding it."""
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if ip in METADATA_ADDRESSES or embedded in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why the relay must not connect to ``ip``, or None when it is a public unicast address."""
    metadata = metadata_reason(ip)
    if metadata is not None:
        return metadata
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and blocked_reason(embedded) is not None:
            return f"{ip} embeds the non-public IPv4 address {embedded}"
    if any(ip in net for net in BLOCKED_NETWORKS if net.version == ip.version):
        return f"{ip} is not a public address"
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is not a public address"
    return None


def literal_ip(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal; refuses IPv4 spellings other than canonical dotted decimal."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if NUMERIC_HOST.fullmatch(host) and any(char.isdigit() for char in host):
        try:
            socket.inet_aton(host)
        except OSError:
            return None
        raise TargetRefused(f"host {host!r} is an IP address in a non-canonical spelling", host)
    return None


def parse_url(url: str) -> httpx.URL:
    """The URL when its form is acceptable (scheme, no credentials, a host); raises :class:`TargetRefused`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise TargetRefused(f"url {url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise TargetRefused(f"url scheme must be http or https, got {parsed.scheme!r}")
    if parsed.userinfo:
        raise TargetRefused("url must not carry credentials (user:password@)")
    if not parsed.host:
        raise TargetRefused(f"url {url!r} has no host")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise TargetRefused(f"url port must be 1-65535, got {parsed.port!r}")
    return parsed


async def system_resolver(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class TargetGuard:
    """Checks subscriber hosts and resolves them to addresses the relay may connect to.

    :param resolver: name lookup, ``async (host) -> [ip, ...]``; the system's by default.
    :param allow_private: ``RELAY_ALLOW_PRIVATE_TARGETS``: skip the address checks (local development, tests).
    """

    def __init__(self, resolver: Resolver = system_resolver, allow_private: bool = False) -> None:
        self.resolver = resolver
        self.allow_private = allow_private

    async def check_url(self, url: str) -> str:
        """Registration: the URL (normalized) unless it can never be called; raises :class:`TargetRefused`.

        Names are not resolved here (see the module docstring): every connection checks what they resolve to.
        """
        parsed = parse_url(url)
        self.check_host(parsed.host)
        return str(parsed)

    def check_host(self, host: str) -> None:
        """Refuse a host that no lookup can make acceptable: a blocked IP literal, a local or metadata name."""
        name = host.strip("[]").rstrip(".").lower()
        ip = literal_ip(name) if not self.allow_private else _plain_literal(name)
        if ip is not None:
            reason = metadata_reason(ip) if self.allow_private else blocked_reason(ip)
            if reason is not None:
                hint = "" if self.allow_private or metadata_reason(ip) else f"; {ALLOW_HINT}"
                raise TargetRefused(f"host {host!r} refused: {reason}{hint}", host)
        elif not self.allow_private and (name in METADATA_NAMES or name.endswith(LOCAL_SUFFIXES) or "." not in name):
            raise TargetRefused(f"host {host!r} is a local or metadata name; {ALLOW_HINT}", host)

    async def addresses(self, host: str) -> list[str]:
        """Every address ``host`` resolves to, all checked; raises :class:`TargetRefused` if any is refused."""
        name = host.strip("[]").rstrip(".").lower()
        if not self.allow_private and (name in METADATA_NAMES or name.endswith(LOCAL_SUFFIXES)):
            raise TargetRefused(f"host {host!r} is a local or metadata name", host)
        ip = literal_ip(name) if not self.allow_private else _plain_literal(name)
        if ip is not None:
            found = [ip]
        else:
            try:
                found = [ipaddress.ip_address(address.split("%")[0]) for address in await self.resolver(name)]
            except (OSError, ValueError, UnicodeError) as exc:
                raise TargetUnresolved(f"host {host!r} could not be resolved: {exc}", host) from exc
            if not found:
                raise TargetUnresolved(f"host {host!r} resolves to no address", host)
        for address in found:
            reason = metadata_reason(address) if self.allow_private else blocked_reason(address)
            if reason is not None:
                raise TargetRefused(f"host {host!r} refused: {reason}", host)
        return [str(address) for address in found]


def _plain_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
