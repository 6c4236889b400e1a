"""SSRF end to end: checked at registration, checked again at delivery, connecting only to the checked address."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from tests.conftest import ADMIN, callback_path
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Subscriber, wait_for

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


class SwitchingDNS:
    """A resolver the test flips: ``hooks.example`` resolves to whatever ``answer`` holds at the time."""

    def __init__(self) -> None:
        self.answer = ["93.184.216.34"]
        self.lookups: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.lookups.append(host)
        if host != "hooks.example":
            raise OSError(f"no such host {host!r}")
        return list(self.answer)


async def test_private_targets_are_refused_at_registration(relay_factory: RelayFactory) -> None:
    async with relay_factory(allow_private_targets="false") as relay:
        answers = [
            await relay.post("/v1/subscriptions", json={"url": url}, headers=ADMIN)
            for url in (
                "http://127.0.0.1:9/x",
                "http://169.254.169.254/",
                "http://[::ffff:10.0.0.1]/",
                "ftp://x.y/",
                "http://168.63.129.16/",
                "http://localhost:3000/hooks",
            )
        ]
        listed = (await relay.get("/v1/subscriptions", headers=ADMIN)).json()["data"]

    assert [a.status_code for a in answers] == [400] * 6
    assert {a.json()["error"]["code"] for a in answers} == {"target_refused"}
    assert "RELAY_ALLOW_PRIVATE_TARGETS=true" in answers[0].json()["error"]["message"]
    assert "RELAY_ALLOW_PRIVATE_TARGETS=true" in answers[-1].json()["error"]["message"]
    assert listed == []


async def test_readme_example_registers_without_asking_dns(relay_factory: RelayFactory) -> None:
    """README's `relay subscriptions add https://app.example.com/hooks`: a name that does not resolve (yet) is
    accepted; what it resolves to is checked at every delivery."""
    dns = SwitchingDNS()
    async with relay_factory({"resolver": dns}, allow_private_targets="false") as relay:
        body = {"url": "https://app.example.com/hooks", "filter": {"providers": ["kie"], "types": ["task.succeeded"]}}
        created = await relay.post("/v1/subscriptions", json=body, headers=ADMIN)

    assert created.status_code == 201, created.text
    assert created.json()["url"] == "https://app.example.com/hooks"
    assert dns.lookups == []


async def test_a_name_that_turns_private_after_registration_is_never_connected(
    relay_factory: RelayFactory, subscriber: Subscriber
) -> None:
    dns = SwitchingDNS()
    port = httpx.URL(subscriber.url).port
    async with relay_factory({"resolver": dns}, allow_private_targets="false") as relay:
        sub = await subscribe(relay, f"http://hooks.example:{port}/hook")  # public at registration
        dns.answer = ["127.0.0.1"]  # ... and loopback, where the subscriber listens, at delivery time
        path = await callback_path(relay, "generic")
        event_id = (await relay.post(path, json={"taskId": "ssrf", "status": "completed"})).json()["event_id"]

        async def attempts() -> list[dict[str, object]]:
            deliveries = (await relay.get(f"/v1/events/{event_id}", headers=ADMIN)).json()["deliveries"]
            if not deliveries:
                return []
            found = (await relay.get(f"/v1/deliveries/{deliveries[0]['id']}", headers=ADMIN)).json()
            records: list[dict[str, object]] = found["attempts"]
            return records

        for _ in range(100):
            if len(await attempts()) >= 2:
                break
            await asyncio.sleep(0.02)
        records = await attempts()
        modify = await relay.patch(f"/v1/subscriptions/{sub['id']}", json={"url": "http://10.0.0.1/"}, headers=ADMIN)

    assert len(records) >= 2
    assert {r["outcome"] for r in records} == {"blocked"}
    assert "127.0.0.1" in str(records[0]["error"])
    assert subscriber.received == []  # zero connections reached loopback
    assert dns.lookups.count("hooks.example") >= 2  # every attempt looked it up afresh (registration does not)
    assert modify.status_code == 400 and modify.json()["error"]["code"] == "target_refused"


async def test_the_same_setup_reaches_the_subscriber_when_private_targets_are_allowed(
    relay_factory: RelayFactory, subscriber: Subscriber
) -> None:
    dns = SwitchingDNS()
    dns.answer = ["127.0.0.1"]
    port = httpx.URL(subscriber.url).port
    async with relay_factory({"resolver": dns}, allow_private_targets="true") as relay:
        await subscribe(relay, f"http://hooks.example:{port}/hook")
        path = await callback_path(relay, "generic")
        await relay.post(path, json={"taskId": "allowed", "status": "completed"})
        await wait_for(lambda: len(subscriber.received) == 1, what="the delivery")

    assert subscriber.received[0].headers["host"] == f"hooks.example:{port}"  # the original name, not the IP


async def test_a_name_that_does_not_resolve_fails_as_a_connect_error_not_a_block(relay_factory: RelayFactory) -> None:
    dns = SwitchingDNS()  # knows hooks.example only
    async with relay_factory({"resolver": dns}, allow_private_targets="false") as relay:
        await subscribe(relay, "https://typo.example/hook")
        path = await callback_path(relay, "generic")
        event_id = (await relay.post(path, json={"taskId": "dns", "status": "completed"})).json()["event_id"]

        async def attempts() -> list[dict[str, object]]:
            deliveries = (await relay.get(f"/v1/events/{event_id}", headers=ADMIN)).json()["deliveries"]
            if not deliveries:
                return []
            found = (await relay.get(f"/v1/deliveries/{deliveries[0]['id']}", headers=ADMIN)).json()
            records: list[dict[str, object]] = found["attempts"]
            return records

        for _ in range(100):
            if await attempts():
                break
            await asyncio.sleep(0.02)
        records = await attempts()

    assert records and records[0]["outcome"] == "connect_error"
    assert "could not be resolved" in str(records[0]["error"])
    assert "typo.example" in dns.lookups
