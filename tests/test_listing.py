"""Listing sources: real saved category pages and hand-made paged listings -> entries."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config import ListingRules, Source, parse_config
from aggregator.errors import ConfigError, FeedError
from aggregator.fetch import Fetcher
from aggregator.sources import parse_listing, read_source
from aggregator.urls import canonical_url
from tests.conftest import DATA, read_page
from tests.server import Response, TestServer

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LISTINGS = DATA / "listings"
HANDMADE = DATA / "handmade"
BAOCANTHO = "https://baocantho.com.vn/thoi-su/"
VTC = "https://vtcnews.vn/tin-moi-hom-nay.html"
BAOQUANGTRI = "https://baoquangtri.vn/thoi-su/"
DOCUMENTED = (
    "https://baoquangtri.vn/quyen-chu-tich-ubnd-tinh-ha-sy-dong-tham-trung-tam-phuc-vu-hanh-chinh"
    "-cong-tinh-cong-ty-co-phan-nuoc-sach-quang-tri-191475.htm"
)
STORY_RULES = ListingRules(
    item="article.story",
    link="a.title::attr(href), a.thumb::attr(href)",
    title="a.title::text",
    date=".time::text",
    image="img::attr(data-src)",
    include=r"-\d+\.htm$",
    pages=3,
)


def _baocantho() -> bytes:
    return (LISTINGS / "baocantho.com.vn" / "thoi-su.html").read_bytes()


def test_real_category_page_links_resolved_collapsed_and_kept_on_site() -> None:
    rules = ListingRules(link="#colcate1 a::attr(href)", include=r"-a\d+\.html$")
    page = parse_listing(_baocantho(), BAOCANTHO, "bct", rules, tz=TZ)
    urls = [entry.url for entry in page.entries]
    # The top story is linked from its picture and its headline: one entry, titled by the link.
    assert urls[0].endswith("-a196670.html")
    assert page.entries[0].title.startswith("Tập trung triển khai các đợt thanh tra")
    assert len(urls) == len({canonical_url(url) for url in urls})
    assert all(url.startswith("https://baocantho.com.vn/") for url in urls)
    assert all(entry.id == canonical_url(entry.url) for entry in page.entries)
    # Every distinct article link in the column, and nothing else (the RSS and category links).
    assert len(urls) >= 12
    assert not [url for url in urls if url.endswith("/thoi-su/") or "/rss/" in url]
    assert page.next_url is None


def test_real_listing_items_give_title_date_and_image() -> None:
    rules = ListingRules(
        item="section.list-articles article",
        link="h3 a::attr(href)",
        title="h3 a::text",
        date=".time-update::text",
        image="img::attr(data-src)",
    )
    body = read_page(LISTINGS / "vtcnews.vn" / "latest.html.gz")
    entries = parse_listing(body, VTC, "vtc", rules, tz=TZ).entries
    assert len(entries) >= 10
    first = entries[0]
    assert first.url == (
        "https://vtcnews.vn/nhieu-nguoi-bi-lua-dao-bong-dung-thanh-giam-doc-cong-ty-ma-ar994748.html"
    )
    assert first.title == "Nhiều người bị lừa đảo, bỗng dưng thành giám đốc công ty 'ma'"
    assert first.published == datetime(2025, 12, 24, 10, 15, tzinfo=TZ)
    assert first.image is not None and first.image.startswith("https://cdn-i.vtcnews.vn/")
    assert all(entry.published is not None for entry in entries)
    assert len({entry.id for entry in entries}) == len(entries)


def test_handmade_listing_relative_links_tracking_and_other_sites() -> None:
    body = (HANDMADE / "baoquangtri-thoi-su-1.html").read_bytes()
    page = parse_listing(body, BAOQUANGTRI, "bqt", STORY_RULES, tz=TZ)
    assert len(page.entries) == 1, page.entries  # the Facebook item and menu links are left out
    entry = page.entries[0]
    assert canonical_url(entry.url) == DOCUMENTED
    assert entry.published == datetime(2025, 2, 4, 14, 0, tzinfo=TZ)
    assert entry.image == "https://baoquangtri.vn/dataimages/202502/thumb/images2505106_anh_1.jpg"
    assert page.next_url == "https://baoquangtri.vn/thoi-su/?trang=2"


def test_other_sites_allowed_when_the_rules_say_so() -> None:
    body = (HANDMADE / "baoquangtri-thoi-su-1.html").read_bytes()
    rules = STORY_RULES.model_copy(update={"include": None, "other_sites": True})
    urls = [e.url for e in parse_listing(body, BAOQUANGTRI, "bqt", rules, tz=TZ).entries]
    assert "https://www.facebook.com/baoquangtri" in urls


def test_not_html_is_a_feed_error() -> None:
    with pytest.raises(FeedError, match="not an HTML page"):
        parse_listing(b'{"items": []}', BAOQUANGTRI, "bqt", STORY_RULES, tz=TZ)


def test_malformed_links_base_and_next_page_are_dropped_not_raised() -> None:
    # Hand-made: a listing whose <base>, links, pictures and next link are malformed URLs.
    body = (
        b'<html><head><base href="http://[x/"></head><body>'
        b'<a class="x" href="http://[oops/x">Bad bracket</a>'
        b'<a class="x" href="http://e.com:99999/x">Bad port</a>'
        b'<a class="x" href="https://e.com:abc/x">Bad port name</a>'
        b'<article><a class="x" href="/tin/good-story-1.htm">Good story</a>'
        b'<img src="http://[oops/i.jpg"></article>'
        b'<a rel="next" href="http://[oops/page-2">Next</a></body></html>'
    )
    rules = ListingRules(link="a.x", image="img::attr(src)", other_sites=True)
    page = parse_listing(body, "https://e.com/tin/", "e", rules, tz=TZ)
    assert [(e.url, e.title, e.image) for e in page.entries] == [
        ("https://e.com/tin/good-story-1.htm", "Good story", None)
    ]
    assert page.next_url is None


def test_next_pages_are_followed_up_to_the_limit_without_loops() -> None:
    server = TestServer()
    server.routes["/thoi-su/"] = Response((HANDMADE / "baoquangtri-thoi-su-1.html").read_bytes())
    server.routes["/thoi-su/?trang=2"] = Response(
        (HANDMADE / "baoquangtri-thoi-su-2.html").read_bytes()
    )
    server.start()
    try:
        url = server.url("/thoi-su/")
        source = Source(name="bqt", type="listing", url=url, listing=STORY_RULES)
        one_page = Source(
            name="bqt", type="listing", url=url, listing=STORY_RULES.model_copy(update={"pages": 1})
        )

        async def read(src: Source) -> list[str]:
            async with Fetcher(user_agent="test", allow_private_networks=True) as fetcher:
                first = await fetcher.get(src.url)
                found = await read_source(src, first, fetcher.get, tz=TZ)
            assert not found.problems
            return [entry.url.rsplit("/", 1)[-1] for entry in found.entries]

        assert asyncio.run(read(one_page)) == [
            DOCUMENTED.rsplit("/", 1)[-1] + "#binh-luan",
        ]
        names = asyncio.run(read(source))
        assert names[1] == "day-nhanh-du-an-mo-rong-duong-nguyen-thi-dinh-191500.htm"
        assert len(names) == 2
        # Page 2's "next" leads back to page 1, which is not read twice.
        assert server.hits("/thoi-su/") == 2  # one per run
        assert server.hits("/thoi-su/?trang=2") == 1
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("source", "key", "message"),
    [
        ("{name: l, type: listing, url: 'https://a.vn/'}", None, "needs a 'listing:' block"),
        (
            "{name: l, type: feed, url: 'https://a.vn/rss', listing: {link: a}}",
            None,
            "only for type 'listing'",
        ),
        (
            "{name: l, type: listing, url: 'https://a.vn/', listing: {link: a, include: '(x'}}",
            "listing.include",
            "invalid regular expression",
        ),
        (
            "{name: l, type: listing, url: 'https://a.vn/', listing: {link: 'a[', pages: 2}}",
            "listing.link",
            "invalid CSS selector",
        ),
        (
            "{name: l, type: listing, url: 'https://a.vn/', listing: {link: a, pages: 0}}",
            "listing.pages",
            "greater than or equal to 1",
        ),
    ],
)
def test_listing_config_errors_name_source_and_key(
    tmp_path: Path, source: str, key: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(f"sources:\n  - {source}\n", tmp_path / "sources.yaml")
    text = str(error.value)
    assert "source 'l'" in text and message in text
    assert (f"key '{key}'" in text) if key else ("key '" not in text)
