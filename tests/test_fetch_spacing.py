"""The gap between requests to one host is waited out without holding one of the global slots:
meanwhile the slot serves other hosts (against the local server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from aggregator.fetch import Fetcher
from tests.server import Response, TestServer

HOSTS = ("slow.example", "spaced.example", "other.example", "busy.example", "quiet.example")


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer()
    srv.routes["/slow.example/x"] = Response(b"x", delay=0.6)
    for path in ("/spaced.example/1", "/spaced.example/2", "/other.example/1"):
        srv.routes[path] = Response(b"x")
    for host, count in (("busy.example", 6), ("quiet.example", 2)):
        for number in range(count):
            srv.routes[f"/{host}/{number}"] = Response(b"x", delay=0.05)
    srv.start()
    yield srv
    srv.stop()


def one_slot_fetcher(server: TestServer, host_delay: float) -> Fetcher:
    """A Fetcher with one global slot and two per host, the HOSTS served by `server`."""
    return Fetcher(
        user_agent="aggregator/0.1",
        allow_private_networks=True,
        mirrors={f"https://{host}/": server.url(f"/{host}/") for host in HOSTS},
        total=1,
        per_host=2,
        host_delay=host_delay,
        robots=False,
    )


def test_a_request_waiting_for_its_host_leaves_the_global_slot_to_others(
    server: TestServer,
) -> None:
    async def go() -> None:
        async with one_slot_fetcher(server, host_delay=0.5) as client:
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


def test_the_host_with_the_most_requests_left_goes_first(server: TestServer) -> None:
    async def go() -> None:
        async with one_slot_fetcher(server, host_delay=0) as client:
            # quiet.example's articles were claimed first, but busy.example has more left: each
            # host is held to its own pace, so the busiest one sets when the run ends.
            await asyncio.gather(
                *(client.get(f"https://quiet.example/{n}", priority=n) for n in range(2)),
                *(client.get(f"https://busy.example/{n}", priority=10 + n) for n in range(6)),
            )

    asyncio.run(go())
    hosts = [path.split("/")[1] for _, path in sorted(server.started)]
    # The first request takes the free slot; then busy.example's, while it has more left.
    assert hosts == ["quiet.example"] + ["busy.example"] * 6 + ["quiet.example"], hosts


def test_a_source_document_goes_before_articles(server: TestServer) -> None:
    async def go() -> None:
        async with one_slot_fetcher(server, host_delay=0) as client:
            first = asyncio.create_task(client.get("https://busy.example/0", priority=0))
            await asyncio.sleep(0.01)  # holds the one slot
            # A feed (no priority) brings the work: it goes before the articles waiting.
            await asyncio.gather(
                first,
                *(client.get(f"https://busy.example/{n}", priority=n) for n in range(1, 4)),
                client.get("https://quiet.example/0"),
            )

    asyncio.run(go())
    paths = [path for _, path in sorted(server.started)]
    assert paths[:2] == ["/busy.example/0", "/quiet.example/0"], paths
