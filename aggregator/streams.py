"""EDGE: httpcore's network streams on asyncio's own transports.

httpcore's default backend on asyncio goes through anyio: every read and write opens a cancel
scope (a timeout) and asks sniffio which event loop runs, and every check of an idle connection
builds anyio's socket attributes and polls the socket. This backend reads through an asyncio
protocol into a buffer instead: a timeout is one timer handle, and an idle connection is
readable when the loop has handed its protocol data, an end of file or an error.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Coroutine, Iterable
from typing import Any, cast

import httpcore

_HIGH_WATER = 256 * 1024
"""Buffered bytes past which the socket is no longer read until httpcore reads some."""


class _Protocol(asyncio.Protocol):
    """Buffers what a connection receives and wakes the one reader or writer waiting."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None
        self._writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports do not derive from asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer.append(data)
        self.buffered += len(data)
        if self.buffered > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writer()

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    def _wake_writer(self) -> None:
        if self._writer is not None and not self._writer.done():
            self._writer.set_result(None)

    async def readable(self, timeout: float | None) -> None:
        """Wait until there is data or an end: TimeoutError past `timeout` seconds."""
        loop = asyncio.get_running_loop()
        self._reader = waiter = loop.create_future()
        try:
            await _wait(loop, waiter, timeout)
        finally:
            self._reader = None

    async def drained(self, timeout: float | None) -> None:
        """Wait until the transport has taken the data written: TimeoutError past `timeout`
        seconds in all (a peer that reads a little at a time does not restart the clock)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._writing_paused and self.error is None and not self._closed():
            self._writer = waiter = loop.create_future()
            try:
                await _wait(loop, waiter, None if deadline is None else deadline - loop.time())
            finally:
                self._writer = None

    def _closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()


async def _wait(
    loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], timeout: float | None
) -> None:
    if timeout is None:
        await waiter
        return
    timer = loop.call_later(max(0.0, timeout), _expire, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, as httpcore reads and writes it."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol):
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            try:
                await protocol.readable(timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout("timed out reading") from None
        if protocol.buffer:
            data = protocol.buffer.popleft()
            if len(data) > max_bytes:
                protocol.buffer.appendleft(data[max_bytes:])
                data = data[:max_bytes]
            protocol.buffered -= len(data)
            if protocol.reading_paused and protocol.buffered <= _HIGH_WATER // 2:
                protocol.reading_paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.error is not None or self._transport.is_closing():
            raise httpcore.WriteError(str(protocol.error or "connection closed"))
        self._transport.write(buffer)
        try:
            await protocol.drained(timeout)
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out writing") from None
        if protocol.error is not None:
            raise httpcore.WriteError(str(protocol.error) or type(protocol.error).__name__)

    async def aclose(self) -> None:
        # Not close(): that waits for the peer to take what is still buffered (never, after a
        # write timeout) and, over TLS, for its close_notify. httpcore's anyio backend does not
        # wait either.
        self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            # Timed here: asyncio's own handshake timeout ends in a ConnectionAbortedError,
            # which could not be told from a refusal.
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=None if timeout is None else timeout + 1.0,
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        self._protocol.transport = cast(asyncio.Transport, transport)
        return AsyncioStream(self._protocol.transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof or protocol.error is not None
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens AsyncioStreams: TCP_NODELAY set (asyncio's default), `socket_options` applied."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        opening = asyncio.get_running_loop().create_connection(
            _Protocol, host, port, local_addr=(local_address, 0) if local_address else None
        )
        return await _open(opening, timeout, f"{host} port {port}", socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        opening = asyncio.get_running_loop().create_unix_connection(_Protocol, path)
        return await _open(opening, timeout, path, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _open(
    opening: Coroutine[Any, Any, tuple[asyncio.BaseTransport, _Protocol]],
    timeout: float | None,
    target: str,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
) -> AsyncioStream:
    """The stream of a connection being opened (`target` names it in errors), within `timeout`
    seconds, with `socket_options` applied."""
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await opening
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"timed out connecting to {target}") from None
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    raw: socket.socket | None = transport.get_extra_info("socket")
    if raw is not None:
        for option in socket_options or ():
            raw.setsockopt(*option)
    return AsyncioStream(cast(asyncio.Transport, transport), protocol)
