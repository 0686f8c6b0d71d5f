"""Feed entries: thumbnails from media:thumbnail/media:content/enclosure/<img>, plain summaries."""

from __future__ import annotations

from aggregator.sources import parse_feed
from tests.conftest import DATA

FEED = (DATA / "handmade" / "feed-thumbnails.xml").read_bytes()


def test_thumbnails_from_every_place_a_feed_puts_them() -> None:
    entries = parse_feed(FEED, "https://baocantho.com.vn/rss/home.rss", "bct")
    assert [entry.image for entry in entries] == [
        "https://baocantho.com.vn/image/thumb-1.jpg",
        "https://baocantho.com.vn/image/anh-2.jpg",  # the video is not a thumbnail
        "https://baocantho.com.vn/image/anh-3.png",
        "https://baocantho.com.vn/image/anh-4.webp",  # relative, resolved
        None,  # a javascript: "image" is no image
    ]


def test_summaries_are_plain_text() -> None:
    entries = parse_feed(FEED, "https://baocantho.com.vn/rss/home.rss", "bct")
    assert entries[0].summary == "Tóm tắt đậm & liên kết Đoạn hai."
    assert entries[3].summary == "Tóm tắt bài bốn."
    assert entries[4].summary == "Chỉ có chữ."
