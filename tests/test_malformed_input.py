"""Malformed URLs, out-of-range dates and empty feeds, through the real CLI against the local
server: each fails only its own entry (with the URL named) or is simply dropped, never the run.

The feeds and pages here are hand-made (inline): each is the smallest document showing one shape.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project
from tests.server import Response, TestServer

RSS = "application/rss+xml"


def _page(title: str, words: str) -> Response:
    body = f"<html><body><article><h1>{title}</h1><p>{words * 30}</p></article></body></html>"
    return Response(body.encode())


def _rss(server: TestServer, *items: tuple[str, str, str]) -> Response:
    """An RSS feed of (title, link, pubDate) items; "BASE" in a link is the server's URL."""
    body = "".join(
        f"<item><title>{title}</title><link>{link.replace('BASE', server.url(''))}</link>"
        f"<guid>{n}</guid><pubDate>{date}</pubDate></item>"
        for n, (title, link, date) in enumerate(items)
    )
    feed = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    )
    return Response(feed.encode(), headers={"Content-Type": RSS})


def _feed_source(name: str, url: str, kind: str = "feed") -> str:
    return f"  - name: {name}\n    type: {kind}\n    url: {url}\n"


def _posts(project: Project) -> list[str]:
    return sorted(p.name for p in project.posts.glob("*.md")) if project.posts.exists() else []


def test_malformed_links_are_dropped_and_a_bad_redirect_fails_only_its_entry(
    tmp_path: Path, server: TestServer
) -> None:
    date = "Mon, 05 Jan 2026 08:00:00 +0700"
    server.routes["/feed.xml"] = _rss(
        server,
        ("Bracket", "http://[oops/x", date),
        ("Port", "http://127.0.0.1:99999/x", date),
        ("Redirected badly", "BASE/redirect", date),
        ("Feed story", "BASE/feed-story.html", date),
    )
    server.routes["/redirect"] = Response(
        b"", 302, headers={"Location": "http://127.0.0.1:99999/moved"}
    )
    server.routes["/feed-story.html"] = _page("Feed story", "Words of the feed story. ")
    server.routes["/list.html"] = Response(
        b'<html><head><base href="http://[x/"></head><body>'
        b'<a class="x" href="http://[oops/x">Bad</a><a class="x" href="https://e.vn:abc/">Bad</a>'
        b'<a class="x" href="/listed-story.html">Listed story</a></body></html>'
    )
    server.routes["/listed-story.html"] = _page("Listed story", "Other words, a listed one. ")
    project = Project(tmp_path, server)
    project.write_config(
        _feed_source("feed", server.url("/feed.xml"))
        + _feed_source("list", server.url("/list.html"), "listing")
        + "    listing:\n      link: a.x\n"
    )
    result = project.cli("fetch")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    redirect = server.url("/redirect")
    assert f"{redirect}: redirected to 'http://127.0.0.1:99999/moved'" in result.stdout
    assert "Port out of range" in result.stdout
    assert "oops" not in result.stdout + result.stderr  # dropped, never requested
    # A redirect to a broken URL stays broken: posted from the feed alone at once.
    assert "posting from the feed alone" in result.stdout
    posts = _posts(project)
    assert len(posts) == 3, posts
    assert posts[:2] == ["2026-01-05-feed-story.md", "2026-01-05-redirected-badly.md"], posts
    assert posts[2].endswith("-listed-story.md")  # undated: the run's date
    assert server.hits("/listed-story.html") == 1


def test_a_far_future_feed_date_counts_as_no_date(tmp_path: Path, server: TestServer) -> None:
    server.routes["/feed.xml"] = _rss(
        server,
        ("Far story", "BASE/far-story.html", "Fri, 31 Dec 9999 23:00:00 +0000"),
        ("Normal story", "BASE/normal-story.html", "Mon, 05 Jan 2026 08:00:00 +0700"),
    )
    server.routes["/far-story.html"] = _page("Far story", "Some text about the far one. ")
    server.routes["/normal-story.html"] = _page("Normal story", "Entirely different prose. ")
    project = Project(tmp_path, server)
    project.write_config(_feed_source("s", server.url("/feed.xml")))
    result = project.cli("fetch")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    posts = _posts(project)
    assert len(posts) == 2 and "2026-01-05-normal-story.md" in posts
    far = next(p for p in posts if p.endswith("-far-story.md"))
    assert not far.startswith("9999")  # dated by the run, having no date of its own


def test_empty_feeds_give_no_entries_and_no_error(tmp_path: Path, server: TestServer) -> None:
    server.routes["/alerts"] = Response(
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<id>tag:google.com,2005:reference:feed:1</id><title>Google Alert - x</title>"
        b"<updated>2026-01-05T01:00:00Z</updated></feed>",
        headers={"Content-Type": "application/atom+xml; charset=utf-8"},
    )
    server.routes["/rss"] = Response(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
        headers={"Content-Type": "text/xml"},
    )
    project = Project(tmp_path, server)
    project.write_config(
        _feed_source("alerts", server.url("/alerts"), "google_alerts")
        + _feed_source("rss", server.url("/rss"))
    )
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 of 2 sources failed" in result.stdout
    assert _posts(project) == []
