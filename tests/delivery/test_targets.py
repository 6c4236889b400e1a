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
        "http://168.63.129.16/machine?comp=goalstate",
        "http://[::ffff:168.63.129.16]/",
        "http://redis:6379/",
        "http://kubernetes.default.svc.cluster.local/",
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


@pytest.mark.parametrize("host", ["mixed.example", "v6.example", "unknown.example"])
async def test_names_are_resolved_and_refused_at_connection_not_registration(host: str) -> None:
    lookups: list[str] = []

    async def recording(name: str) -> list[str]:
        lookups.append(name)
        return await resolve(name)

    guard = TargetGuard(recording)
    assert await guard.check_url(f"https://{host}/hooks") == f"https://{host}/hooks"
    assert lookups == []  # registration never asks DNS: what a name resolves to only matters when connecting
    with pytest.raises(TargetRefused):
        await guard.addresses(host)
    assert lookups == [host]
    assert await guard.addresses("public.example") == ["93.184.216.34"]  # the same guard connects to public names


@pytest.mark.parametrize("url", ["http://127.0.0.1:3000/hooks", "http://localhost:3000/", "http://app:3000/"])
async def test_a_refused_local_url_names_the_setting_that_allows_it(url: str) -> None:
    with pytest.raises(TargetRefused, match="RELAY_ALLOW_PRIVATE_TARGETS=true"):
        await TargetGuard(resolve).check_url(url)
    assert await TargetGuard(resolve, allow_private=True).check_url(url) == url


async def test_allow_private_lets_loopback_through_but_not_broken_urls() -> None:
    guard = TargetGuard(resolve, allow_private=True)

    assert await guard.check_url("http://127.0.0.1:9/x") == "http://127.0.0.1:9/x"
    assert await guard.addresses("v6.example") == ["::1"]
    with pytest.raises(TargetRefused):
        await guard.check_url("http://user:pw@127.0.0.1/")
    with pytest.raises(TargetRefused):
        await guard.addresses("unknown.example")


@pytest.mark.parametrize("address", ["168.63.129.16", "169.254.169.254", "fd00:ec2::254", "::ffff:a83f:8110"])
async def test_cloud_metadata_addresses_are_refused_even_when_private_targets_are_allowed(address: str) -> None:
    async def to_metadata(name: str) -> list[str]:
        return [address] if name == "innocent.example" else ["10.0.0.1"]

    guard = TargetGuard(to_metadata, allow_private=True)
    with pytest.raises(TargetRefused, match="cloud metadata"):
        await guard.check_url(f"http://[{address}]/" if ":" in address else f"http://{address}/")
    with pytest.raises(TargetRefused, match="cloud metadata"):
        await guard.addresses("innocent.example")
    assert await guard.addresses("private.example") == ["10.0.0.1"]  # the positive control: private is allowed


@pytest.mark.parametrize(
    ("address", "blocked"),
    [("8.8.8.8", False), ("2001:4860:4860::8888", False), ("198.18.0.1", True), ("2001:db8::1", True)],
)
def test_blocked_reason(address: str, blocked: bool) -> None:
    assert (blocked_reason(ipaddress.ip_address(address)) is not None) is blocked
