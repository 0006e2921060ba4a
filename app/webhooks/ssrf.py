"""The SSRF guard: a customer's webhook URL may only lead to public addresses; in development,
to this machine's loopback as well (a receiver under test), never to a private network,
link-local or shared address space, nor the cloud metadata service.

It runs when an endpoint is registered and again before every attempt, because DNS answers
change (rebinding). `resolve_target` returns every address the name resolves to, all checked;
the sender connects to one of those addresses instead of resolving the name a second time.
The URL is parsed by httpx, the same parser the sender uses, so both read the same host.

UnsafeUrl.code
 ├── invalid_url          not an absolute URL, no host, credentials in it, bad port, too long
 ├── scheme_not_allowed   not https (http only when allowed, in development)
 ├── port_not_allowed     outside the caller's allowed ports
 ├── unresolvable_host    the name has no address
 └── address_not_allowed  one of its addresses is not public (nor loopback, when allowed)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import httpx

IPAddress = IPv4Address | IPv6Address

MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}

# Not public, yet is_global does not say so (shared address space) or says so only in some
# Python versions; fd00:ec2::254 is the AWS metadata service over IPv6.
NOT_PUBLIC_NETWORKS = (
    ip_network("100.64.0.0/10"),
    ip_network("169.254.0.0/16"),
    ip_network("fd00:ec2::254/128"),
)
# NAT64 gateways turn 64:ff9b::a.b.c.d into a.b.c.d, so the IPv4 address is what gets reached.
NAT64_NETWORK = ip_network("64:ff9b::/96")


class UnsafeUrl(Exception):
    """A URL we refuse to send to; `code` is stable, `detail` is for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to one of `addresses`, present `host` as Host and TLS name."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) form, IPv6 without brackets
    port: int
    addresses: tuple[IPAddress, ...]

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ValueError("a target needs at least one address")


def check_url_syntax(
    url: str, *, allow_http: bool, allowed_ports: Collection[int] | None = None
) -> None:
    """Everything that can be refused without a DNS lookup; raises UnsafeUrl."""
    _parse(url, allow_http=allow_http, allowed_ports=allowed_ports)


async def resolve_target(
    url: str,
    *,
    allow_http: bool,
    allow_loopback: bool,
    allowed_ports: Collection[int] | None = None,
) -> Target:
    """Check the URL, resolve its host, and refuse it if any address is not public (or, when
    allow_loopback, loopback)."""
    parsed = _parse(url, allow_http=allow_http, allowed_ports=allowed_ports)
    host = parsed.raw_host.decode("ascii")
    port = _port(parsed)
    addresses = await _resolve(host, port)
    for address in addresses:
        if not is_public_address(address) and not (allow_loopback and is_loopback(address)):
            allowed = "public or loopback" if allow_loopback else "public"
            raise UnsafeUrl(
                "address_not_allowed", f"{host} resolves to {address}, which is not {allowed}"
            )
    return Target(url=url, scheme=parsed.scheme, host=host, port=port, addresses=addresses)


def is_public_address(ip: IPAddress) -> bool:
    """True for a globally routable unicast address, judged by the IPv4 it may embed."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_public_address(embedded)
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False  # is_global says True for some of these (224.0.0.1, ::7f00:1)
    return ip.is_global and not any(ip in network for network in NOT_PUBLIC_NETWORKS)


def is_loopback(ip: IPAddress) -> bool:
    """127.0.0.0/8 and ::1, also written as IPv4-mapped IPv6 (::ffff:127.0.0.1): this machine.
    Not NAT64 or 6to4 forms, which lead to a gateway's loopback rather than ours."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _parse(url: str, *, allow_http: bool, allowed_ports: Collection[int] | None) -> httpx.URL:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("invalid_url", f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise UnsafeUrl("invalid_url", str(error)) from error
    allowed_schemes = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in allowed_schemes:
        raise UnsafeUrl("scheme_not_allowed", f"the URL must use {' or '.join(allowed_schemes)}")
    if not parsed.raw_host:
        raise UnsafeUrl("invalid_url", "the URL has no host")
    if parsed.userinfo:
        # They would be sent on every attempt and shown wherever the URL is shown.
        raise UnsafeUrl("invalid_url", "the URL must not contain credentials")
    port = _port(parsed)
    if not 0 < port < 65536:
        raise UnsafeUrl("invalid_url", f"{port} is not a TCP port")
    if allowed_ports is not None and port not in allowed_ports:
        raise UnsafeUrl("port_not_allowed", f"port {port} is not allowed")
    return parsed


def _port(parsed: httpx.URL) -> int:
    return parsed.port if parsed.port is not None else DEFAULT_PORTS[parsed.scheme]


async def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address of `host`, in the resolver's order, without duplicates.

    Odd literal forms (2130706433, 0x7f.1) go through getaddrinfo too: whatever the resolver
    makes of them is the address that gets checked and then connected to.
    """
    try:
        return (ip_address(host),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        answers = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as error:  # socket.gaierror is an OSError
        raise UnsafeUrl("unresolvable_host", f"{host} does not resolve: {error}") from error
    addresses = tuple(dict.fromkeys(ip_address(answer[4][0]) for answer in answers))
    if not addresses:
        raise UnsafeUrl("unresolvable_host", f"{host} has no address")
    return addresses


def _embedded_ipv4(ip: IPAddress) -> IPv4Address | None:
    """The IPv4 address a packet to `ip` really reaches: mapped, NAT64 or 6to4."""
    if isinstance(ip, IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64_NETWORK:
        return IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.sixtofour
