"""The gap between requests to one host is waited out without holding one of the global slots:
meanwhile the slot serves other hosts (against the local server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from aggregator.fetch import Fetcher
from tests.server import Response, TestServer

HOSTS = ("slow.example", "spaced.example", "other.example")


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer()
    srv.routes["/slow.example/x"] = Response(b"x", delay=0.6)
    for path in ("/spaced.example/1", "/spaced.example/2", "/other.example/1"):
        srv.routes[path] = Response(b"x")
    srv.start()
    yield srv
    srv.stop()


def test_a_request_waiting_for_its_host_leaves_the_global_slot_to_others(
    server: TestServer,
) -> None:
    async def go() -> None:
        async with Fetcher(
            user_agent="aggregator/0.1",
            allow_private_networks=True,
            mirrors={f"https://{host}/": server.url(f"/{host}/") for host in HOSTS},
            total=1,
            per_host=2,
            host_delay=0.5,
            robots=False,
        ) as client:
            slow = asyncio.create_task(client.get("https://slow.example/x"))
            await asyncio.sleep(0.1)  # the one global slot is taken for 0.6 s
            # Both requests to spaced.example are due by the time the slot frees up, but the
            # second must then wait 0.5 s after the first; other.example need not wait at all.
            await asyncio.gather(
                client.get("https://spaced.example/1", priority=0),
                client.get("https://spaced.example/2", priority=1),
                client.get("https://other.example/1", priority=2),
                slow,
            )

    asyncio.run(go())
    order = [path for _, path in sorted(server.started)]
    assert order == [
        "/slow.example/x",
        "/spaced.example/1",
        "/other.example/1",
        "/spaced.example/2",
    ]
