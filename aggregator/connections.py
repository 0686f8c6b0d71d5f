"""EDGE: what the one HTTP client shares out: connection pools (one small pool per host), the
address guard on every connection they open, and the global request slots (served in priority
order).

httpcore's pool scans all its connections on every request and response (and polls each idle
socket), so a single pool shared by a run costs CPU in proportion to every connection of the
run. Here each host gets its own pool, sized by the per-host limit, and the pools of hosts left
idle longest are closed once more than `idle_pools` of them are kept.

The address guard lives in the pools' network backend (`GuardedBackend`): a host name is resolved
once per connection, every address it resolves to must be public, and the socket is opened to
one of those checked addresses, not to the name. A check made before the request (and a second
lookup by the connection) would let a DNS server answer a public address to the check and a
private one to the connection (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import ipaddress
import itertools
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator

import httpcore
import httpx

from aggregator.streams import AsyncioBackend

POOL_KEY = "aggregator.pool"
"""Request extension naming the pool to use: the host the per-host limit counts (the original
host of a mirrored URL). Without it, the host of the URL requested."""

_DEFAULT_PORTS = {"http": 80, "https": 443}

# IPv6 prefixes whose last 32 bits are an IPv4 address that the traffic reaches: NAT64's
# well-known prefix (RFC 6052), SIIT's IPv4-translated (RFC 2765), and IPv4-compatible (::/96).
_IPV4_SUFFIX_NETWORKS = tuple(
    ipaddress.IPv6Network(network) for network in ("64:ff9b::/96", "::ffff:0:0:0/96", "::/96")
)
# NAT64 for local use (RFC 8215): never a public address, whatever it embeds.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4, compatible), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _IPV4_SUFFIX_NETWORKS):
        # "::" and "::1" embed 0.0.0.0 and 0.0.0.1: not public either way.
        return ipaddress.IPv4Address(ip.packed[-4:])
    return None


def is_public_address(address: str) -> bool:
    """True for a globally reachable unicast address; an IPv6 address that embeds an IPv4 one
    (::ffff:127.0.0.1, 64:ff9b::7f00:1, 2002:7f00:1::, ::7f00:1) is judged by that IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return embedded.is_global and not embedded.is_multicast
    return ip.is_global and not ip.is_multicast


def is_ip_address(host: str) -> bool:
    """True for an IPv4 or IPv6 address (without brackets), False for a host name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def origin_of(url: str) -> tuple[str, int]:
    """The (host, port) a connection for an http(s) URL is opened to, as httpcore names them:
    the host IDNA-encoded and without IPv6 brackets, the port made explicit."""
    parsed = httpx.URL(url)
    return parsed.raw_host.decode("ascii"), parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0)


class BlockedAddressError(Exception):
    """Raised by GuardedBackend when a host resolves to a non-public address: nothing was
    connected to. The Fetcher turns it into a BlockedURLError naming the URL."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} is a private or reserved address ({address})")
        self.host = host
        self.address = address


