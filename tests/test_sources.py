"""Source parsers: bytes in, entries out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.errors import FeedError
from aggregator.sources import parse_feed, parse_google_alerts
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
