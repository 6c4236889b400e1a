"""Client addresses behind trusted proxies, and the per-provider IP allow-lists (403) on a real server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from relay.app import create_app
from relay.clientip import parse_address, rate_key, resolve
from relay.config import Settings, SettingsError, parse_networks
from tests.conftest import ADMIN
from tests.servers import run_server

PROXIES = parse_networks("test", "127.0.0.1, 10.0.0.0/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),  # an untrusted peer's header is ignored
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.1"], "203.0.113.1"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.1, 10.1.2.3"], "203.0.113.1"),  # spoofed leftmost hop is not believed
        ("127.0.0.1", ["6.6.6.6", "203.0.113.1, 10.1.2.3"], "203.0.113.1"),  # several headers are one list
        ("127.0.0.1", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),  # only proxies: the farthest one
        ("127.0.0.1", ["garbage, 10.0.0.2"], "10.0.0.2"),  # a garbled hop ends the chain
        ("127.0.0.1", ["::ffff:203.0.113.9"], "203.0.113.9"),
        ("::ffff:127.0.0.1", ["203.0.113.1"], "203.0.113.1"),
        (None, ["203.0.113.1"], None),
        ("not-an-ip", ["203.0.113.1"], None),
    ],
)
def test_resolve(peer: str | None, forwarded: list[str], client: str | None) -> None:
    found = resolve(peer, forwarded, PROXIES)

    assert (str(found) if found else None) == client


def test_ipv6_clients_are_limited_per_64() -> None:
    a, b = parse_address("2001:db8:1:2::1"), parse_address("2001:db8:1:2:ffff::9")
    assert a and b and rate_key(a) == rate_key(b) == "2001:db8:1:2::/64"
    other = parse_address("2001:db8:1:3::1")
    assert other and rate_key(other) != rate_key(a)


def test_malformed_networks_are_a_settings_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(SettingsError, match="RELAY_KIE_ALLOWED_IPS"):
        make_settings(kie_allowed_ips="10.0.0.0/33")
    with pytest.raises(SettingsError, match="RELAY_TRUSTED_PROXIES"):
        make_settings(trusted_proxies="localhost")


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        ("127.0.0.1", "203.0.113.7", 200),
        ("127.0.0.1", "198.51.100.1", 403),
        ("127.0.0.1", None, 403),  # the proxy itself is not on the list
        ("", "203.0.113.7", 403),  # no trusted proxy: a forged header changes nothing
        ("127.0.0.1", "203.0.113.7, 198.51.100.1", 403),  # a client cannot prepend its way in
    ],
)
def test_allow_list_on_a_real_server(
    make_settings: Callable[..., Settings], trusted: str, forwarded: str | None, expected: int
) -> None:
    settings = make_settings(kie_allowed_ips="203.0.113.0/24, 2001:db8::/32", trusted_proxies=trusted)
    with run_server(create_app(settings), proxy_headers=False) as url:
        issued = httpx.post(f"{url}/v1/callback-urls", json={"provider": "kie"}, headers=ADMIN).json()["url"]
        kie_path = httpx.URL(issued).path
        headers = {"x-forwarded-for": forwarded} if forwarded else {}
        body = {"code": 200, "data": {"taskId": "k1"}}
        response = httpx.post(url + kie_path, json=body, headers=headers)
        issued = httpx.post(f"{url}/v1/callback-urls", json={"provider": "ttapi"}, headers=ADMIN).json()["url"]
        other = httpx.post(url + httpx.URL(issued).path, json={"jobId": "j", "status": "SUCCESS"}, headers=headers)

    assert response.status_code == expected
    if expected == 403:
        assert response.json()["error"]["code"] == "forbidden"
    assert other.status_code == 200  # providers without a list are open