class UnresolvableHostError(Exception):
    """Raised by GuardedBackend when a host name cannot be resolved. The Fetcher turns it into
    a FetchError naming the URL."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"cannot resolve host {host!r}: {reason}")
        self.host = host
        self.reason = reason


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to public addresses.

    `connect_tcp(host, port)` resolves the host once (no lookup for an IP address), raises
    BlockedAddressError if any address is not public, and connects to the checked addresses in
    turn until one answers. TLS still names the host: httpcore takes the SNI and certificate
    name from the request's origin, not from the address connected to. Connections to the
    `trusted` (host, port) pairs (a local mirror) are made unchecked.
    """

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend | None = None,
        *,
        trusted: Iterable[tuple[str, int]] = (),
    ):
        self._backend = backend or AsyncioBackend()
        self._trusted = frozenset(trusted)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if (host, port) in self._trusted:
            return await self._backend.connect_tcp(
                host, port, timeout, local_address=local_address, socket_options=socket_options
            )
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        addresses = await public_addresses(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise httpcore.ConnectTimeout(f"timed out connecting to {host} port {port}")
            try:
                return await self._backend.connect_tcp(
                    address, port, left, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # getaddrinfo never answers an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._backend.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


async def resolve_host(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of a host, each once, in the resolver's order (the host itself if it is
    an IP address); UnresolvableHostError, or httpcore.ConnectTimeout past `timeout`."""
    if is_ip_address(host):
        return [host]
    try:
        async with asyncio.timeout(timeout):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"timed out resolving {host}") from None
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHostError(host, str(exc)) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def public_addresses(host: str, port: int, timeout: float | None) -> list[str]:
    """resolve_host's addresses, all public; BlockedAddressError naming the first that is not."""
    addresses = await resolve_host(host, port, timeout)
    for address in addresses:
        if not is_public_address(address):
            raise BlockedAddressError(host, address)
    return addresses


# httpcore's errors as httpx's, most specific first along the MRO. httpx does the same inside
# AsyncHTTPTransport, but only through private names (httpx._transports.default); this table
# uses public classes of both libraries only.
_HTTPX_ERRORS: dict[type, type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
}


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions as httpx's; anything else (the guard's) unchanged."""
    try:
        yield
    except Exception as exc:
        for kind in type(exc).__mro__:
            mapped = _HTTPX_ERRORS.get(kind)
            if mapped is not None:
                raise mapped(str(exc)) from exc
        raise


class _Body(httpx.AsyncByteStream):
    """An httpcore response body as httpx's (its errors mapped), reporting once when it is
    closed (its connection is then free)."""

    def __init__(self, stream: AsyncIterable[bytes], done: Callable[[], None]):
        self._stream = stream
        self._done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            if self._done is not None:
                done, self._done = self._done, None
                done()


class PoolPerHost(httpx.AsyncBaseTransport):
    """A transport that sends each request through its host's own connection pool, whose
    connections are opened by `network_backend` (a GuardedBackend, or httpcore's default).

    The pools are httpcore's own, not httpx.AsyncHTTPTransport: that one takes no network
    backend, and swapping its private `_pool` would leave the guard silently off if httpx ever
    renamed it. Only public httpx and httpcore names are used here.
    """

    def __init__(
        self,
        *,
        per_host: int,
        idle_pools: int,
        trust_env: bool = False,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ):
        self._limits = httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host)
        self._idle_pools = max(0, idle_pools)
        self._trust_env = trust_env
        self._backend = network_backend
        self._ssl: ssl.SSLContext | None = None
        """Shared by the pools, made on first use: loading the CA certificates takes ~10 ms."""
        self._pools: dict[str, httpcore.AsyncConnectionPool] = {}
        """Host -> its pool, the least recently used first."""
        self._busy: dict[str, int] = {}
        """Host -> requests whose response is not closed yet."""

    @property
    def pools(self) -> int:
        """How many pools are open."""
        return len(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        key = str(request.extensions.get(POOL_KEY) or request.url.host)
        pool = self._pools.pop(key, None)
        opened = pool is None
        if pool is None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=self._trust_env)
            pool = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl,
                max_connections=self._limits.max_connections,
                max_keepalive_connections=self._limits.max_keepalive_connections,
                keepalive_expiry=self._limits.keepalive_expiry,
                network_backend=self._backend,
            )
        self._pools[key] = pool
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            if opened:
                await self._close_idle()
            with _httpx_errors():
                response = await pool.handle_async_request(
                    httpcore.Request(
                        method=request.method,
                        url=httpcore.URL(
                            scheme=request.url.raw_scheme,
                            host=request.url.raw_host,
                            port=request.url.port,
                            target=request.url.raw_path,
                        ),
                        headers=request.headers.raw,
                        content=request.stream,
                        extensions=request.extensions,
                    )
                )
        except BaseException:
            self._release(key)
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, lambda: self._release(key)),
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
    """A semaphore shared by groups of waiters (hosts). Waiters without a group go first, in
    arrival order; then the group that `size` says is largest at that moment (its work left),
    its waiters lowest `priority` first; between groups of one size, the lowest priority.

    A group's size may change at any time: tell with `resized(group)`. The groups are kept in a
    heap by (-size, priority, arrival) of their first waiter, refreshed on every change, so that
    a slot is handed on in logarithmic time, however many groups wait.
    """

    def __init__(self, limit: int, size: Callable[[str], int] = lambda group: 0):
        self._free = limit
        self._size = size
        self._first: collections.deque[asyncio.Future[None]] = collections.deque()
        """The waiters without a group, in arrival order."""
        self._groups: dict[str, list[tuple[int, int, asyncio.Future[None]]]] = {}
        """Group -> (priority, arrival, waiter) of its waiters, a heap."""
        self._order: list[tuple[int, int, int, str]] = []
        """(-size, priority, arrival, group) for each group's first waiter, a heap; entries
        that no longer match their group are skipped when they come up."""
        self._arrivals = itertools.count()

    async def acquire(self, priority: int = 0, group: str | None = None) -> None:
        """Wait for a slot; release() it when done."""
        if self._free > 0 and not self._first and not self._groups:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        if group is None:
            self._first.append(waiter)
        else:
            heap = self._groups.setdefault(group, [])
            heapq.heappush(heap, (priority, next(self._arrivals), waiter))
            if heap[0][2] is waiter:
                self._enter(group)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            else:
                self._forget(waiter, group)
            raise

    def resized(self, group: str) -> None:
        """`size(group)` has changed (a no-op for a group with no waiter)."""
        self._enter(group)

    def _enter(self, group: str) -> None:
        heap = self._groups.get(group)
        if heap:
            priority, arrival, _ = heap[0]
            heapq.heappush(self._order, (-self._size(group), priority, arrival, group))

    def _forget(self, waiter: asyncio.Future[None], group: str | None) -> None:
        if group is None:
            self._first = collections.deque(item for item in self._first if item is not waiter)
            return
        left = [item for item in self._groups.get(group, []) if item[2] is not waiter]
        if left:
            heapq.heapify(left)
            self._groups[group] = left
            self._enter(group)
        else:
            self._groups.pop(group, None)

    def release(self) -> None:
        """Hand the slot to the next waiter, or free it."""
        while self._first:
            waiter = self._first.popleft()
            if not waiter.cancelled():  # cancelled, its task not yet told: skipped
                waiter.set_result(None)
                return
        while self._order:
            negative_size, priority, arrival, group = heapq.heappop(self._order)
            heap = self._groups.get(group)
            if not heap or heap[0][:2] != (priority, arrival):
                continue  # that waiter is gone: the group's current first has its own entry
            if -negative_size != self._size(group):
                self._enter(group)  # a change not told: judged again at its size now
                continue
            waiter = heapq.heappop(heap)[2]
            if heap:
                self._enter(group)
            else:
                del self._groups[group]
            if not waiter.cancelled():
                waiter.set_result(None)
                return
        self._free += 1
