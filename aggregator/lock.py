"""The run lock: a file next to the state file, held with flock(2) while a run writes.

A run that finds the lock taken gives up at once (`hold_lock`, for `aggregator fetch`) or waits
(`wait_for_lock`, for the daemon). The kernel drops a flock when its holder dies, so a lock left
by a killed run never needs cleaning up; the file's text (pid, start time) is only for messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from aggregator.errors import LockedError

POLL_SECONDS = 0.5
"""How often a waiting daemon tries the lock again."""


def lock_path(state_path: Path) -> Path:
    """The lock file that goes with a state file: `<state>.lock` in the same folder."""
    return state_path.with_name(state_path.name + ".lock")


class RunLock:
    """One process's handle on a lock file; `acquire` never blocks."""

    def __init__(self, path: Path):
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock: True when taken, False when another holder has it."""
        if self._file is not None:
            raise RuntimeError(f"{self.path}: lock already held by this handle")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()}, started {started}\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        """Give the lock back (the file stays, empty)."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.truncate(0)
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def holder(self) -> str:
        """Who holds the lock, as its file says ("pid 123, started ..."), for messages."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        return text or "holder unknown"


@contextlib.contextmanager
def hold_lock(path: Path) -> Iterator[RunLock]:
    """Hold the lock for the block; LockedError at once when another run has it."""
    lock = RunLock(path)
    if not lock.acquire():
        raise LockedError(str(path), lock.holder())
    try:
        yield lock
    finally:
        lock.release()


@contextlib.asynccontextmanager
async def wait_for_lock(path: Path, poll: float = POLL_SECONDS) -> AsyncIterator[RunLock]:
    """Hold the lock for the block, waiting (without blocking the event loop) until it is free."""
    lock = RunLock(path)
    while not lock.acquire():
        await asyncio.sleep(poll)
    try:
        yield lock
    finally:
        lock.release()
