"""The SSRF guard, table-driven; hostnames are answered by a fake resolver, never by real DNS."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest

from app.webhooks.ssrf import (
    UnsafeUrl,
    check_url_syntax,
    is_loopback,
    is_public_address,
    resolve_target,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class FakeResolver:
    """Stands in for loop.getaddrinfo: each call answers with the next list of addresses."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self._answers: Iterator[Sequence[str]] = iter(answers)
        self.hosts: list[str] = []

    async def __call__(self, host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        self.hosts.append(host)
        addresses = next(self._answers)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_addrinfo(address, port) for address in addresses]


def _addrinfo(address: str, port: int) -> tuple[Any, ...]:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


InstallResolver = Callable[..., FakeResolver]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> InstallResolver:
    """Call with the successive answers; returns the resolver (to see what was asked)."""

    def install(*answers: Sequence[str]) -> FakeResolver:
        resolver = FakeResolver(*answers)
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolver)
        return resolver

    return install


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1", "address_not_allowed"),
        ("http://2130706433", "address_not_allowed"),  # decimal 127.0.0.1
        ("http://0x7f.1", "address_not_allowed"),  # hex and shortened
        ("http://127.1:8080/hook", "address_not_allowed"),
        ("http://0177.0.0.1", "invalid_url"),  # octal: httpx refuses to parse it
        ("http://[::ffff:127.0.0.1]", "address_not_allowed"),  # IPv4-mapped
        ("http://[64:ff9b::7f00:1]", "address_not_allowed"),  # NAT64 to 127.0.0.1
        ("http://[2002:a00:5::]", "address_not_allowed"),  # 6to4 to 10.0.0.5
        ("http://[::7f00:1]", "address_not_allowed"),  # IPv4-compatible (reserved)
        ("http://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("http://[fd00:ec2::254]", "address_not_allowed"),
        ("http://10.0.0.5", "address_not_allowed"),
        ("http://192.168.1.1", "address_not_allowed"),
        ("http://100.64.1.1", "address_not_allowed"),  # carrier-grade NAT
        ("http://0.0.0.0", "address_not_allowed"),
        ("http://224.0.0.1", "address_not_allowed"),
        ("http://[::1]", "address_not_allowed"),
        ("http://[fe80::1]", "address_not_allowed"),
        ("http://[fc00::1]", "address_not_allowed"),
        ("https://localhost", "address_not_allowed"),  # /etc/hosts, no DNS
        ("ftp://x", "scheme_not_allowed"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("example.com/hook", "scheme_not_allowed"),
        ("http://", "invalid_url"),
        ("https://user:pw@example.com", "invalid_url"),
        ("http://evil.example\\@127.0.0.1", "invalid_url"),  # a backslash trick is userinfo
        ("https://example.com:99999/", "invalid_url"),
        ("https://example.com:0/", "invalid_url"),
        ("https://example.com/" + "a" * 2000, "invalid_url"),
        ("https://exa mple.com\n/", "invalid_url"),
    ],
)
async def test_unsafe_urls_are_refused(url: str, code: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await resolve_target(url, allow_http=True, allow_loopback=False)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com/hook", "scheme_not_allowed"),
        ("ftp://example.com/hook", "scheme_not_allowed"),
        ("https://@:443/", "invalid_url"),
        ("https://user@example.com/", "invalid_url"),
    ],
)
def test_syntax_check_without_http(url: str, code: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        check_url_syntax(url, allow_http=False)
    assert refused.value.code == code


def test_syntax_check_accepts_https_and_http_only_when_allowed() -> None:
    check_url_syntax("https://hooks.example.com/cachet?x=1", allow_http=False)
    check_url_syntax("http://hooks.example.com:8080/cachet", allow_http=True)


def test_allowed_ports_when_given() -> None:
    check_url_syntax("https://hooks.example.com/", allow_http=False, allowed_ports={443})
    with pytest.raises(UnsafeUrl) as refused:
        check_url_syntax("https://hooks.example.com:8443/", allow_http=False, allowed_ports={443})
    assert refused.value.code == "port_not_allowed"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://127.8.9.10/",
        "http://2130706433/",  # decimal 127.0.0.1
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback is still this machine
    ],
)
async def test_loopback_is_allowed_in_development(url: str) -> None:
    target = await resolve_target(url, allow_http=True, allow_loopback=True)
    assert is_loopback(target.addresses[0])
    assert not is_public_address(target.addresses[0])


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "http://169.254.0.1/",  # link-local
        "http://100.64.1.1/",  # carrier-grade NAT
        "http://100.127.255.254/",
        "http://0.0.0.0/",  # reaches this machine on Linux, yet is not loopback
        "http://[fe80::1]/",  # link-local
        "http://[fc00::1]/",  # unique local
        "http://[fd00:ec2::254]/",  # the metadata service over IPv6
        "http://[::ffff:10.0.0.5]/",  # IPv4-mapped forms of each
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:100.64.1.1]/",
        "http://[::ffff:192.168.1.1]/",
        "http://[64:ff9b::7f00:1]/",  # NAT64 to 127.0.0.1: a gateway's loopback, not ours
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[::7f00:1]/",  # IPv4-compatible (deprecated), not loopback
    ],
)
async def test_development_refuses_every_non_public_address_but_loopback(url: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await resolve_target(url, allow_http=True, allow_loopback=True)
    assert refused.value.code == "address_not_allowed"
    assert "public or loopback" in refused.value.detail


async def test_a_name_with_one_private_address_is_refused_in_development(
    fake_dns: InstallResolver,
) -> None:
    fake_dns(["127.0.0.1", "192.168.1.1"])
    with pytest.raises(UnsafeUrl) as refused:
        await resolve_target("http://dev.example/", allow_http=True, allow_loopback=True)
    assert refused.value.code == "address_not_allowed"
    assert "192.168.1.1" in refused.value.detail


async def test_a_public_literal_needs_no_dns(fake_dns: InstallResolver) -> None:
    resolver = fake_dns()  # raises StopIteration if asked

    target = await resolve_target(
        f"https://{PUBLIC_V4}/hook", allow_http=False, allow_loopback=False
    )

    assert target.addresses == (IPv4Address(PUBLIC_V4),)
    assert (target.scheme, target.host, target.port) == ("https", PUBLIC_V4, 443)
    assert resolver.hosts == []


async def test_a_hostname_resolves_to_all_its_public_addresses(fake_dns: InstallResolver) -> None:
    fake_dns([PUBLIC_V6, PUBLIC_V4, PUBLIC_V4])
    url = "https://Hooks.Example.COM:8443/cachet"

    target = await resolve_target(url, allow_http=False, allow_loopback=False)

    assert target.url == url
    assert (target.host, target.port) == ("hooks.example.com", 8443)
    assert target.addresses == (IPv6Address(PUBLIC_V6), IPv4Address(PUBLIC_V4))


async def test_an_idn_is_resolved_in_its_ascii_form(fake_dns: InstallResolver) -> None:
    resolver = fake_dns([PUBLIC_V4])

    target = await resolve_target("https://bücher.example/", allow_http=False, allow_loopback=False)

    assert resolver.hosts == ["xn--bcher-kva.example"]
    assert target.host == "xn--bcher-kva.example"


async def test_one_private_answer_among_public_ones_is_refused(fake_dns: InstallResolver) -> None:
    fake_dns([PUBLIC_V4, "10.0.0.5"])
    with pytest.raises(UnsafeUrl) as refused:
        await resolve_target("https://hooks.example.com/", allow_http=False, allow_loopback=False)
    assert refused.value.code == "address_not_allowed"
    assert "10.0.0.5" in refused.value.detail


async def test_dns_rebinding_is_caught_on_the_next_attempt(fake_dns: InstallResolver) -> None:
    fake_dns([PUBLIC_V4], ["10.0.0.5"])
    url = "https://rebind.example.com/hook"

    first = await resolve_target(url, allow_http=False, allow_loopback=False)
    assert first.addresses == (IPv4Address(PUBLIC_V4),)
    with pytest.raises(UnsafeUrl) as refused:
        await resolve_target(url, allow_http=False, allow_loopback=False)
    assert refused.value.code == "address_not_allowed"


async def test_a_name_without_addresses_is_unresolvable(fake_dns: InstallResolver) -> None:
    fake_dns([])
    with pytest.raises(UnsafeUrl) as refused:
        await resolve_target("https://nowhere.example/", allow_http=False, allow_loopback=False)
    assert refused.value.code == "unresolvable_host"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC_V4, True),
        (PUBLIC_V6, True),
        ("::ffff:93.184.215.14", True),  # mapped: judged by the IPv4 inside
        ("64:ff9b::5db8:d70e", True),  # NAT64 of the public address
        ("64:ff9b::a00:5", False),  # NAT64 of 10.0.0.5
        ("::ffff:169.254.169.254", False),
        ("100.127.255.255", False),
        ("100.128.0.0", True),  # just outside 100.64.0.0/10
        ("169.254.0.1", False),
        ("172.16.0.1", False),
        ("198.18.0.1", False),  # benchmarking
        ("192.0.2.1", False),  # documentation
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("239.255.255.250", False),
        ("ff02::1", False),
        ("::", False),
        ("2001:db8::1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ip_address(address)) is public
