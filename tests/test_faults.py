"""Faults through the real CLI against the local server: each one fails only its source or entry,
with a message naming the source and the URL, the exit code says so, and reruns write nothing twice.

Feeds: the hand-made tests/data/handmade/provincial-rss.xml (good source) and faults-rss.xml (its
links meet one fault each); article pages are the real saved ones of tests/data/articles.
"""

from __future__ import annotations

import gzip
import sqlite3

import pytest

from tests.conftest import DATA, MIRRORED, RSS_SOURCE, Project, read_page
from tests.server import Response, TestServer

FAULTS_FEED = (DATA / "handmade" / "faults-rss.xml").read_bytes()
GOOD_FEED = (DATA / "handmade" / "provincial-rss.xml").read_bytes()
VTC_PAGE = read_page(DATA / "articles" / "vtcnews.vn" / "sample_article.html.gz")
CANTHO_PAGE = read_page(DATA / "articles" / "baocantho.com.vn" / "a196670.html")
BOMB = gzip.compress(b"\0" * 20_000_000, compresslevel=9)
GZIPPED_FEED = gzip.compress(GOOD_FEED)
RSS_TYPE = {"Content-Type": "application/rss+xml"}

# Feed-level faults: source name -> (response of its feed, what the failure line must say).
FEED_FAULTS: dict[str, tuple[Response, str]] = {
    "feed-slow": (Response(GOOD_FEED, delay=3), "timed out"),
    "feed-drip": (Response(GOOD_FEED, drip=0.05), "timed out after 1 s"),
    "feed-reset": (Response(GOOD_FEED, reset_after=300), "connection broken while reading"),
    "feed-truncated-gzip": (
        Response(GZIPPED_FEED[:200], headers={"Content-Encoding": "gzip", **RSS_TYPE}),
        "compressed body is truncated",
    ),
    "feed-too-big": (Response(b"<rss>" + b" " * 3_000_000), "over the limit"),
    "feed-gzip-bomb": (
        Response(BOMB, headers={"Content-Encoding": "gzip", **RSS_TYPE}),
        "over the limit of 2000000 bytes once decompressed",
    ),
    "feed-redirect-loop": (
        Response(b"", 302, headers={"Location": "https://feed-redirect-loop.example/rss.xml"}),
        "redirect loop at https://feed-redirect-loop.example/rss.xml",
    ),
    "feed-404": (Response(b"", 404), "HTTP 404"),
    "feed-410": (Response(b"", 410), "HTTP 410"),
    "feed-429": (
        Response(b"", 429, headers={"Retry-After": "3600"}),
        "HTTP 429; the server asks to retry after 3600 s",
    ),
    "feed-500": (Response(b"", 500), "HTTP 500"),
    "feed-503": (Response(b"", 503, headers={"Retry-After": "0"}), "HTTP 503"),
    "feed-html": (Response("<html><body><h1>Bảo trì</h1></body></html>".encode()), "an HTML page"),
    "feed-empty": (Response(b"", headers=RSS_TYPE), "not a feed"),
    "feed-malformed-xml": (
        Response(b"<?xml version='1.0'?><rss><chan&nel><<item></title>", headers=RSS_TYPE),
        "malformed feed",
    ),
}

