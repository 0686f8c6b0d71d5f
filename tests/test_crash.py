"""Crash safety: `aggregator fetch` (the real CLI, in a subprocess) is killed with SIGKILL at seeded
random moments while it works against the local test server; a normal rerun must then leave every
article posted exactly once, no temporary file, no truncated post and a consistent state file.

CI runs a short fixed-seed campaign; `scripts/fuzz crash` runs a long one (AGGREGATOR_CRASH_CASES,
AGGREGATOR_CRASH_SEED). Each case prints one line (`pytest -s` shows them).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import frontmatter
import pytest

from aggregator.write import linked_url
from tests.conftest import DATA, ROOT, Project, mirror_path, read_page
from tests.server import Response, TestServer

CASES = int(os.environ.get("AGGREGATOR_CRASH_CASES", "8"))
SEED = int(os.environ.get("AGGREGATOR_CRASH_SEED", "20260127"))
WORDY = 16
"""Articles whose URL gives the slug."""
WORDLESS = 4
"""Articles whose URL has no words: the slug comes from the page headline, the same for all of
them on the same day, so their posts need the URL-hash names."""
HOST = "https://vtcnews.vn/"  # mirrored to the test server by Project.write_config
CHANGING = f"{HOST}crash/a9999.html"
"""An article whose headline (so its post's file name) changes on every download: a run killed
between writing its post and recording it must not leave a second file next time."""


def _article_urls() -> list[str]:
    wordy = [f"{HOST}crash/tin-thu-nghiem-so-{i}-ar{i}.html" for i in range(WORDY)]
    wordless = [f"{HOST}crash/a{9000 + i}.html" for i in range(WORDLESS)]
    return [*wordy, *wordless, CHANGING]


_downloads = itertools.count(1)


def handmade_changing_page(request: object) -> Response:
    """HAND-MADE: a short article page whose headline counts the downloads."""
    headline = f"Bản tin cập nhật lần {next(_downloads)}"
    page = (
        f"<html><head><title>{headline}</title><meta property='article:published_time'"
        f" content='2025-12-02T10:00:00+07:00'></head><body><article><h1>{headline}</h1>"
        "<p>Nội dung ngắn của bản tin, viết tay cho bài kiểm tra.</p></article></body></html>"
    )
    return Response(page.encode())


def handmade_feed(urls: list[str], title: str) -> bytes:
    """HAND-MADE: an RSS 2.0 feed (made by this test, not saved from anywhere) listing `urls`,
    newest first, each with a title and a distinct date."""
    start = datetime(2025, 12, 1, 1, 0, tzinfo=UTC)
    items = "".join(
        f"<item><title>{escape(f'Tin thử nghiệm số {i}')}</title><link>{escape(url)}</link>"
        f"<guid isPermaLink='false'>crash-{i}</guid>"
        f"<pubDate>{format_datetime(start + timedelta(hours=i))}</pubDate></item>"
        for i, url in reversed(list(enumerate(urls)))
    )
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>{title}</title>"
        f"<link>{HOST}</link>{items}</channel></rss>"
    ).encode()


@pytest.fixture(scope="module")
def crash_server() -> Iterator[TestServer]:
    """Two hand-made feeds (the second repeats some articles) and one real saved page per URL."""
    srv = TestServer()
    urls = _article_urls()
    # Twenty distinct real pages: a page served twice would be a duplicate story, posted once.
    pages = [read_page(path) for path in sorted((DATA / "scrapinghub").glob("*.html.gz"))]
    assert len(pages) >= len(urls) - 1
    rng = random.Random(SEED)
    srv.routes[mirror_path(CHANGING)] = handmade_changing_page
    for i, url in enumerate(urls[:-1]):
        # Some pages answer slowly, so that runs last long enough to be killed anywhere.
        delay = rng.choice((0.0, 0.0, 0.02, 0.1))
        srv.routes[mirror_path(url)] = Response(pages[i], delay=delay)
    srv.routes["/feeds/crash-1.rss"] = Response(
        handmade_feed(urls, "crash 1"), headers={"Content-Type": "application/rss+xml"}
    )
    srv.routes["/feeds/crash-2.rss"] = Response(
        handmade_feed(urls[::3], "crash 2"), headers={"Content-Type": "application/rss+xml"}
    )
    srv.start()
    yield srv
    srv.stop()


def _project(path: Path, server: TestServer) -> Project:
    path.mkdir()
    project = Project(path, server)
    project.write_config(
        f"  - name: crash-one\n    type: feed\n    url: {server.url('/feeds/crash-1.rss')}\n"
        f"    categories: [news]\n"
        f"  - name: crash-two\n    type: feed\n    url: {server.url('/feeds/crash-2.rss')}\n"
        f"    topic: Thử nghiệm\n"
    )
    return project


def _start(project: Project) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "fetch"],
        cwd=project.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _post_files(project: Project) -> list[Path]:
    if not project.posts.exists():
        return []
    return [p for p in project.posts.iterdir() if not p.name.startswith(".")]


@dataclass
class Kill:
    """When to kill a run: after `posts` post files exist (0: from the start), then `seconds`."""

    posts: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.posts}p+{self.seconds * 1000:.0f}ms"


def _run_and_kill(project: Project, kill: Kill) -> bool:
    """Start a run and SIGKILL it at the given moment; True when it was still running then."""
    proc = _start(project)
    try:
        give_up = time.monotonic() + 60
        while len(_post_files(project)) < kill.posts and proc.poll() is None:
            if time.monotonic() > give_up:
                break
            time.sleep(0.0005)
        if kill.seconds:
            time.sleep(kill.seconds)
        alive = proc.poll() is None
        if alive:
            os.kill(proc.pid, signal.SIGKILL)
        return alive
    finally:
        proc.wait(timeout=60)


def _snapshot(project: Project) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in _post_files(project)}


@pytest.fixture(scope="module")
def reference(crash_server: TestServer, tmp_path_factory: pytest.TempPathFactory):
    """The posts an uninterrupted run writes, and how long it took (to pick kill moments)."""
    project = _project(tmp_path_factory.mktemp("crash") / "reference", crash_server)
    started = time.monotonic()
    result = project.cli("fetch")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    return _snapshot(project), seconds


def _check_consistent(project: Project, reference: dict[str, bytes]) -> None:
    files = _snapshot(project)
    leftovers = [p.name for p in project.posts.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []
    # Exactly once: one post file links each article.
    by_url = {linked_url(data.decode("utf-8")): data for data in files.values()}
    assert len(by_url) == len(files)
    assert sorted(by_url, key=str) == sorted(_article_urls())
    # Whole: the same bytes as an uninterrupted run (the changing article: a complete post).
    expected = {linked_url(data.decode("utf-8")): data for data in reference.values()}
    for url, data in by_url.items():
        if url != CHANGING:
            assert data == expected[url], url
        assert frontmatter.loads(data.decode("utf-8"))["layout"] == "post"
        assert data.endswith(b"\n\n")
    db = sqlite3.connect(project.path / ".aggregator" / "state.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        posts = dict(db.execute("SELECT file, url FROM posts").fetchall())
        statuses = db.execute("SELECT DISTINCT status FROM entries").fetchall()
    finally:
        db.close()
    assert set(posts) == set(files)  # every post file recorded, nothing recorded but them
    assert sorted(posts.values()) == sorted(_article_urls())
    assert {s for (s,) in statuses} <= {"posted", "duplicate"}


def report(line: str) -> None:
    """One line of the campaign's record, on stdout (shown by `pytest -s`, kept by scripts/fuzz)."""
    sys.stdout.write(line + "\n")


def test_killed_runs_lose_and_duplicate_nothing(
    crash_server: TestServer, reference, tmp_path_factory: pytest.TempPathFactory
) -> None:
    expected, seconds = reference
    rng = random.Random(SEED)
    root = tmp_path_factory.mktemp("crash")
    kills = runs = 0
    for case in range(CASES):
        project = _project(root / f"case-{case}", crash_server)
        moments = []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                kill = Kill(0, rng.uniform(0, seconds))
            else:
                kill = Kill(rng.randint(1, WORDY + WORDLESS + 1), rng.uniform(0, 0.004))
            moments.append(kill)
            runs += 1
            kills += _run_and_kill(project, kill)
        result = project.cli("fetch")
        assert result.returncode == 0, (moments, result.stdout, result.stderr)
        _check_consistent(project, expected)
        report(f"crash case {case}: kills at {', '.join(map(str, moments))}: consistent")
    report(f"crash: {CASES} cases, {runs} runs started, {kills} killed mid-run (seed {SEED})")
    assert kills >= runs // 2  # the harness did interrupt runs, not just watch them finish


def test_rerun_after_everything_is_posted_changes_nothing(
    crash_server: TestServer, reference, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = _project(tmp_path_factory.mktemp("crash") / "twice", crash_server)
    _run_and_kill(project, Kill(WORDY, 0.0))
    assert project.cli("fetch").returncode == 0
    before = project.snapshot()
    result = project.cli("fetch")
    assert result.returncode == 0
    assert "total: 0 new" in result.stdout
    assert project.snapshot() == before
    _check_consistent(project, reference[0])


def test_stale_temporary_files_of_dead_runs_are_removed(
    crash_server: TestServer, reference, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = _project(tmp_path_factory.mktemp("crash") / "temps", crash_server)
    project.posts.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = project.posts / f".tmp-{dead.stdout.strip()}-0123456789ab.md"
    stale.write_bytes(b"---\nlayout: po")
    live = project.posts / f".tmp-{os.getpid()}-0123456789ab.md"  # a run still writing
    live.write_bytes(b"---\n")
    assert project.cli("fetch").returncode == 0
    assert not stale.exists() and live.exists()
    live.unlink()
    _check_consistent(project, reference[0])


def test_corrupt_or_foreign_state_files_get_a_clear_error(
    crash_server: TestServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("state")
    good = _project(root / "good", crash_server)
    assert good.cli("fetch").returncode == 0
    state_bytes = (good.path / ".aggregator" / "state.sqlite3").read_bytes()
    foreign = root / "foreign.sqlite3"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE notes (x)")
    db.commit()
    db.close()
    cases = {
        "garbage": os.urandom(4096),
        "text": b"settings:\n  posts_dir: posts\n",
        "truncated": state_bytes[: len(state_bytes) // 3],
        "header-only": state_bytes[:100],
        "damaged": state_bytes[:4096] + bytes(len(state_bytes) - 4096),
        "foreign sqlite": foreign.read_bytes(),
        "saved page": (DATA / "handmade" / "baoquangtri.vn-191475.html").read_bytes(),
    }
    for name, data in cases.items():
        project = _project(root / name.replace(" ", "-"), crash_server)
        state = project.path / ".aggregator" / "state.sqlite3"
        state.parent.mkdir()
        state.write_bytes(data)
        result = project.cli("fetch")
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
        assert "state error" in result.stderr and str(state) in result.stderr, name
        assert not project.posts.exists() or _post_files(project) == [], name
    directory = _project(root / "directory", crash_server)
    (directory.path / ".aggregator" / "state.sqlite3").mkdir(parents=True)
    result = directory.cli("fetch")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
