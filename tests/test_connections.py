"""The connection pools under the HTTP client (aggregator.connections), against the real local
server: connections kept alive per host, each host within its own limit, idle pools closed
beyond the number kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from aggregator.connections import POOL_KEY, PoolPerHost, Slots
from tests.server import Response, TestServer


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer()
    srv.start()
    yield srv
    srv.stop()


def record_port(
    ports: list[int], response: Response
) -> Callable[[BaseHTTPRequestHandler], Response]:
    """A route that notes the client's port (which connection asked), then answers."""

    def route(handler: BaseHTTPRequestHandler) -> Response:
        ports.append(handler.client_address[1])
        return response

    return route


async def get(client: httpx.AsyncClient, url: str, host: str) -> bytes:
    async with client.stream("GET", url, extensions={POOL_KEY: host}) as response:
        return await response.aread()


def test_each_host_keeps_its_own_connection_alive(server: TestServer) -> None:
    ports: list[int] = []
    server.routes["/page"] = record_port(ports, Response(b"ok"))
    transport = PoolPerHost(per_host=2, idle_pools=8)

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                for host in ("a.example", "b.example"):
                    assert await get(client, server.url("/page"), host) == b"ok"
            assert transport.pools == 2

    asyncio.run(go())
    a_ports, b_ports = set(ports[0::2]), set(ports[1::2])
    assert len(a_ports) == 1 and len(b_ports) == 1 and a_ports != b_ports


def test_a_host_gets_no_more_connections_than_its_limit(server: TestServer) -> None:
    ports: list[int] = []
    server.routes["/slow"] = record_port(ports, Response(b"ok", delay=0.2))

    async def go() -> None:
        async with httpx.AsyncClient(transport=PoolPerHost(per_host=2, idle_pools=8)) as client:
            bodies = await asyncio.gather(
                *(get(client, server.url("/slow"), "a.example") for _ in range(6))
            )
            assert bodies == [b"ok"] * 6

    asyncio.run(go())
    assert server.max_in_flight[""] == 2
    assert len(set(ports)) == 2


def test_pools_of_hosts_idle_longest_are_closed_beyond_the_number_kept(
    server: TestServer,
) -> None:
    ports: list[int] = []
    server.routes["/page"] = record_port(ports, Response(b"ok"))
    transport = PoolPerHost(per_host=2, idle_pools=2)
    hosts = [f"h{n}.example" for n in range(6)]

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            for host in hosts:
                await get(client, server.url("/page"), host)
            # The two kept idle, and the one in use when the last was opened.
            assert transport.pools == 3
            await get(client, server.url("/page"), "h5.example")
            await get(client, server.url("/page"), "h0.example")

    asyncio.run(go())
    first = dict(zip(hosts, ports, strict=False))
    assert ports[6] == first["h5.example"], "a kept pool reuses its connection"
    assert ports[7] != first["h0.example"], "a closed pool connects anew"
    assert len(set(ports[:6])) == 6


def test_slots_go_to_the_lowest_priority_first_and_cancelled_waiters_are_skipped() -> None:
    async def go() -> list[str]:
        slots = Slots(1)
        order: list[str] = []

        async def take(name: str, priority: int) -> None:
            await slots.acquire(priority)
            order.append(name)
            await asyncio.sleep(0.01)
            slots.release()

        await slots.acquire()
        tasks = {
            name: asyncio.create_task(take(name, priority))
            for name, priority in [("late", 5), ("first", 1), ("gone", 0), ("next", 3), ("tie", 3)]
        }
        await asyncio.sleep(0.01)
        tasks["gone"].cancel()
        await asyncio.sleep(0.01)
        slots.release()
        await asyncio.gather(*(t for name, t in tasks.items() if name != "gone"))
        # All released: a newcomer gets a slot at once.
        await asyncio.wait_for(slots.acquire(9), timeout=1)
        return order

    assert asyncio.run(go()) == ["first", "next", "tie", "late"]


def test_slots_serve_waiters_past_their_due_moment_first() -> None:
    async def go() -> list[str]:
        slots = Slots(1)
        order: list[str] = []

        async def take(name: str, priority: int, due: float | None) -> None:
            await slots.acquire(priority, due)
            order.append(name)
            await asyncio.sleep(0.01)
            slots.release()

        await slots.acquire()
        now = time.monotonic()
        waiters = [
            ("claim order", 1, None),
            ("due", 7, now - 1),
            ("not due yet", 0, now + 60),
            ("due, cancelled", 2, now - 2),
            ("due earlier", 9, now - 3),
        ]
        tasks = {
            name: asyncio.create_task(take(name, priority, due)) for name, priority, due in waiters
        }
        await asyncio.sleep(0.01)
        tasks["due, cancelled"].cancel()
        await asyncio.sleep(0.01)
        slots.release()
        await asyncio.gather(*(t for name, t in tasks.items() if name != "due, cancelled"))
        await asyncio.wait_for(slots.acquire(), timeout=1)
        return order

    # Past their due moment: lowest priority first; then the rest by priority.
    assert asyncio.run(go()) == ["due", "due earlier", "not due yet", "claim order"]
