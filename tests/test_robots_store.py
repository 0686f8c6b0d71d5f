"""robots.txt kept in the state file across runs: read once a day per origin (an hour when it
could not be downloaded), its rules and Crawl-delay obeyed from the stored copy.

End-to-end through the CLI against the local server; the age of a stored copy is changed in the
state file rather than waited for.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aggregator.fetch import Fetcher
from aggregator.state import State
from tests.conftest import RSS_SOURCE, Project
from tests.server import Response, TestServer

ROBOTS = "/vtcnews.vn/robots.txt"
DISALLOW = Response(
    b"User-agent: *\nDisallow: /mo-rong-duong\n", headers={"Content-Type": "text/plain"}
)


def state_path(project: Project) -> Path:
    return project.path / ".aggregator" / "state.sqlite3"


def age_stored_robots(project: Project, hours: float) -> None:
    """Move the download time of every stored robots.txt `hours` into the past."""
    db = sqlite3.connect(state_path(project))
    with db:
        for origin, fetched_at in db.execute("SELECT origin, fetched_at FROM robots_txt"):
            earlier = datetime.fromisoformat(fetched_at) - timedelta(hours=hours)
            db.execute(
                "UPDATE robots_txt SET fetched_at = ? WHERE origin = ?",
                (earlier.isoformat(timespec="seconds"), origin),
            )
    db.close()


def forget_entries(project: Project) -> None:
    """Make the feed's entries new again: a disallowed article is posted from the feed alone
    and not asked for again, so each run that must ask robots.txt again starts afresh."""
    db = sqlite3.connect(state_path(project))
    with db:
        for table in ("entries", "posts", "post_keys", "fingerprints", "post_topics"):
            db.execute(f"DELETE FROM {table}")
    db.close()
    for post in project.posts.glob("*.md"):
        post.unlink()


def article_path(server: TestServer) -> str:
    return next(p for p in server.routes if p.startswith("/vtcnews.vn/mo-rong-duong"))


@pytest.fixture
def rss_project(tmp_path: Path, server: TestServer) -> Project:
    project = Project(tmp_path, server)
    project.write_config(RSS_SOURCE)
    return project


def test_rules_are_read_once_a_day_and_obeyed_from_the_stored_copy(rss_project: Project) -> None:
    server = rss_project.server
    server.routes[ROBOTS] = DISALLOW
    first = rss_project.cli("fetch")
    assert first.returncode == 0 and "disallowed by robots.txt" in first.stdout
    assert server.hits(ROBOTS) == 1
    # The host now allows everything, but within the day the stored rules still apply.
    server.routes[ROBOTS] = Response(b"", 404)
    forget_entries(rss_project)
    second = rss_project.cli("fetch")
    assert second.returncode == 0 and "disallowed by robots.txt" in second.stdout
    assert server.hits(ROBOTS) == 1
    assert server.hits(article_path(server)) == 0
    # A day later the file is read again, and the new rules apply.
    age_stored_robots(rss_project, 24.5)
    forget_entries(rss_project)
    third = rss_project.cli("fetch")
    assert third.returncode == 0, third.stdout
    assert server.hits(ROBOTS) == 2
    assert server.hits(article_path(server)) == 1


@pytest.mark.parametrize(
    ("robots", "hours", "asked_again"),
    [
        (DISALLOW, 23, False),
        (DISALLOW, 25, True),
        (Response(b"", 404), 23, False),
        # Could not be downloaded: taken as "allow all" for an hour only.
        (Response(b"", 503), 0, False),
        (Response(b"", 503), 1.5, True),
    ],
)
def test_a_stored_robots_txt_is_asked_for_again_once_stale(
    rss_project: Project, robots: Response, hours: float, asked_again: bool
) -> None:
    server = rss_project.server
    server.routes[ROBOTS] = robots
    rss_project.cli("fetch")
    assert server.hits(ROBOTS) == 1
    age_stored_robots(rss_project, hours)
    rss_project.cli("fetch")
    assert server.hits(ROBOTS) == (2 if asked_again else 1)


def test_an_older_copy_is_obeyed_while_robots_txt_cannot_be_downloaded(
    rss_project: Project,
) -> None:
    server = rss_project.server
    server.routes[ROBOTS] = DISALLOW
    rss_project.cli("fetch")
    age_stored_robots(rss_project, 25)
    server.routes[ROBOTS] = Response(b"", 503)
    forget_entries(rss_project)
    second = rss_project.cli("fetch")
    assert server.hits(ROBOTS) == 2
    assert second.returncode == 0 and "disallowed by robots.txt" in second.stdout
    assert server.hits(article_path(server)) == 0
    # The old copy stays stored as it was: the next run asks again, and obeys the answer.
    server.routes[ROBOTS] = Response(b"", 404)
    forget_entries(rss_project)
    third = rss_project.cli("fetch")
    assert third.returncode == 0, third.stdout
    assert server.hits(ROBOTS) == 3
    assert server.hits(article_path(server)) == 1


def test_a_dry_run_reads_robots_txt_but_leaves_the_state_alone(rss_project: Project) -> None:
    server = rss_project.server
    server.routes[ROBOTS] = DISALLOW
    rss_project.cli("fetch", "--dry-run")
    assert not state_path(rss_project).exists()
    assert rss_project.cli("fetch").returncode == 0
    assert server.hits(ROBOTS) == 2
    age_stored_robots(rss_project, 25)
    forget_entries(rss_project)
    # The dry run reads the stale file again but does not store it: the next run reads it too.
    rss_project.cli("fetch", "--dry-run")
    assert server.hits(ROBOTS) == 3
    rss_project.cli("fetch")
    assert server.hits(ROBOTS) == 4


def test_crawl_delay_applies_from_the_stored_copy(server: TestServer, tmp_path: Path) -> None:
    server.routes["/news.example/robots.txt"] = Response(b"User-agent: *\nCrawl-delay: 0.4\n")
    for n in range(4):
        server.routes[f"/news.example/a{n}"] = Response(b"ok")
    base = server.url("/news.example/")
    settings = {
        "user_agent": "aggregator/0.1",
        "allow_private_networks": True,
        "mirrors": {"https://news.example/": base},
        "host_delay": 0.0,
    }

    async def fetch(state: State, paths: list[str]) -> None:
        async with Fetcher(**settings, robots_store=state) as client:  # type: ignore[arg-type]
            for path in paths:
                await client.get(f"https://news.example/{path}")

    with State(tmp_path / "state.sqlite3") as state:
        asyncio.run(fetch(state, ["a0"]))
        # The host forgets its Crawl-delay; the next client must still keep to the stored one.
        server.routes["/news.example/robots.txt"] = Response(b"", 404)
        asyncio.run(fetch(state, ["a1", "a2", "a3"]))
    assert server.hits("/news.example/robots.txt") == 1
    starts = sorted(t for t, path in server.started if path.startswith("/news.example/a"))
    later = starts[1:]
    assert len(later) == 3
    assert all(b - a >= 0.35 for a, b in itertools.pairwise(later))


def test_state_file_from_before_the_robots_table_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with State(path):
        pass
    db = sqlite3.connect(path)
    db.execute("DROP TABLE robots_txt")
    db.commit()
    db.close()
    with State(path) as state:
        assert state.robots_txt("https://news.example") is None
