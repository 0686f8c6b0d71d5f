"""Worker processes (aggregator.workers): pure calls run there and come back as they would here;
a worker that dies fails one call, not the run; workers do not outlive a killed run."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config import load_config
from aggregator.errors import ConfigError, FeedError
from aggregator.sources.feed import parse_feed
from aggregator.workers import WorkerError, Workers, read_page
from tests.conftest import RSS_SOURCE, Project, article_pages, wait_until
from tests.server import TestServer

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 1, 6, tzinfo=UTC)
FEED = Path(__file__).parent / "data" / "feeds"


def test_pages_and_feeds_read_in_a_worker_come_back_as_read_here() -> None:
    pages = article_pages()
    feeds = sorted(FEED.glob("*.xml"))
    assert pages and feeds

    async def go() -> None:
        async with Workers(1) as workers:
            assert await workers.start()
            assert await workers.run(os.getpid, "x") != os.getpid()
            for url, body in pages.items():
                call = partial(read_page, body, "text/html", url, None, TZ, NOW)
                assert await workers.run(call, url) == call()
            for path in feeds:
                parse = partial(parse_feed, path.read_bytes(), path.as_uri(), "s", now=NOW)
                assert await workers.run(parse, path.as_uri()) == parse()

    asyncio.run(go())


def test_an_error_raised_in_a_worker_comes_back_with_its_fields() -> None:
    async def go() -> None:
        async with Workers(1) as workers:
            assert await workers.start()
            with pytest.raises(FeedError) as raised:
                await workers.run(partial(parse_feed, b"\x00 not xml", "https://a.vn/f", "s"), "u")
            assert raised.value.url == "https://a.vn/f"
            assert str(raised.value).startswith("https://a.vn/f: ")

    asyncio.run(go())


def test_a_worker_that_dies_fails_its_call_and_new_workers_take_the_next() -> None:
    async def go() -> None:
        async with Workers(1) as workers:
            assert await workers.start()
            first = await workers.run(os.getpid, "x")
            with pytest.raises(WorkerError) as raised:
                await workers.run(partial(os._exit, 3), "https://a.vn/crash.html")
            assert raised.value.url == "https://a.vn/crash.html"
            assert "worker process" in str(raised.value)
            # The next call starts new workers; meanwhile calls run in this process.
            assert await workers.start()
            second = await workers.run(os.getpid, "x")
            assert second not in (first, os.getpid())

    asyncio.run(go())


def test_a_worker_killed_between_calls_gets_no_more_calls() -> None:
    async def go() -> None:
        async with Workers(1) as workers:
            assert await workers.start()
            first = await workers.run(os.getpid, "x")
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.5)  # the run sees its socket end
            # Not sent to the dead worker (it would never answer): here, until new ones run.
            assert await asyncio.wait_for(workers.run(os.getpid, "x"), 10) == os.getpid()
            assert await workers.start()
            assert await asyncio.wait_for(workers.run(os.getpid, "x"), 10) not in (
                first,
                os.getpid(),
            )

    asyncio.run(go())


def test_a_call_raising_stop_iteration_fails_alone() -> None:
    """asyncio futures cannot carry StopIteration: it comes back as a RuntimeError, and the
    worker and the calls around it go on."""

    async def go() -> None:
        async with Workers(1) as workers:
            assert await workers.start()
            pid = await workers.run(os.getpid, "x")
            calls = [
                workers.run(partial(pow, 3, 2), "a"),
                workers.run(partial(next, iter(())), "b"),
                workers.run(partial(pow, 4, 2), "c"),
            ]
            first, failed, last = await asyncio.wait_for(
                asyncio.gather(*calls, return_exceptions=True), 10
            )
            assert (first, last) == (9, 16)
            assert isinstance(failed, RuntimeError) and "StopIteration" in str(failed)
            assert await workers.run(os.getpid, "x") == pid

    asyncio.run(go())


def test_many_calls_at_once_all_come_back() -> None:
    """More calls than the workers take at once wait their turn here, then run there."""

    async def go() -> None:
        async with Workers(2) as workers:
            assert await workers.start()
            results = await asyncio.wait_for(
                asyncio.gather(*(workers.run(partial(pow, n, 2), str(n)) for n in range(60))), 30
            )
            assert results == [n * n for n in range(60)]
            assert sum(workers.cpu.calls.values()) == 60

    asyncio.run(go())


def test_calls_after_aclose_run_here() -> None:
    async def go() -> None:
        workers = Workers(1)
        assert await workers.start()
        await workers.aclose()
        for _ in range(20):  # past START_AFTER: no new workers are started
            assert await workers.run(os.getpid, "x") == os.getpid()
        await asyncio.sleep(1.5)  # time enough for workers to start, were they started
        assert await workers.run(os.getpid, "x") == os.getpid()

    asyncio.run(go())


def test_no_workers_means_this_process() -> None:
    async def go() -> None:
        async with Workers(0) as workers:
            assert not await workers.start()
            assert await workers.run(os.getpid, "x") == os.getpid()

    asyncio.run(go())


SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from aggregator.workers import Workers

    async def main():
        workers = Workers(1)
        assert await workers.start()
        print(await workers.run(os.getpid, "x"), flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped) counts as gone
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return status != "Z"


def test_workers_exit_when_the_run_is_killed(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert run.stdout is not None
    worker = int(run.stdout.readline())
    assert worker != run.pid and _alive(worker)
    # Killed and not yet reaped (a zombie, as under a supervisor that is slow to wait).
    os.kill(run.pid, signal.SIGKILL)
    wait_until(lambda: not _alive(worker), "the worker to exit", timeout=30)
    # Nothing holds the run's output open any longer.
    run.communicate(timeout=30)


def test_settings_workers_takes_auto_or_a_number(tmp_path: Path) -> None:
    for value, expected in (("auto", "auto"), ("0", 0), ("3", 3)):
        path = tmp_path / "sources.yaml"
        path.write_text(f"settings:\n  workers: {value}\nsources: []\n", encoding="utf-8")
        assert load_config(path).settings.workers == expected
    for bad in ("-1", "many", "1.5"):
        path.write_text(f"settings:\n  workers: {bad}\nsources: []\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="workers"):
            load_config(path)


def test_posts_are_the_same_with_and_without_workers(tmp_path: Path, server: TestServer) -> None:
    written = []
    for workers in (0, 2):
        folder = tmp_path / f"workers-{workers}"
        folder.mkdir()
        project = Project(folder, server)
        project.write_config(RSS_SOURCE, f"  workers: {workers}\n")
        result = project.cli("fetch")
        assert result.returncode == 0, result.stdout + result.stderr
        written.append({p.name: p.read_bytes() for p in project.posts.glob("*.md")})
    assert written[0] and written[0] == written[1]


def test_workers_start_with_spawn_where_there_is_no_forkserver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # macOS and Windows have no forkserver: the workers are spawned afresh.
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])

    async def go() -> None:
        async with Workers(1) as workers:
            assert await workers.start()
            assert await workers.run(os.getpid, "x") != os.getpid()
            # Spawned by this process itself (a forkserver's children are the forkserver's).
            assert await workers.run(os.getppid, "x") == os.getpid()
            page = next(iter(article_pages().items()))
            call = partial(read_page, page[1], "text/html", page[0], None, TZ, NOW)
            assert await workers.run(call, page[0]) == call()

    asyncio.run(go())
