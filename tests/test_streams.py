"""The asyncio network backend (aggregator.streams) under httpcore, against real local servers:
TLS (a throw-away CA from trustme), bodies larger than the read buffer, timeouts, and keep-alive
connections the server has closed."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator

import httpcore
import pytest
import trustme

from aggregator.errors import FetchError
from aggregator.fetch import Fetcher
from aggregator.streams import AsyncioBackend
from tests.conftest import article_pages
from tests.server import Response, TestServer

PAGE = next(iter(article_pages().values()))


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(authority: trustme.CA) -> Iterator[TestServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = TestServer(tls=context)
    server.start()
    yield server
    server.stop()


def client_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


async def get(pool: httpcore.AsyncConnectionPool, url: str, read: float = 5) -> tuple[int, bytes]:
    timeouts = {"connect": 5, "read": read, "write": 5, "pool": 5}
    response = await pool.request("GET", url, extensions={"timeout": timeouts})
    return response.status, response.content


def test_tls_page_is_read_whole(tls_server: TestServer, authority: trustme.CA) -> None:
    tls_server.routes["/page.html"] = Response(PAGE)

    async def main() -> list[tuple[int, bytes]]:
        async with httpcore.AsyncConnectionPool(
            ssl_context=client_context(authority), network_backend=AsyncioBackend()
        ) as pool:
            url = f"https://localhost:{tls_server.port}/page.html"
            return [await get(pool, url), await get(pool, url)]

    assert asyncio.run(main()) == [(200, PAGE), (200, PAGE)]


def test_untrusted_certificate_is_a_clear_fetch_error(tls_server: TestServer) -> None:
    """The Fetcher trusts the public CAs only: a certificate from another authority fails the
    page with the reason, and no request reaches the server."""
    tls_server.routes["/page.html"] = Response(PAGE)
    url = f"https://localhost:{tls_server.port}/page.html"

    async def main() -> None:
        async with Fetcher(
            user_agent="aggregator-test/0.1",
            allow_private_networks=True,
            robots=False,
            retries=0,
            host_delay=0,
        ) as fetcher:
            await fetcher.get(url)

    with pytest.raises(FetchError) as caught:
        asyncio.run(main())
    assert str(caught.value).startswith(f"{url}: cannot connect (ConnectError: ")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert tls_server.requests == []


def test_body_larger_than_the_buffer_is_read_whole(server: TestServer) -> None:
    """Past 256 KiB buffered, the socket is paused until httpcore reads: nothing is lost."""
    body = bytes(range(256)) * 40_000  # 10 MB
    server.routes["/big"] = Response(body)

    async def main() -> tuple[int, bytes]:
        async with (
            httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool,
            pool.stream("GET", server.url("/big")) as response,
        ):
            chunks = []
            async for chunk in response.aiter_stream():
                chunks.append(chunk)
                await asyncio.sleep(0)  # a slow reader: the buffer fills up
            return response.status, b"".join(chunks)

    assert asyncio.run(main()) == (200, body)


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_read_timeout(silent_server: tuple[int, list[socket.socket]]) -> None:
    port, _ = silent_server

    async def main() -> None:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            await get(pool, f"http://127.0.0.1:{port}/", read=0.2)

    with pytest.raises(httpcore.ReadTimeout):
        asyncio.run(main())


def test_keep_alive_connection_closed_by_the_server_is_not_reused() -> None:
    """A server that closes an idle keep-alive connection: the next request opens a new one
    (httpcore asks the stream whether an idle connection is readable)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    connections = []

    def serve() -> None:
        for _ in range(2):
            connection, _ = listener.accept()
            connections.append(connection)
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            connection.close()  # no "Connection: close": the client thinks it is kept alive

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> list[tuple[int, bytes]]:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            first = await get(pool, f"http://127.0.0.1:{port}/a")
            await asyncio.sleep(0.2)  # the close reaches the idle connection
            return [first, await get(pool, f"http://127.0.0.1:{port}/b")]

    try:
        assert asyncio.run(main()) == [(200, b"ok"), (200, b"ok")]
    finally:
        thread.join(timeout=5)
        listener.close()
    assert len(connections) == 2


def test_tls_handshake_timeout_is_a_connect_timeout(
    silent_server: tuple[int, list[socket.socket]], authority: trustme.CA
) -> None:
    """A server that takes the connection and never answers the TLS handshake."""
    port, _ = silent_server

    async def main() -> None:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        await stream.start_tls(client_context(authority), "localhost", timeout=0.3)

    with pytest.raises(httpcore.ConnectTimeout):
        asyncio.run(main())


def test_closing_after_a_write_timeout_closes_the_socket_at_once() -> None:
    """A peer that stops reading: after the write timeout, aclose() drops what is still
    buffered and closes the socket (close() would wait for the peer to read it, maybe never)."""

    async def main() -> int:
        held = []

        async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # kept open, never read

        server = await asyncio.start_server(take, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        raw = stream.get_extra_info("socket")
        with pytest.raises(httpcore.WriteTimeout):
            while True:
                await stream.write(b"x" * 1_000_000, timeout=0.3)
        await stream.aclose()
        await asyncio.sleep(0.2)
        fileno = int(raw.fileno())
        for writer in held:
            writer.transport.abort()
        server.close()
        await server.wait_closed()
        return fileno

    assert asyncio.run(main()) == -1


def test_connection_refused_is_a_connect_error() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()

    async def main() -> None:
        async with httpcore.AsyncConnectionPool(network_backend=AsyncioBackend()) as pool:
            await get(pool, f"http://127.0.0.1:{port}/")

    with pytest.raises(httpcore.ConnectError):
        asyncio.run(main())