# Article-level faults, by the slug of their link in faults-rss.xml.
ARTICLE_FAULTS: dict[str, tuple[Response, str]] = {
    "slow": (Response(VTC_PAGE, delay=3), "timed out"),
    "drip": (Response(VTC_PAGE, drip=0.02), "timed out after 1 s"),
    "reset": (Response(VTC_PAGE, reset_after=2000), "connection broken while reading"),
    "truncated-gzip": (
        Response(gzip.compress(VTC_PAGE)[:5000], headers={"Content-Encoding": "gzip"}),
        "compressed body is truncated",
    ),
    "bomb": (Response(BOMB, headers={"Content-Encoding": "gzip"}), "once decompressed"),
    "too-many": (
        Response(b"", 429, headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"}),
        "HTTP 429; the server asks to retry after",
    ),
    "busy": (Response(b"", 503), "HTTP 503"),
}
RETRIED = ("slow", "drip", "reset", "busy")

FAULTS_SOURCE = """  - name: faults
    type: feed
    url: https://faults.example/rss.xml
    categories: [test]
"""


def configure(project: Project, sources: str, settings: str = "") -> None:
    """A sources.yaml with fast limits, mirroring the real hosts and the fault hosts."""
    hosts = [*MIRRORED, "faults.example", *(f"{name}.example" for name in FEED_FAULTS)]
    mirrors = "".join(
        f'    "https://{host}/": "{project.server.url("/" + host + "/")}"\n' for host in hosts
    )
    (project.path / "sources.yaml").write_text(
        "settings:\n  allow_private_networks: true\n  timeout: 1\n  connect_timeout: 1\n"
        "  host_delay: 0\n  request_retries: 1\n  retry_backoff: 0.01\n  retry_max_wait: 2\n"
        f"  max_body_bytes: 2000000\n{settings}  mirrors:\n{mirrors}sources:\n{sources}",
        encoding="utf-8",
    )


def serve_faulty_articles(server: TestServer) -> None:
    server.routes["/faults.example/rss.xml"] = Response(FAULTS_FEED, headers=RSS_TYPE)
    server.routes["/faults.example/ok-gzip.html"] = Response(
        gzip.compress(VTC_PAGE), headers={"Content-Encoding": "gzip"}
    )
    server.routes["/faults.example/wrong-charset.html"] = Response(
        CANTHO_PAGE, headers={"Content-Type": "text/html; charset=ISO-8859-1"}
    )
    server.routes["/faults.example/gone.html"] = Response(b"", 410)
    for slug, (response, _) in ARTICLE_FAULTS.items():
        server.routes[f"/faults.example/{slug}.html"] = response


def source_lines(stdout: str) -> dict[str, list[str]]:
    """Each source's line followed by its indented problem lines."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("  "):
            current.append(line.strip())
        elif ": " in line:
            current = blocks.setdefault(line.split(": ", 1)[0], [])
            current.append(line)
    return blocks


def test_feed_faults_fail_only_their_source_with_source_and_url_named(project: Project) -> None:
    server = project.server
    for name, (response, _) in FEED_FAULTS.items():
        server.routes[f"/{name}.example/rss.xml"] = response
    feed_sources = "".join(
        f"  - name: {name}\n    type: feed\n    url: https://{name}.example/rss.xml\n"
        for name in FEED_FAULTS
    )
    configure(project, feed_sources + RSS_SOURCE)

    first = project.cli("fetch")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stderr, first.stderr
    blocks = source_lines(first.stdout)
    for name, (_, reason) in FEED_FAULTS.items():
        line = blocks[name][0]
        assert line.startswith(f"{name}: failed: https://{name}.example/rss.xml: "), line
        assert reason in line, line
    # The good source, listed last, is untouched by its neighbours' faults.
    assert blocks["vtc-tin-moi"][0].startswith("vtc-tin-moi: 3 new, 0 skipped, 0 failed")
    assert first.stdout.splitlines()[-1].endswith(
        f"{len(FEED_FAULTS)} of {len(FEED_FAULTS) + 1} sources failed"
    )
    assert server.hits("/feed-503.example/rss.xml") == 2
    assert server.hits("/feed-429.example/rss.xml") == 1
    assert server.hits("/feed-404.example/rss.xml") == 1

    before = project.snapshot()
    assert len(before) == 3
    # Next run: the failing sources back off (not polled, not failed), the good one goes on.
    second = project.cli("fetch")
    assert second.returncode == 0, second.stdout
    assert project.snapshot() == before
    blocks = source_lines(second.stdout)
    assert blocks["vtc-tin-moi"][0].startswith("vtc-tin-moi: 0 new, 3 skipped, 0 failed")
    for name in FEED_FAULTS:
        assert blocks[name][1].startswith(
            f"https://{name}.example/rss.xml: not polled: backing off until "
        ), blocks[name]
    assert server.hits("/feed-404.example/rss.xml") == 1


def test_article_faults_fail_only_their_entry_and_are_retried_next_run(project: Project) -> None:
    server = project.server
    serve_faulty_articles(server)
    configure(project, FAULTS_SOURCE)

    first = project.cli("fetch")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stderr, first.stderr
    blocks = source_lines(first.stdout)
    assert blocks["faults"][0].startswith("faults: 2 new, 0 skipped, 8 failed"), blocks
    problems = blocks["faults"][1:]
    for slug, (_, reason) in ARTICLE_FAULTS.items():
        url = f"https://faults.example/{slug}.html"
        [line] = [p for p in problems if p.startswith(url + ": ")]
        assert reason in line and line.endswith("; will retry next run"), line
    assert any(
        p.startswith("https://faults.example/gone.html: HTTP 410") and "gone" in p for p in problems
    )
    for slug in RETRIED:
        assert server.hits(f"/faults.example/{slug}.html") == 2, slug
    assert server.hits("/faults.example/too-many.html") == 1

    # The real Vietnamese page served under a wrong charset header is not mojibake.
    [charset_post] = [p for p in project.posts.iterdir() if "tap-trung-trien-khai" in p.name]
    text = charset_post.read_text(encoding="utf-8")
    assert "Cần Thơ" in text and "Cáº" not in text and "\ufffd" not in text
    [gzip_post] = [p for p in project.posts.iterdir() if "mo-rong-duong" in p.name]
    assert "Nguyễn Thị Định" in gzip_post.read_text(encoding="utf-8")

    before = project.snapshot()
    assert len(before) == 2
    second = project.cli("fetch")
    assert second.returncode == 1
    assert project.snapshot() == before
    # Failed entries are retried (the feed is read in full again); the gone page is not.
    assert source_lines(second.stdout)["faults"][0].startswith("faults: 0 new, 3 skipped, 7 failed")
    assert server.hits("/faults.example/busy.html") == 4
    assert server.hits("/faults.example/gone.html") == 1


def test_second_run_sends_validators_and_a_304_parses_nothing(project: Project) -> None:
    server = project.server
    server.routes["/vtcnews.vn/rss/tin-moi.rss"] = Response(GOOD_FEED, etag='"feed-v1"')
    configure(project, RSS_SOURCE)
    first = project.cli("fetch")
    assert first.returncode == 0, first.stdout + first.stderr
    before = project.snapshot()
    requests = len(server.requests)

    second = project.cli("fetch")
    assert second.returncode == 0, second.stdout
    assert project.snapshot() == before
    assert second.stdout.startswith("vtc-tin-moi: 0 new, 0 skipped, 0 failed")
    feed_requests = [h for p, h in server.requests[requests:] if p.endswith("tin-moi.rss")]
    assert [h.get("If-None-Match") for h in feed_requests] == ['"feed-v1"']
    # Only the feed was asked for: no article page, and robots.txt is kept a day in the state.
    assert {p for p, _ in server.requests[requests:]} == {"/vtcnews.vn/rss/tin-moi.rss"}


def test_failed_entry_is_retried_even_when_the_feed_would_answer_304(project: Project) -> None:
    server = project.server
    server.routes["/faults.example/rss.xml"] = Response(FAULTS_FEED, etag='"v1"', headers=RSS_TYPE)
    for slug in ("ok-gzip", "wrong-charset", "gone", *ARTICLE_FAULTS):
        server.routes[f"/faults.example/{slug}.html"] = Response(CANTHO_PAGE)
    server.routes["/faults.example/busy.html"] = Response(b"", 503)
    configure(project, FAULTS_SOURCE)
    assert project.cli("fetch").returncode == 1
    server.routes["/faults.example/busy.html"] = Response(VTC_PAGE)
    second = project.cli("fetch")
    assert second.returncode == 0, second.stdout
    assert second.stdout.startswith("faults: 1 new, 9 skipped, 0 failed")
    # Everything worked: the third run is a 304.
    third = project.cli("fetch")
    assert third.stdout.startswith("faults: 0 new, 0 skipped, 0 failed")
    feed = [h for p, h in server.requests if p == "/faults.example/rss.xml"]
    assert [h.get("If-None-Match") for h in feed] == [None, None, '"v1"']


def test_polling_floor_from_cache_control_skips_the_feed(project: Project) -> None:
    server = project.server
    server.routes["/vtcnews.vn/rss/tin-moi.rss"] = Response(
        GOOD_FEED, headers={"Cache-Control": "max-age=3600", **RSS_TYPE}
    )
    configure(project, RSS_SOURCE)
    assert project.cli("fetch").returncode == 0
    second = project.cli("fetch")
    assert second.returncode == 0
    assert "https://vtcnews.vn/rss/tin-moi.rss: not polled: not due until" in second.stdout
    assert server.hits("/vtcnews.vn/rss/tin-moi.rss") == 1


def test_failing_source_backs_off_across_runs_but_is_never_given_up(project: Project) -> None:
    server = project.server
    feed = "/vtcnews.vn/rss/tin-moi.rss"
    good = server.routes[feed]
    server.routes[feed] = Response(b"", 503)
    configure(project, RSS_SOURCE, "  source_backoff: 600\n  source_backoff_max: 600\n")
    first = project.cli("fetch")
    assert first.returncode == 1
    assert "vtc-tin-moi: failed: https://vtcnews.vn/rss/tin-moi.rss: HTTP 503" in first.stdout
    hits = server.hits(feed)

    second = project.cli("fetch")
    assert second.returncode == 0, second.stdout
    assert "https://vtcnews.vn/rss/tin-moi.rss: not polled: backing off until" in second.stdout
    assert "after 1 failed run(s) in a row (last error: HTTP 503)" in second.stdout
    assert server.hits(feed) == hits

    db = sqlite3.connect(project.path / ".aggregator" / "state.sqlite3")
    failures, last_error = db.execute(
        "SELECT failures, last_error FROM sources WHERE name = 'vtc-tin-moi'"
    ).fetchone()
    assert failures == 1 and "HTTP 503" in last_error
    # Ten minutes pass (the state's clock is moved back, not the test's): polled again.
    with db:
        db.execute("UPDATE source_backoff SET until = '2000-01-01T00:00:00+00:00'")
    db.close()

    server.routes[feed] = good
    third = project.cli("fetch")
    assert third.returncode == 0, third.stdout
    assert third.stdout.startswith("vtc-tin-moi: 3 new")
    db = sqlite3.connect(project.path / ".aggregator" / "state.sqlite3")
    assert db.execute("SELECT count(*) FROM source_backoff").fetchone()[0] == 0
    db.close()


@pytest.mark.parametrize("robots", [True, False])
def test_robots_txt_disallow_is_reported_per_entry(project: Project, robots: bool) -> None:
    server = project.server
    server.routes["/vtcnews.vn/robots.txt"] = Response(
        b"User-agent: *\nDisallow: /mo-rong-duong\n", headers={"Content-Type": "text/plain"}
    )
    configure(project, RSS_SOURCE, "" if robots else "  robots_txt: false\n")
    result = project.cli("fetch")
    path = next(p for p in server.routes if p.startswith("/vtcnews.vn/mo-rong-duong"))
    if robots:
        # Refused for good, not retried run after run: posted from the feed alone at once.
        assert result.returncode == 0, result.stdout
        assert "mo-rong-duong" in result.stdout and "disallowed by robots.txt" in result.stdout
        assert "posting from the feed alone" in result.stdout
        assert server.hits(path) == 0
        assert "3 new" in result.stdout and len(list(project.posts.glob("*.md"))) == 3
        again = project.cli("fetch")
        assert again.returncode == 0 and "0 new" in again.stdout
        assert server.hits(path) == 0
    else:
        assert result.returncode == 0, result.stdout
        assert server.hits(path) == 1


def test_state_file_from_before_the_fetch_tables_gains_them(project: Project) -> None:
    configure(project, RSS_SOURCE)
    state = project.path / ".aggregator" / "state.sqlite3"
    assert project.cli("fetch").returncode == 0
    db = sqlite3.connect(state)
    db.execute("DROP TABLE http_cache")
    db.execute("DROP TABLE source_backoff")
    db.commit()
    db.close()
    assert project.cli("fetch").returncode == 0
    db = sqlite3.connect(state)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"http_cache", "source_backoff", "entries"} <= tables
    db.close()
