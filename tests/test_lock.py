"""Cron safety: `fetch` holds the lock next to the state file; overlaps exit 3; stale locks go."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from aggregator.errors import LockedError
from aggregator.lock import RunLock, hold_lock, lock_path
from tests.conftest import RSS_URL, Project, mirror_path, wait_until
from tests.server import Gate

EXIT_LOCKED = 3


def _gate_feed(project: Project) -> Gate:
    path = mirror_path(RSS_URL)
    route = project.server.routes[path]
    assert not callable(route)
    gate = Gate(route)
    project.server.routes[path] = gate
    return gate


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    path = lock_path(tmp_path / "state.sqlite3")
    assert path == tmp_path / "state.sqlite3.lock"
    first = RunLock(path)
    assert first.acquire()
    # A second handle conflicts even in the same process (flock is per open file).
    assert not RunLock(path).acquire()
    with pytest.raises(LockedError, match=f"pid {os.getpid()}, started"), hold_lock(path):
        pass
    first.release()
    with hold_lock(path):
        assert not RunLock(path).acquire()
    last = RunLock(path)
    assert last.acquire()
    last.release()


def test_overlapping_fetch_exits_at_once_with_code_3(project: Project) -> None:
    gate = _gate_feed(project)
    first = project.start("fetch")
    try:
        wait_until(gate.entered.is_set, "the first fetch to request the feed")
        feed_hits = project.server.hits(mirror_path(RSS_URL))
        second = project.cli("fetch")
        assert second.returncode == EXIT_LOCKED, second.stdout + second.stderr
        assert "another aggregator run holds the lock" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert "state.sqlite3.lock" in second.stderr
        assert second.stdout == ""
        # It gave up before any request of its own.
        assert project.server.hits(mirror_path(RSS_URL)) == feed_hits
    finally:
        gate.open()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert len(list(project.posts.iterdir())) == 4


def test_lock_of_a_killed_run_is_recovered(project: Project) -> None:
    gate = _gate_feed(project)
    killed = project.start("fetch")
    wait_until(gate.entered.is_set, "the fetch to request the feed")
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    gate.open()
    lock = project.path / ".aggregator" / "state.sqlite3.lock"
    assert f"pid {killed.pid}" in lock.read_text(encoding="utf-8")
    # The first source's posts may be written before the kill (it claims its entries as soon
    # as its own feed is in): the next run writes the rest (and records a post the kill left
    # unrecorded), none twice.
    posts = project.posts
    before = (
        len([p for p in posts.glob("*.md") if not p.name.startswith(".")]) if posts.exists() else 0
    )
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    new = int(result.stdout.splitlines()[-1].removeprefix("total: ").split(" new")[0])
    assert 4 - before <= new <= 4, (before, result.stdout)
    assert len(list(project.posts.iterdir())) == 4
    # Released cleanly this time: the file stays, empty, and takes the next run.
    assert lock.read_text(encoding="utf-8") == ""
    assert project.cli("fetch").returncode == 0


def test_dry_run_cannot_commit(project: Project) -> None:
    result = project.cli("fetch", "--dry-run", "--commit")
    assert result.returncode == 2
    assert "--dry-run" in result.stderr
