"""Sitemap sources: hand-made indexes and Google News sitemaps, gzipped or not -> entries."""

from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aggregator.config import Source
from aggregator.errors import FeedError
from aggregator.fetch import Fetcher
from aggregator.sources import SourceDocuments, parse_sitemap, read_source
from tests.conftest import DATA
from tests.server import Response, TestServer

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
INDEX = (DATA / "handmade" / "sitemap-index.xml").read_bytes()
NEWS = (DATA / "handmade" / "sitemap-news-2026-01.xml").read_bytes()
NOW = datetime(2026, 1, 9, 8, 0, tzinfo=TZ)
A196670 = (
    "https://baocantho.com.vn/tap-trung-trien-khai-cac-dot-thanh-tra-kiem-tra-co-trong-tam-trong"
    "-diem-nhat-la-cac-linh-vuc-co-ng-a196670.html?utm_source=sitemap&utm_medium=xml"
)


def test_news_sitemap_entries_newest_first_with_news_fields() -> None:
    sitemap = parse_sitemap(NEWS, "https://baocantho.com.vn/s.xml", "bct", tz=TZ, now=NOW)
    assert sitemap.sitemaps == []
    first, second = sitemap.entries
    assert first.url == A196670
    assert first.title.startswith("Tập trung triển khai các đợt thanh tra")
    assert first.published == datetime(2026, 1, 8, 18, 21, tzinfo=TZ)
    assert second.title == "Ông Nguyễn Tuấn Anh dự hội nghị Ban Chấp hành Đảng bộ xã Hòa An"
    assert second.image is not None and second.image.endswith("/1767871024.webp")


def test_plain_urlset_with_lastmod_dates_and_relative_locs() -> None:
    body = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>/a-1.html</loc><lastmod>2025-06-01</lastmod></url>"
        b"<url><loc>https://x.vn/b-2.html</loc><lastmod>2025-06-02T08:00:00Z</lastmod></url>"
        b"<url><loc>javascript:alert(1)</loc></url><url><lastmod>2025-06-03</lastmod></url>"
        b"</urlset>"
    )
    entries = parse_sitemap(body, "https://x.vn/sitemap.xml", "x", tz=TZ, now=NOW).entries
    assert [e.url for e in entries] == ["https://x.vn/b-2.html", "https://x.vn/a-1.html"]
    # A plain date (no time) is read in the configured zone.
    assert entries[1].published == datetime(2025, 6, 1, tzinfo=TZ)


def test_gzipped_sitemap_reads_the_same() -> None:
    url = "https://baocantho.com.vn/s.xml.gz"
    plain = parse_sitemap(NEWS, url, "bct", tz=TZ, now=NOW)
    zipped = parse_sitemap(gzip.compress(NEWS), url, "bct", tz=TZ, now=NOW)
    assert zipped == plain


def test_index_lists_children_newest_first() -> None:
    sitemap = parse_sitemap(INDEX, "https://baocantho.com.vn/i.xml", "bct", tz=TZ, now=NOW)
    assert sitemap.entries == []
    assert [child.url.rsplit("/", 1)[-1] for child in sitemap.sitemaps] == [
        "news-2026-01.xml.gz",
        "news-2020-01.xml.gz",
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Not found</body></html>",
        b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>",
        b"\x1f\x8b\x08\x00garbage",
        b"",
    ],
)
def test_not_a_sitemap_is_a_feed_error(body: bytes) -> None:
    with pytest.raises(FeedError, match=r"https://example\.vn/s\.xml"):
        parse_sitemap(body, "https://example.vn/s.xml", "x", tz=TZ)


