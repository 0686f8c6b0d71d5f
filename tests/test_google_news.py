"""Google News feeds: publisher split off, links decoded offline where Google's id allows."""

from __future__ import annotations

import base64

import pytest

from aggregator.sources import parse_feed, parse_google_news
from aggregator.sources.google_news import decode_google_news_url, split_publisher
from tests.conftest import DATA

FEEDS = DATA / "feeds"
SEARCH_URL = "https://news.google.com/rss/search?q=TCS&hl=en-IN&gl=IN&ceid=IN:en"
VNEXPRESS = (
    "https://vnexpress.net/dau-bung-keo-dai-phat-hien-ung-thu-lymphoma-ruot-non-4954454.html"
)


def test_real_search_feed_opaque_links_keep_google_link_and_publisher() -> None:
    body = (FEEDS / "google-news-search-tcs-en-IN.xml").read_bytes()
    entries = parse_google_news(body, SEARCH_URL, "tcs")
    assert len(entries) == len(parse_feed(body, SEARCH_URL, "tcs")) > 50
    first = entries[0]
    assert first.title == (
        "TCS arm HyperVault to invest ₹70,000 crore in 1 GW AI data centre campus in Hyderabad"
    )
    assert first.publisher == "ET Manufacturing"
    # The newer ids cannot be read offline: the working Google link stays, and no page is fetched.
    assert first.url.startswith("https://news.google.com/rss/articles/CBMi")
    assert not first.article_page
    assert all(not e.article_page and e.publisher for e in entries)
    assert not [e for e in entries if e.title.endswith(f" - {e.publisher}")]


def test_real_top_stories_feed_links_decode_to_the_publisher() -> None:
    body = (FEEDS / "google-news-top-stories-ja.prettified.xml").read_bytes()
    entries = parse_google_news(body, "https://news.google.com/rss?hl=ja", "ja")
    first = entries[0]
    assert first.url == "https://www.asahi.com/articles/ASS256HGVS24UTIL00X.html"
    assert first.publisher == "朝日新聞デジタル"
    assert first.article_page
    decoded = [e for e in entries if e.article_page]
    assert not [e for e in decoded if "news.google.com" in e.url]
    # One item is a video: its id (CCAi...) holds a video id, not a URL; the Google link stays.
    (video,) = [e for e in entries if not e.article_page]
    assert video.url.startswith("https://news.google.com/rss/articles/CCAi")
    assert len(decoded) == len(entries) - 1 == 29


def test_handmade_vietnamese_feed() -> None:
    body = (DATA / "handmade" / "google-news-dich-vu-cong.xml").read_bytes()
    entries = parse_google_news(body, "https://news.google.com/rss/search?q=x", "gn")
    assert [e.publisher for e in entries] == ["Báo Cần Thơ", "Báo Quảng Trị", "VnExpress"]
    assert entries[0].title == "Cần Thơ đưa vào sử dụng cổng dịch vụ công mới cho người dân"
    # The description only repeats the headline and publisher: no summary.
    assert entries[0].summary == ""
    assert entries[2].url == VNEXPRESS
    assert [e.article_page for e in entries] == [False, False, True]


def _old_form(url: str) -> str:
    data = b"\x08\x13\x22" + bytes([len(url)]) + url.encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://news.google.com/rss/articles/{_old_form(VNEXPRESS)}?oc=5", VNEXPRESS),
        (f"https://news.google.com/articles/{_old_form(VNEXPRESS)}", VNEXPRESS),
        # The form from a public decoder's README: URL plus its AMP variant.
        (
            "https://news.google.com/rss/articles/CBMiLmh0dHBzOi8vd3d3LmJiYy5jb20vbmV3cy9hcnRpY2xlcy9"
            "jampqbnhkdjE4OG_SATJodHRwczovL3d3dy5iYmMuY29tL25ld3MvYXJ0aWNsZXMvY2pqam54ZHYxODhvLmFtcA",
            "https://www.bbc.com/news/articles/cjjjnxdv188o",
        ),
        ("https://news.google.com/rss/articles/CBMiVkFVX3lxTE4zaGU2bTY2ZGkzdTRkSkJ0?oc=5", None),
        ("https://news.google.com/rss/articles/!!notbase64!!", None),
        ("https://news.google.com/rss/articles/CBMi", None),
        ("https://vnexpress.net/rss/articles/" + _old_form(VNEXPRESS), None),
        (f"https://news.google.com/rss/articles/{_old_form('javascript:alert(1)')}", None),
    ],
)
def test_decode_google_news_url(url: str, expected: str | None) -> None:
    assert decode_google_news_url(url) == expected


@pytest.mark.parametrize(
    ("title", "source", "expected"),
    [
        ("Tin A - Báo Cần Thơ", "Báo Cần Thơ", ("Tin A", "Báo Cần Thơ")),
        ("Tin A - B - VnExpress", None, ("Tin A - B", "VnExpress")),
        ("Tin không có nguồn", None, ("Tin không có nguồn", None)),
        ("Tin A", "VnExpress", ("Tin A", "VnExpress")),
    ],
)
def test_split_publisher(title: str, source: str | None, expected: tuple[str, str | None]) -> None:
    assert split_publisher(title, source) == expected
