"""The connection pools under the HTTP client (aggregator.connections), against the real local
server: connections kept alive per host, each host within its own limit, idle pools closed
beyond the number kept, and the address guard in the pools' network backend."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import socket
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpcore
import httpx
import pytest

from aggregator.connections import (
    POOL_KEY,
    BlockedAddressError,
    GuardedBackend,
    PoolPerHost,
    Slots,
)
from tests.server import Response, TestServer


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


# The address guard: GuardedBackend under the pools


PUBLIC_A, PUBLIC_B = "93.184.215.14", "93.184.215.15"


class Network(httpcore.AnyIOBackend):
    """A stand-in for the network under the guard: a connection to a `reachable` address (or
    name) reaches the local server, any other is refused. Notes every address dialled."""

    def __init__(self, server: TestServer, reachable: set[str]):
        self.server = server
        self.reachable = reachable
        self.dialled: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        if host not in self.reachable:
            raise httpcore.ConnectError(f"no route to {host}")
        return await super().connect_tcp(
            "127.0.0.1", self.server.port, timeout, local_address, socket_options
        )


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The system resolver answers multi.test and evil.test; counts lookups per name."""
    answers = {"multi.test": [PUBLIC_A, PUBLIC_B], "evil.test": [PUBLIC_A, "127.0.0.1"]}
    counted: dict[str, int] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        counted[host] = counted.get(host, 0) + 1
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return counted


def guarded_get(backend: GuardedBackend, urls: list[str]) -> list[bytes]:
    async def go() -> list[bytes]:
        transport = PoolPerHost(per_host=1, idle_pools=4, network_backend=backend)
        async with httpx.AsyncClient(transport=transport) as client:
            return [await get(client, url, httpx.URL(url).host) for url in urls]

    return asyncio.run(go())


def test_guard_dials_the_checked_addresses_in_turn_and_looks_up_once_per_connection(
    server: TestServer, lookups: dict[str, int]
) -> None:
    server.routes["/page"] = Response(b"ok")
    network = Network(server, {PUBLIC_B})
    url = f"http://multi.test:{server.port}/page"
    assert guarded_get(GuardedBackend(network), [url] * 5) == [b"ok"] * 5
    # One connection kept alive: one lookup, its addresses tried in order, never the name.
    assert network.dialled == [PUBLIC_A, PUBLIC_B]
    assert lookups == {"multi.test": 1}
    # HTTP still names the host (as TLS does: httpcore takes SNI from the origin).
    assert {headers["Host"] for _, headers in server.requests} == {f"multi.test:{server.port}"}


def test_guard_reports_a_connect_error_when_no_address_answers(
    server: TestServer, lookups: dict[str, int]
) -> None:
    network = Network(server, set())
    with pytest.raises(httpx.ConnectError, match=PUBLIC_B):
        guarded_get(GuardedBackend(network), [f"http://multi.test:{server.port}/page"])
    assert network.dialled == [PUBLIC_A, PUBLIC_B]
    assert server.requests == []


def test_guard_refuses_before_dialling_when_any_address_is_not_public(
    server: TestServer, lookups: dict[str, int]
) -> None:
    network = Network(server, {PUBLIC_A, "127.0.0.1"})
    with pytest.raises(BlockedAddressError) as caught:
        guarded_get(GuardedBackend(network), [f"http://evil.test:{server.port}/page"])
    assert (caught.value.host, caught.value.address) == ("evil.test", "127.0.0.1")
    assert network.dialled == []
    assert server.requests == []


def test_trusted_host_and_port_are_dialled_by_name_without_a_lookup(
    server: TestServer, lookups: dict[str, int]
) -> None:
    server.routes["/page"] = Response(b"ok")
    network = Network(server, {"mirror.test"})
    backend = GuardedBackend(network, trusted=[("mirror.test", server.port)])
    assert guarded_get(backend, [f"http://mirror.test:{server.port}/page"]) == [b"ok"]
    assert network.dialled == ["mirror.test"]
    assert lookups == {}


def test_slots_go_to_the_lowest_priority_first_and_cancelled_waiters_are_skipped() -> None:
    async def go() -> list[str]:
        slots = Slots(1)
        order: list[str] = []

        async def take(name: str, priority: int) -> None:
            await slots.acquire(priority, "host")
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
        await asyncio.wait_for(slots.acquire(9, "host"), timeout=1)
        return order

    assert asyncio.run(go()) == ["first", "next", "tie", "late"]


class _ScanSlots:
    """Slots as first written (every group scanned on each release): the reference order."""

    def __init__(self, limit: int, size: Callable[[str], int]):
        self._free = limit
        self._size = size
        self._first: list[tuple[int, asyncio.Future[None]]] = []
        self._groups: dict[str, list[tuple[int, int, asyncio.Future[None]]]] = {}
        self._arrivals = itertools.count()

    async def acquire(self, priority: int = 0, group: str | None = None) -> None:
        if self._free > 0 and not self._first and not self._groups:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        if group is None:
            self._first.append((next(self._arrivals), waiter))
        else:
            heapq.heappush(
                self._groups.setdefault(group, []), (priority, next(self._arrivals), waiter)
            )
        try:
            await waiter
        except asyncio.CancelledError:
            if group is None:
                self._first = [item for item in self._first if item[1] is not waiter]
            else:
                left = [item for item in self._groups.get(group, []) if item[2] is not waiter]
                heapq.heapify(left)
                if left:
                    self._groups[group] = left
                else:
                    self._groups.pop(group, None)
            raise

    def resized(self, group: str) -> None:
        pass

    def release(self) -> None:
        if self._first:
            self._first.pop(0)[1].set_result(None)
            return
        if self._groups:
            group = min(
                self._groups, key=lambda name: (-self._size(name), self._groups[name][0][:2])
            )
            heap = self._groups[group]
            waiter = heapq.heappop(heap)[2]
            if not heap:
                del self._groups[group]
            waiter.set_result(None)
            return
        self._free += 1


def _grant_order(kind: type, seed: int) -> list[int]:
    """The order in which `kind` (Slots or the reference) hands out slots over a random run of
    acquires, releases, group size changes and cancellations."""
    rng = random.Random(seed)

    async def go() -> list[int]:
        sizes = dict.fromkeys("abcde", 0)
        slots = kind(2, size=sizes.__getitem__)
        granted: list[int] = []
        tasks: dict[int, asyncio.Task[None]] = {}

        async def take(number: int, priority: int, group: str | None) -> None:
            await slots.acquire(priority, group)
            granted.append(number)

        for step in range(300):
            action = rng.random()
            waiting = [n for n, t in tasks.items() if not t.done()]
            if action < 0.45:
                group = rng.choice([None, *"abcde"]) if rng.random() < 0.9 else None
                tasks[step] = asyncio.create_task(take(step, rng.randrange(20), group))
            elif action < 0.7:
                slots.release()
            elif action < 0.9:
                group = rng.choice("abcde")
                sizes[group] += rng.choice((-1, 1, 2))
                slots.resized(group)
            elif waiting:
                tasks[rng.choice(waiting)].cancel()
            for _ in range(3):
                await asyncio.sleep(0)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        return granted

    return asyncio.run(go())


@pytest.mark.parametrize("seed", range(40))
def test_slots_hand_out_in_the_order_of_a_full_scan(seed: int) -> None:
    """The heap of groups picks the waiter a scan of every group would, size changes and
    cancellations included."""
    assert _grant_order(Slots, seed) == _grant_order(_ScanSlots, seed)