def test_malformed_locations_are_dropped_and_out_of_range_dates_are_no_date() -> None:
    # Hand-made: a sitemap and an index with malformed <loc>s and dates out of range.
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        b' xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
        b"<url><loc>http://[oops/x</loc><lastmod>2026-01-08</lastmod></url>"
        b"<url><loc>http://example.vn:99999/x</loc><lastmod>2026-01-08</lastmod></url>"
        b"<url><loc>https://example.vn/far</loc><lastmod>9999-12-31T23:00:00Z</lastmod></url>"
        b"<url><loc>https://example.vn/old</loc><lastmod>0001-01-01T00:00:00+07:00</lastmod></url>"
        b"<url><loc>https://example.vn/ok</loc><lastmod>2026-01-08T10:00:00+07:00</lastmod>"
        b"<image:image><image:loc>http://[oops/i.jpg</image:loc></image:image></url></urlset>"
    )
    entries = parse_sitemap(urlset, "https://example.vn/s.xml", "x", tz=TZ, now=NOW).entries
    assert [(e.url, e.published, e.image) for e in entries] == [
        ("https://example.vn/ok", datetime(2026, 1, 8, 10, tzinfo=TZ), None),
        ("https://example.vn/far", None, None),
        ("https://example.vn/old", None, None),
    ]
    index = (
        b'<?xml version="1.0"?><sitemapindex><sitemap><loc>http://[oops/s.xml</loc></sitemap>'
        b"<sitemap><loc>https://example.vn/s2.xml</loc><lastmod>0001-01-01</lastmod></sitemap>"
        b"</sitemapindex>"
    )
    children = parse_sitemap(index, "https://example.vn/i.xml", "x", tz=TZ, now=NOW).sitemaps
    assert [(c.url, c.lastmod) for c in children] == [("https://example.vn/s2.xml", None)]


def test_entity_declarations_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><urlset><url><loc>&b;</loc></url></urlset>'
    )
    with pytest.raises(FeedError, match="entities"):
        parse_sitemap(bomb, "https://example.vn/s.xml", "x", tz=TZ)


def _read(server: TestServer, max_age: timedelta | None) -> SourceDocuments:
    source = Source(name="bct", type="sitemap", url=server.url("/sitemaps/index.xml"))

    async def read() -> SourceDocuments:
        async with Fetcher(user_agent="test", allow_private_networks=True) as fetcher:
            first = await fetcher.get(source.url)
            return await read_source(source, first, fetcher.get, tz=TZ, now=NOW, max_age=max_age)

    return asyncio.run(read())


@pytest.fixture
def sitemap_server():
    server = TestServer()
    index = INDEX.replace(b"https://baocantho.com.vn/", server.url("/").encode())
    server.routes["/sitemaps/index.xml"] = Response(index, headers={"Content-Type": "text/xml"})
    server.routes["/sitemaps/news-2026-01.xml.gz"] = Response(
        gzip.compress(NEWS), headers={"Content-Type": "application/gzip"}
    )
    server.start()
    yield server
    server.stop()


def test_index_recursion_bounded_by_age(sitemap_server: TestServer) -> None:
    found = _read(sitemap_server, timedelta(days=2))
    assert found.entries[0].url == A196670
    assert len(found.entries) == 2
    # The old child sitemap is not even downloaded.
    assert sitemap_server.hits("/sitemaps/news-2020-01.xml.gz") == 0
    assert sitemap_server.hits("/sitemaps/news-2026-01.xml.gz") == 1
    assert not found.problems
    # Entries older than max_age are left out too (17:00 is before the 17:30 cut-off).
    recent = _read(sitemap_server, timedelta(hours=14, minutes=30))
    assert [entry.url for entry in recent.entries] == [A196670]


def test_failed_child_sitemap_is_a_problem_not_a_failure(sitemap_server: TestServer) -> None:
    found = _read(sitemap_server, timedelta(days=36500))
    # Everything is young enough now: the old child is fetched, answers 404, and is reported.
    assert sitemap_server.hits("/sitemaps/news-2020-01.xml.gz") == 1
    assert len(found.problems) == 1
    assert "news-2020-01.xml.gz" in found.problems[0] and "404" in found.problems[0]
    assert len(found.entries) == 2
