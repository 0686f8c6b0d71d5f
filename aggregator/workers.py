"""EDGE: the pure CPU work of a run (extracting pages, parsing feeds) in worker processes, so that
the event loop goes on fetching (and another CPU does the parsing); in this process when there
are none.

A document that kills its worker (a native fault in a parser, the memory limit) then fails one
entry or source, which is retried next run, instead of the whole run; new workers take the next
documents. Workers stop with the run, and on their own as soon as the run's process ends, however
it ends: each reads its calls from a socket whose other end only the run holds.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import partial
from typing import Any, Protocol, TypeVar, cast

from aggregator.charset import decode_document
from aggregator.config import ArticleRules
from aggregator.errors import FetchError
from aggregator.extraction import extract
from aggregator.models import Article

log = logging.getLogger(__name__)

MAX_AUTO_WORKERS = 4
"""More rarely helps: one event loop fetches at about the pace a few workers extract."""
START_AFTER = 8
"""Calls run in this process before the workers are started: a run with a few documents to read
(a daemon's job for one source) is over before starting them (about 0.3 s of CPU) pays off."""
IN_FLIGHT = 2
"""Calls sent to a worker at once: the one it runs and the next, so that it never waits."""
START_TIMEOUT = 60.0
"""Seconds a worker may take to start (importing the extractor, on a slow disk)."""
STOP_TIMEOUT = 5.0
"""Seconds the workers are given to exit once their channels are closed, before being killed."""


T = TypeVar("T")


class Offload(Protocol):
    """Runs a pure call (a function and its arguments, picklable) somewhere: its result, or what
    it raised; `url` is what the call reads, named in errors."""

    def __call__(self, call: Callable[[], T], url: str) -> Awaitable[T]: ...


class WorkerError(FetchError):
    """Raised when the worker running a call for a URL died: retried next run."""


async def inline(call: Callable[[], T], url: str) -> T:
    """The Offload that runs the call here and now."""
    return call()


def read_page(
    body: bytes,
    content_type: str | None,
    url: str,
    rules: ArticleRules | None,
    tz: tzinfo,
    now: datetime | None,
) -> Article:
    """A fetched page -> its Article: the body decoded from its charset, then extracted."""
    return extract(decode_document(body, content_type), url, rules, tz=tz, now=now)


def auto_workers() -> int:
    """Worker processes by default: one per CPU this process may use besides its own, at most
    MAX_AUTO_WORKERS; none with a single CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_AUTO_WORKERS, cpus - 1))


def _serve(channel: socket.socket) -> None:
    """A worker's life: run each call the run sends over `channel`, send back (True, result) or
    (False, what it raised); exit when the run's end of the channel closes. That happens when
    the run closes it or its process ends in any way (a zombie's sockets are closed too)."""
    # Ctrl-C reaches the whole process group: the run stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel.sendall(_READY)
    connection = multiprocessing.connection.Connection(channel.detach())
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)
        started = time.thread_time()
        try:
            reply: tuple[bool, object, float] = (True, pickle.loads(message)(), 0.0)
        except StopIteration as exc:  # an asyncio future cannot carry it (nor can a coroutine)
            reply = (False, RuntimeError(f"call raised StopIteration: {exc!r}"), 0.0)
        except Exception as exc:
            reply = (False, exc, 0.0)
        reply = (*reply[:2], time.thread_time() - started)
        try:
            data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a result or an error that does not pickle: a bug
            error = RuntimeError(f"cannot send back {reply[1]!r}: {exc!r}")
            data = pickle.dumps((False, error, reply[2]))
        try:
            connection.send_bytes(data)
        except OSError:  # the run is gone
            os._exit(0)


_READY = b"\x01"
"""What a worker sends once it runs."""


def _frame(data: bytes) -> list[bytes]:
    """`data` framed as multiprocessing.connection.Connection.recv_bytes reads it."""
    if len(data) > 0x7FFFFFFF:
        return [struct.pack("!iQ", -1, len(data)), data]
    return [struct.pack("!i", len(data)), data]


@dataclass
class CallCpu:
    """CPU seconds spent in the calls run (in a worker or here), and how many, by the name of
    the function called (read_page: decoding and extracting pages; parse_feed, ...)."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, seconds: float, calls: int = 1) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + calls

    def update(self, other: CallCpu) -> None:
        for name, seconds in other.seconds.items():
            self.add(name, seconds, other.calls[name])


def _name(call: Callable[[], object]) -> str:
    function = call.func if isinstance(call, partial) else call
    return str(getattr(function, "__name__", type(function).__name__))


class _Worker(asyncio.Protocol):
    """The run's end of one worker's channel: calls are sent framed and pickled, and their
    results come back in the order sent."""

    def __init__(
        self,
        process: multiprocessing.process.BaseProcess,
        cpu: CallCpu,
        freed: Callable[[], None],
    ):
        self.process = process
        self._freed = freed
        """Called when a call is done or the worker dies: a call waiting for a worker may go."""
        self.transport: asyncio.WriteTransport | None = None
        self.pending: collections.deque[tuple[asyncio.Future[Any], str, str]] = collections.deque()
        """(future, URL, function name) of each call sent, in order."""
        self.alive = True
        self._cpu = cpu
        self._buffer = bytearray()

    def send(self, call: Callable[[], T], url: str) -> asyncio.Future[T]:
        if not self.alive:
            raise WorkerError(url, "the worker process reading it died; will retry next run")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.writelines(_frame(pickle.dumps(call, pickle.HIGHEST_PROTOCOL)))
        self.pending.append((future, url, _name(call)))
        return future

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # uvloop's are not asyncio's

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= 4:
            (size,) = struct.unpack_from("!i", buffer)
            start = 4
            if size == -1:
                if len(buffer) < 12:
                    return
                (size,) = struct.unpack_from("!Q", buffer, 4)
                start = 12
            if len(buffer) < start + size:
                return
            reply = memoryview(buffer)[start : start + size]
            try:
                ok, value, seconds = pickle.loads(reply)
            except Exception as exc:
                ok, value, seconds = False, RuntimeError(f"cannot read a reply: {exc!r}"), 0.0
            finally:
                reply.release()
            del buffer[: start + size]
            future, _, name = self.pending.popleft()
            self._cpu.add(name, seconds)
            self._freed()
            if future.done():
                continue
            try:
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            except Exception as exc:  # not an exception asyncio takes (StopIteration, ...)
                future.set_exception(RuntimeError(f"unusable reply {value!r}: {exc!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self._freed()
        while self.pending:
            future, url, _ = self.pending.popleft()
            if not future.done():
                future.set_exception(
                    WorkerError(url, "the worker process reading it died; will retry next run")
                )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Workers:
    """Runs pure calls in `workers` processes (0: in this process). The workers are started off
    the event loop once more than START_AFTER calls were made; calls made until they run, run
    here. Use as an async context manager, or call aclose().

    Each worker has a socket of its own, which the event loop reads: no threads or locks stand
    between a call and its worker, and a worker sees the run end (or die) as the socket's end.
    """

    def __init__(self, workers: int):
        self.workers = max(0, workers)
        self.cpu = CallCpu()
        """CPU spent in the calls, wherever they ran."""
        self._running: list[_Worker] = []
        self._starting: asyncio.Future[list[_Worker]] | None = None
        self._stopped: list[_Worker] = []
        self._calls = 0
        self._closed = False
        self._free: asyncio.Future[None] | None = None
        """Resolved when a worker may take a call again (one is done, or a worker died)."""

    async def __aenter__(self) -> Workers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> bool:
        """Start the workers now rather than on first use, and wait for them: True when they
        run (False with none configured, or when this system cannot start them)."""
        self._forget_dead()
        if not self._running and self.workers:
            self._begin_start()
            assert self._starting is not None
            self._started(await self._starting)
        return bool(self._running)

    async def run(self, call: Callable[[], T], url: str) -> T:
        """The result of `call` (a function and its arguments, picklable, such as a
        functools.partial of a module's function), or what it raised; WorkerError naming `url`
        when its worker died."""
        self._calls += 1
        while True:
            self._forget_dead()
            starts = not self._running and self.workers and not self._closed
            if starts and self._calls > START_AFTER:
                self._begin_start()
                assert self._starting is not None
                if self._starting.done():
                    self._started(self._starting.result())
            worker = min(self._running, key=lambda w: len(w.pending), default=None)
            if worker is None:
                started = time.thread_time()
                try:
                    return call()
                finally:
                    self.cpu.add(_name(call), time.thread_time() - started)
            if len(worker.pending) < IN_FLIGHT:
                return await worker.send(call, url)
            # Every worker has its hands full: the call waits here, not pickled into a socket
            # buffer (a second copy of its page).
            if self._free is None or self._free.done():
                self._free = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._free)

    def _worker_freed(self) -> None:
        if self._free is not None and not self._free.done():
            self._free.set_result(None)

    def _forget_dead(self) -> None:
        """Stop sending calls to workers that died. Once none is left, the next call starts
        new ones; meanwhile calls run in this process."""
        dead = [worker for worker in self._running if not worker.alive]
        for worker in dead:
            self._running.remove(worker)
            self._stopped.append(worker)

    def _begin_start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())

    def _started(self, workers: list[_Worker]) -> None:
        self._starting = None
        self._running = workers
        if not workers:
            self.workers = 0  # they could not start (see _spawn): this process it is

    async def _start(self) -> list[_Worker]:
        """New workers, running; none when this system cannot start them."""
        spawned = await asyncio.to_thread(self._spawn)
        loop = asyncio.get_running_loop()
        workers = []
        try:
            for process, channel in spawned:
                _, worker = await loop.connect_accepted_socket(
                    partial(_Worker, process, self.cpu, self._worker_freed), channel
                )
                workers.append(worker)
        except Exception as exc:
            log.warning("cannot start worker processes (%r); working in this process", exc)
            for worker in workers:
                worker.close()
            await asyncio.to_thread(_stop, spawned)
            return []
        return workers

    def _spawn(self) -> list[tuple[multiprocessing.process.BaseProcess, socket.socket]]:
        """Start the worker processes and wait until each runs (in a thread: this blocks for a
        while): each with the run's end of its channel; none when this system cannot start
        them."""
        # Not fork: this process runs threads (the event loop's executor), which fork copies badly.
        methods = multiprocessing.get_all_start_methods()
        context = (
            multiprocessing.get_context("forkserver")
            if "forkserver" in methods
            else multiprocessing.get_context("spawn")
        )
        spawned: list[tuple[multiprocessing.process.BaseProcess, socket.socket]] = []
        try:
            if isinstance(context, multiprocessing.context.ForkServerContext):
                context.set_forkserver_preload(["aggregator.workers"])
            for number in range(self.workers):
                ours, theirs = socket.socketpair()
                process = context.Process(
                    target=_serve, args=(theirs,), name=f"aggregator-worker-{number}", daemon=True
                )
                spawned.append((process, ours))
                try:
                    process.start()
                finally:
                    theirs.close()
            for started, channel in spawned:
                channel.settimeout(START_TIMEOUT)
                if channel.recv(1) != _READY:
                    raise RuntimeError(f"{started.name} exited as it started")
                channel.setblocking(False)
        except Exception as exc:  # no processes here (limits, sandbox), or they die at once
            log.warning("cannot start worker processes (%r); working in this process", exc)
            _stop(spawned)
            return []
        return spawned

    async def aclose(self) -> None:
        """Stop the workers: their channels closed, they exit; waited for. Calls made after
        this run in this process."""
        self._closed = True
        if self._starting is not None:
            self._running = self._running or await self._starting
            self._starting = None
        workers, self._running = self._running + self._stopped, []
        self._stopped = []
        for worker in workers:
            worker.close()
        if workers:
            await asyncio.to_thread(_stop, [(worker.process, None) for worker in workers])


def _stop(
    workers: Sequence[tuple[multiprocessing.process.BaseProcess, socket.socket | None]],
) -> None:
    """Close the channels, and wait for the processes to exit (killed past STOP_TIMEOUT)."""
    for _, channel in workers:
        if channel is not None:
            channel.close()
    deadline = time.monotonic() + STOP_TIMEOUT
    for process, _ in workers:
        if process.pid is None:
            continue  # never started
        process.join(max(0.0, deadline - time.monotonic()))
        if process.exitcode is None:
            process.kill()
            process.join()
