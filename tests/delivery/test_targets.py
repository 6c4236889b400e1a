"""The SSRF guard: which hosts and addresses the relay refuses to call, with a resolver the test controls."""

from __future__ import annotations

import ipaddress

import pytest

from relay.delivery.targets import TargetGuard, blocked_reason
from relay.errors import TargetRefused

pytestmark = pytest.mark.anyio

DNS = {"public.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.0.0.7"], "v6.example": ["::1"]}


async def resolve(host: str) -> list[str]:
    if host not in DNS:
        raise OSError(f"no such host {host!r}")
    return DNS[host]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.9.9.9:8080/x",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://app.localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::127.0.0.1]/",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://100.100.100.200/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://017700000001/",
        "http://mixed.example/",
        "http://v6.example/",
        "http://unknown.example/",
        "ftp://public.example/",
        "file:///etc/passwd",
        "http://user:pw@public.example/",
        "http:///nohost",
        "not a url",
    ],
)
async def test_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await TargetGuard(resolve).check_url(url)


@pytest.mark.parametrize(
    "url", ["https://public.example/hooks", "http://93.184.216.34:8080/x", "https://[2606:2800:220:1::]/"]
)
async def test_public_targets_pass(url: str) -> None:
    assert await TargetGuard(resolve).check_url(url) == url


async def test_allow_private_lets_loopback_through_but_not_broken_urls() -> None:
    guard = TargetGuard(resolve, allow_private=True)

    assert await guard.check_url("http://127.0.0.1:9/x") == "http://127.0.0.1:9/x"
    assert await guard.addresses("v6.example") == ["::1"]
    with pytest.raises(TargetRefused):
        await guard.check_url("http://user:pw@127.0.0.1/")
    with pytest.raises(TargetRefused):
        await guard.check_url("http://unknown.example/")


@pytest.mark.parametrize(
    ("address", "blocked"),
    [("8.8.8.8", False), ("2001:4860:4860::8888", False), ("198.18.0.1", True), ("2001:db8::1", True)],
)
def test_blocked_reason(address: str, blocked: bool) -> None:
    assert (blocked_reason(ipaddress.ip_address(address)) is not None) is blocked
