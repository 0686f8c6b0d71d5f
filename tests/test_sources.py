"""Source parsers: bytes in, entries out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aggregator.errors import FeedError
from aggregator.sources import parse_feed, parse_google_alerts, parse_google_news
from aggregator.sources.google_alerts import unwrap_google_url
from tests.conftest import DATA, DOCUMENTED_URL

ALERTS = (DATA / "handmade" / "google-alerts-cong-dich-vu-cong.xml").read_bytes()
RSS = (DATA / "handmade" / "provincial-rss.xml").read_bytes()


def test_google_alerts_entries_are_unwrapped_and_plain_text() -> None:
    entries = parse_google_alerts(ALERTS, "https://www.google.com/alerts/feeds/1/2", "alerts")
    assert [e.url for e in entries][1] == DOCUMENTED_URL
    entry = entries[1]
    assert entry.id == "tag:google.com,2013:googlealerts/feed:1542277398212839407"
    assert entry.title == "Quyền Chủ tịch UBND tỉnh Hà Sỹ Đồng thăm Trung tâm Phục vụ ..."
    # <b> dropped, &nbsp; kept as a no-break space, as Google wrote it.
    assert entry.summary.startswith("Năm 2024, Trung tâm Phục vụ hành chính công tỉnh")
    assert entry.summary.endswith("số hóa hồ sơ,\u00a0...")
    assert entry.published == datetime(2025, 2, 4, 8, 12, 30, tzinfo=UTC)
    assert "<b>" not in entries[0].summary


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.google.com/url?rct=j&sa=t&url=https://a.vn/x.htm&ct=ga",
            "https://a.vn/x.htm",
        ),
        ("https://www.google.com/url?q=https://a.vn/y%3Fz%3D1&sa=U", "https://a.vn/y?z=1"),
        (
            "https://www.google.com/url?url=javascript:alert(1)",
            "https://www.google.com/url?url=javascript:alert(1)",
        ),
        ("https://a.vn/url?url=https://b.vn/", "https://a.vn/url?url=https://b.vn/"),
    ],
)
def test_unwrap_google_url(url: str, expected: str) -> None:
    assert unwrap_google_url(url) == expected


def test_rss_entries() -> None:
    entries = parse_feed(RSS, "https://vtcnews.vn/rss/tin-moi.rss", "vtc")
    assert len(entries) == 3
    first = entries[0]
    assert first.id == "ar994669"
    assert first.summary.startswith("Sau 8 tháng khởi công")
    assert first.published == datetime(2025, 12, 24, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body><p>Trang chu</p></body></html>", b"<rss><channel><item>", b"\x00\xff\xfe"],
)
def test_not_a_feed_is_a_feed_error(body: bytes) -> None:
    with pytest.raises(FeedError) as info:
        parse_feed(body, "https://x.vn/rss", "x")
    assert "https://x.vn/rss" in str(info.value)


# Hand-made feeds below (inline): the shapes that broke parsing, each in a few lines.

EMPTY_RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<link>https://e.vn/</link><description>d</description></channel></rss>"
)
# An alert with nothing new: Google serves the feed with no <entry>.
EMPTY_ALERTS = (
    b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
    b"<id>tag:google.com,2005:reference:feed:1</id><title>Google Alert - x</title>"
    b'<link href="https://www.google.com/alerts/feeds/1/2" rel="self"></link>'
    b"<updated>2026-01-05T01:00:00Z</updated></feed>"
)
PARSERS = [parse_feed, parse_google_alerts, parse_google_news]


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + "".join(f"<item>{item}</item>" for item in items)
        + "</channel></rss>"
    ).encode()


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("body", [EMPTY_RSS, EMPTY_ALERTS], ids=["rss", "atom"])
@pytest.mark.parametrize(
    "content_type", [None, "application/atom+xml; charset=utf-8", "text/xml", "text/html"]
)
def test_an_empty_feed_has_no_entries(parse: Any, body: bytes, content_type: str | None) -> None:
    assert (
        parse(body, "https://www.google.com/alerts/feeds/1/2", "s", content_type=content_type) == []
    )


@pytest.mark.parametrize("parse", PARSERS)
def test_an_html_page_is_still_not_a_feed_with_its_content_type(parse: Any) -> None:
    page = b"<!DOCTYPE html><html><head><title>Trang chu</title></head><body><p>x</p></body></html>"
    with pytest.raises(FeedError, match="an HTML page"):
        parse(page, "https://x.vn/rss", "x", content_type="text/html; charset=utf-8")


@pytest.mark.parametrize("parse", PARSERS)
def test_items_with_malformed_links_are_dropped_and_bad_images_ignored(parse: Any) -> None:
    bad = ["http://[oops/x", "http://e.vn:99999/x", "https://e.vn:abc/", "javascript:alert(1)"]
    items = [f"<title>Bad {n}</title><link>{link}</link>" for n, link in enumerate(bad)]
    items.append(
        '<title>Good</title><link>https://e.vn/good-story.html</link><description>&lt;img src="'
        'http://[oops/i.jpg"&gt; text</description>'
    )
    [entry] = parse(_rss(*items), "https://e.vn/rss", "s")
    assert entry.url == "https://e.vn/good-story.html"
    assert entry.image is None


@pytest.mark.parametrize("parse", PARSERS)
def test_a_feed_whose_items_all_lack_a_valid_link_fails_saying_so(parse: Any) -> None:
    body = _rss("<title>No link</title>", "<title>Bad</title><link>http://[oops/x</link>")
    with pytest.raises(FeedError, match="none of the feed's 2 items has a valid http"):
        parse(body, "https://e.vn/rss", "s")


@pytest.mark.parametrize("parse", PARSERS)
def test_out_of_range_feed_dates_count_as_no_date(parse: Any) -> None:
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    dates = {
        "far": "Fri, 31 Dec 9999 23:00:00 +0000",
        "tomorrow-and-more": "Wed, 07 Jan 2026 12:00:00 +0000",
        "before-1900": "Mon, 01 Jan 1800 00:00:00 +0000",
        "hours-ahead": "Mon, 05 Jan 2026 20:00:00 +0000",  # local time written as GMT
        "past": "Mon, 05 Jan 2026 08:00:00 +0700",
    }
    body = _rss(
        *(
            f"<title>{name}</title><link>https://e.vn/{name}</link><pubDate>{date}</pubDate>"
            for name, date in dates.items()
        )
    )
    published = {
        e.url.rsplit("/", 1)[1]: e.published for e in parse(body, "https://e.vn/", "s", now=now)
    }
    assert published == {
        "far": None,
        "tomorrow-and-more": None,
        "before-1900": None,
        "hours-ahead": datetime(2026, 1, 5, 20, tzinfo=UTC),
        "past": datetime(2026, 1, 5, 1, tzinfo=UTC),
    }
