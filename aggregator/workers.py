"""EDGE: the pure CPU work of a run (extracting pages, parsing feeds) in worker processes, so that
the event loop goes on fetching (and another CPU does the parsing); in this process when there
are none.

A document that kills its worker (a native fault in a parser, the memory limit) then fails one
entry or source, which is retried next run, instead of the whole run; new workers take the next
documents. Workers stop with the run, and on their own within a second of the run's process dying.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol, TypeVar

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


def _watch_parent(pid: int) -> None:
    """In a worker: exit once the run's process `pid` is gone. A killed run cannot stop its
    workers, and they would not notice: each holds both ends of its pipes (and its parent is
    the forkserver, which in turn waits for them)."""

    def watch() -> None:
        while _alive(pid):
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """True while process `pid` runs; a zombie (dead, not yet reaped by its parent) is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: running
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): a zombie cannot be told from a live process
    return state not in (b"Z", b"X")


class Workers:
    """Runs pure calls in `workers` processes (0: in this process). The workers are started off
    the event loop once more than START_AFTER calls were made; calls made until they run, run
    here. Use as an async context manager, or call aclose()."""

    def __init__(self, workers: int):
        self.workers = max(0, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._starting: asyncio.Future[ProcessPoolExecutor | None] | None = None
        self._calls = 0

    async def __aenter__(self) -> Workers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> bool:
        """Start the workers now rather than on first use, and wait for them: True when they
        run (False with none configured, or when this system cannot start them)."""
        if self._pool is None and self.workers:
            self._begin_start()
            assert self._starting is not None
            self._started(await self._starting)
        return self._pool is not None

    async def run(self, call: Callable[[], T], url: str) -> T:
        """The result of `call` (a function and its arguments, picklable, such as a
        functools.partial of a module's function), or what it raised; WorkerError naming `url`
        when its worker died."""
        self._calls += 1
        if self._pool is None and self.workers and self._calls > START_AFTER:
            self._begin_start()
            assert self._starting is not None
            if self._starting.done():
                self._started(self._starting.result())
        pool = self._pool
        if pool is None:
            return call()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None  # the next call starts new workers
                pool.shutdown(wait=False, cancel_futures=True)
            raise WorkerError(
                url, "the worker process reading it died; will retry next run"
            ) from None

    def _begin_start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.ensure_future(asyncio.to_thread(self._start))

    def _started(self, pool: ProcessPoolExecutor | None) -> None:
        self._starting = None
        self._pool = pool
        if pool is None:
            self.workers = 0  # they could not start (see _start): this process it is

    def _start(self) -> ProcessPoolExecutor | None:
        """New workers, running (in a thread: starting them blocks for a while); None when this
        system cannot start them."""
        # Not fork: this process runs threads (the event loop's executor), which fork copies badly.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = None
        try:
            if isinstance(context, multiprocessing.context.ForkServerContext):
                context.set_forkserver_preload(["aggregator.workers"])
            pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
            # One task each, all at once: a worker is started for each while none is idle.
            for started in [pool.submit(os.getpid) for _ in range(self.workers)]:
                started.result()
        except Exception as exc:  # no processes here (limits, sandbox), or they die at once
            log.warning("cannot start worker processes (%r); working in this process", exc)
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            return None
        return pool

    async def aclose(self) -> None:
        """Stop the workers."""
        if self._starting is not None:
            self._pool = self._pool or await self._starting
            self._starting = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
