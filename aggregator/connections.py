"""EDGE: what the one HTTP client shares out: connection pools (one small pool per host) and the
global request slots (served in priority order).

httpcore's pool scans all its connections on every request and response (and polls each idle
socket), so a single pool shared by a run costs CPU in proportion to every connection of the
run. Here each host gets its own pool, sized by the per-host limit, and the pools of hosts left
idle longest are closed once more than `idle_pools` of them are kept.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import ssl
import time
from collections.abc import AsyncIterator, Callable

import httpx

POOL_KEY = "aggregator.pool"
"""Request extension naming the pool to use: the host the per-host limit counts (the original
host of a mirrored URL). Without it, the host of the URL requested."""


class _Counted(httpx.AsyncByteStream):
    """A response body that reports once when it is closed (its connection is then free)."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Callable[[], None]):
        self._stream = stream
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._done is not None:
                done, self._done = self._done, None
                done()


class PoolPerHost(httpx.AsyncBaseTransport):
    """A transport that sends each request through its host's own connection pool."""

    def __init__(self, *, per_host: int, idle_pools: int, trust_env: bool = False):
        self._limits = httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host)
        self._idle_pools = max(0, idle_pools)
        self._trust_env = trust_env
        self._ssl: ssl.SSLContext | None = None
        """Shared by the pools, made on first use: loading the CA certificates takes ~10 ms."""
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}
        """Host -> its pool, the least recently used first."""
        self._busy: dict[str, int] = {}
        """Host -> requests whose response is not closed yet."""

    @property
    def pools(self) -> int:
        """How many pools are open."""
        return len(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = str(request.extensions.get(POOL_KEY) or request.url.host)
        pool = self._pools.pop(key, None)
        opened = pool is None
        if pool is None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=self._trust_env)
            pool = httpx.AsyncHTTPTransport(
                verify=self._ssl, limits=self._limits, trust_env=self._trust_env
            )
        self._pools[key] = pool
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            if opened:
                await self._close_idle()
            response = await pool.handle_async_request(request)
        except BaseException:
            self._release(key)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Counted(response.stream, lambda: self._release(key)),
            extensions=response.extensions,
        )

    def _release(self, key: str) -> None:
        left = self._busy[key] - 1
        if left:
            self._busy[key] = left
        else:
            del self._busy[key]

    async def _close_idle(self) -> None:
        """Close the least recently used idle pools beyond `idle_pools`."""
        idle = [key for key in self._pools if key not in self._busy]
        # Taken out of use before the first await: a request arriving meanwhile opens a new pool.
        closing = [self._pools.pop(key) for key in idle[: max(0, len(idle) - self._idle_pools)]]
        for pool in closing:
            await pool.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


class Slots:
    """A semaphore whose waiters are served lowest `priority` first, in arrival order among
    equals; except that waiters past their `due` moment (time.monotonic()) go before the others,
    lowest priority first among themselves."""

    def __init__(self, limit: int):
        self._free = limit
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        """(priority, arrival, waiter): every waiter, in the order served when none is due."""
        self._pending: list[tuple[float, int, int, asyncio.Future[None]]] = []
        """(due, priority, arrival, waiter) of the waiters with a due moment, soonest first."""
        self._due: list[tuple[int, int, asyncio.Future[None]]] = []
        """Waiters past their due moment, as in `_waiting` (each stays there too)."""
        self._arrivals = itertools.count()

    async def acquire(self, priority: int = 0, due: float | None = None) -> None:
        """Wait for a slot; release() it when done."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        item = (priority, next(self._arrivals), waiter)
        heapq.heappush(self._waiting, item)
        if due is not None:
            heapq.heappush(self._pending, (due, *item))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            else:
                waiter.cancel()  # skipped where it still lies in `_pending` or `_due`
                self._waiting = [item for item in self._waiting if item[2] is not waiter]
                heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        """Hand the slot to the first waiter, or free it."""
        if self._pending:
            now = time.monotonic()
            while self._pending and self._pending[0][0] <= now:
                heapq.heappush(self._due, heapq.heappop(self._pending)[1:])
        # A waiter served from one heap stays in the other, done: skipped when it comes up.
        for queue in (self._due, self._waiting):
            while queue:
                waiter = heapq.heappop(queue)[2]
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1
