"""One story, one post: URL canonicalization, SimHash near-duplicates, and the pipeline's dedup
(same article via two sources, later topics as tags, GUID/URL changes, syndicated copies), ending
with a run over every source type through the real CLI."""

from __future__ import annotations

import gzip
import html
import sqlite3

import frontmatter
import pytest

from aggregator.dedup import distance, fingerprint, same_story, simhash, title_key
from aggregator.extraction import extract
from aggregator.urls import canonical_url, same_site
from tests.conftest import (
    ALERTS_SOURCE,
    DATA,
    DOCUMENTED_URL,
    RSS_SOURCE,
    RSS_URL,
    Project,
    mirror_path,
    read_page,
)
from tests.server import Response

VTC = "https://vtcnews.vn/mo-rong-duong-hon-2-000-ty-dong-giai-cuu-ket-xe-o-cua-ngo-phia-dong-tp-hcm-ar994669.html"
A196670 = (
    "https://baocantho.com.vn/tap-trung-trien-khai-cac-dot-thanh-tra-kiem-tra-co-trong-tam-trong"
    "-diem-nhat-la-cac-linh-vuc-co-ng-a196670.html"
)
VNEXPRESS = (
    "https://vnexpress.net/dau-bung-keo-dai-phat-hien-ung-thu-lymphoma-ruot-non-4954454.html"
)
COPY_URL = "https://baoquangtri.vn/day-nhanh-du-an-mo-rong-duong-nguyen-thi-dinh-191500.htm"
HANDMADE = DATA / "handmade"
RSS_BYTES = (HANDMADE / "provincial-rss.xml").read_bytes()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://BaoCanTho.com.vn/a-1.html", "https://baocantho.com.vn/a-1.html"),
        ("https://baocantho.com.vn:443/a-1.html", "https://baocantho.com.vn/a-1.html"),
        ("http://baocantho.com.vn:80/a-1.html", "https://baocantho.com.vn/a-1.html"),
        ("https://baocantho.com.vn:8443/a-1.html", "https://baocantho.com.vn:8443/a-1.html"),
        ("https://baocantho.com.vn/a-1.html#binh-luan", "https://baocantho.com.vn/a-1.html"),
        (
            "https://vtcnews.vn/a-1.html?utm_source=fb&utm_medium=social&fbclid=x&gclid=y&id=3",
            "https://vtcnews.vn/a-1.html?id=3",
        ),
        ("https://vtcnews.vn/a-1.html?b=2&a=1", "https://vtcnews.vn/a-1.html?a=1&b=2"),
        ("https://vtcnews.vn/thoi-su/", "https://vtcnews.vn/thoi-su"),
        ("https://vtcnews.vn/", "https://vtcnews.vn/"),
        ("https://vtcnews.vn", "https://vtcnews.vn/"),
        ("https://m.vtcnews.vn/a-1.html", "https://vtcnews.vn/a-1.html"),
        ("https://www.vtcnews.vn/a-1.html", "https://vtcnews.vn/a-1.html"),
        ("https://amp.vnexpress.net/a-1.html", "https://vnexpress.net/a-1.html"),
        ("https://vnexpress.net/a-1.amp", "https://vnexpress.net/a-1"),
        ("https://vnexpress.net/amp/a-1.html", "https://vnexpress.net/a-1.html"),
        ("https://vnexpress.net/a-1.html/amp", "https://vnexpress.net/a-1.html"),
        ("https://vnexpress.net/a-1.html?amp=1", "https://vnexpress.net/a-1.html"),
        ("https://vnexpress.net/a-1.html?outputType=amp", "https://vnexpress.net/a-1.html"),
        ("https://m.vn/a-1.html", "https://m.vn/a-1.html"),  # a real domain is kept whole
        ("mailto:toasoan@baocantho.com.vn", "mailto:toasoan@baocantho.com.vn"),
        ("https://[bad/a", "https://[bad/a"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected


def test_same_site() -> None:
    assert same_site("https://baocantho.com.vn/a", "https://m.baocantho.com.vn/b")
    assert same_site("https://vnexpress.net/a", "https://e.vnexpress.net/b")
    assert not same_site("https://baocantho.com.vn/a", "https://baolaocai.vn/b")
    assert not same_site("https://a.com.vn/x", "https://b.com.vn/x")
    assert not same_site("https://127.0.0.1/a", "https://127.0.0.2/a")


def _vtc_blocks() -> tuple[str, list[str]]:
    article = extract(read_page(DATA / "articles" / "vtcnews.vn" / "sample_article.html.gz"), VTC)
    assert article.title is not None and len(article.blocks) >= 5
    return article.title, list(article.blocks)


def _syndicated(blocks: list[str]) -> list[str]:
    """The article as another site republishes it: a word changed, byline swapped for a credit."""
    return [blocks[0].replace("Dự án", "Công trình", 1), *blocks[1:-1], "Theo VTC News"]


def test_simhash_near_copy_is_close_and_other_stories_far() -> None:
    title, blocks = _vtc_blocks()
    original = fingerprint(title, "\n\n".join(blocks))
    copy = fingerprint(
        "Đẩy nhanh dự án mở rộng đường Nguyễn Thị Định", "\n\n".join(_syndicated(blocks))
    )
    assert original.simhash is not None and copy.simhash is not None
    assert distance(original.simhash, copy.simhash) <= 3
    assert same_story(original, copy) is not None
    other = extract((DATA / "articles" / "baocantho.com.vn" / "a196670.html").read_bytes(), A196670)
    unrelated = fingerprint(other.title or "", other.text)
    assert unrelated.simhash is not None and distance(original.simhash, unrelated.simhash) > 16
    assert same_story(original, unrelated) is None


def test_short_texts_have_no_simhash_and_titles_match_folded() -> None:
    assert simhash("Tin vắn hôm nay") is None
    assert title_key("Tin vắn") is None
    assert title_key("Quyền Chủ tịch UBND tỉnh thăm Trung tâm") == title_key(
        "QUYỀN CHỦ TỊCH UBND TỈNH THĂM TRUNG TÂM..."
    )
    short = fingerprint("Quyền Chủ tịch UBND tỉnh thăm Trung tâm Phục vụ", "")
    assert same_story(short, fingerprint("Quyền chủ tịch UBND tỉnh thăm trung tâm phục vụ", ""))


# Through the pipeline and the real CLI


def _rows(project: Project, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(project.path / ".aggregator" / "state.sqlite3") as db:
        return db.execute(sql).fetchall()


def _feed(project: Project, url: str, body: bytes) -> None:
    project.server.routes[mirror_path(url)] = Response(
        body, headers={"Content-Type": "application/rss+xml"}
    )


def _source(name: str, kind: str, url: str, extra: str = "") -> str:
    return f"  - name: {name}\n    type: {kind}\n    url: {url}\n{extra}"


def test_tracking_mobile_and_amp_variants_are_one_article(project: Project) -> None:
    variants_url = "https://baoquangtri.vn/rss/variants.rss"
    variants = (
        RSS_BYTES.replace(
            VTC.encode(),
            b"https://m.vtcnews.vn" + VTC[18:].encode() + b"?utm_source=fb&amp;fbclid=x#top",
        )
        .replace(A196670.encode(), b"http://BAOCANTHO.com.vn:80" + A196670[24:].encode() + b"/")
        .replace(
            VNEXPRESS.encode(), b"https://amp.vnexpress.net" + VNEXPRESS[21:].encode() + b"?amp=1"
        )
        .replace(b"<guid", b"<guid-old")
        .replace(b"</guid>", b"</guid-old>")
    )
    assert all(v in variants for v in (b"m.vtcnews.vn", b"BAOCANTHO.com.vn:80", b"amp.vnexpress"))
    _feed(project, variants_url, variants)
    project.write_config(RSS_SOURCE + _source("variants", "feed", variants_url))
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(project.posts.iterdir())) == 3
    assert result.stdout.splitlines()[1].startswith("variants: 0 new, 3 skipped, 0 failed")
    # The variants were recognized before any download (m.vtcnews.vn is not even served).
    assert not [p for p, _ in project.server.requests if "m.vtcnews" in p or "amp." in p]


def test_the_pages_canonical_link_joins_two_urls(project: Project) -> None:
    # A feed links the VTC article under an old URL that serves the same page, whose
    # <link rel="canonical"> names the URL the RSS source announces.
    old_url = "https://vtcnews.vn/tin-cu/mo-rong-duong-ar994669.html"
    project.server.routes[mirror_path(old_url)] = Response(
        read_page(DATA / "articles" / "vtcnews.vn" / "sample_article.html.gz")
    )
    feed = RSS_BYTES.replace(VTC.encode(), old_url.encode()).replace(
        b"ar994669</guid>", b"x</guid>"
    )
    _feed(project, "https://baoquangtri.vn/rss/old.rss", feed)
    project.write_config(
        _source("old-links", "feed", "https://baoquangtri.vn/rss/old.rss") + RSS_SOURCE
    )
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(project.posts.iterdir())) == 3
    assert (
        sum("giai-cuu" in p.name or "mo-rong-duong" in p.name for p in project.posts.iterdir()) == 1
    )
    assert project.cli("fetch").returncode == 0
    assert len(list(project.posts.iterdir())) == 3


def test_guid_change_with_the_same_url_is_recognized(project: Project) -> None:
    project.write_config(RSS_SOURCE)
    assert project.cli("fetch").returncode == 0
    before = project.snapshot()
    _feed(project, RSS_URL, RSS_BYTES.replace(b">ar994669</guid>", b">vtc-994669-v2</guid>"))
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.snapshot() == before
    assert result.stdout.splitlines()[0].startswith("vtc-tin-moi: 0 new, 3 skipped")


def test_url_change_with_the_same_guid_is_recognized(project: Project) -> None:
    project.write_config(RSS_SOURCE)
    assert project.cli("fetch").returncode == 0
    before = project.snapshot()
    moved = "https://vtcnews.vn/giao-thong/mo-rong-duong-nguyen-thi-dinh-ar994669.html"
    _feed(project, RSS_URL, RSS_BYTES.replace(VTC.encode(), moved.encode()))
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.snapshot() == before
    assert not [p for p, _ in project.server.requests if "giao-thong" in p]


def test_same_article_via_two_sources_is_one_post_with_later_topics_as_tags(
    project: Project,
) -> None:
    second = RSS_BYTES.replace(b"<guid", b"<x-guid").replace(b"</guid>", b"</x-guid>")
    _feed(project, "https://baoquangtri.vn/rss/thanh-tra.rss", second)
    project.write_config(
        ALERTS_SOURCE
        + RSS_SOURCE
        + _source("thanh-tra", "feed", "https://baoquangtri.vn/rss/thanh-tra.rss")
        + "    topic: Thanh tra\n"
    )
    assert project.cli("fetch").returncode == 0
    names = sorted(p.name for p in project.posts.iterdir())
    assert len(names) == 4, names
    post = frontmatter.load(next(project.posts.glob("*thanh-tra*")))
    # The first source's topic stays in the title; the later one is a tag.
    assert str(post["title"]).startswith(" [Cổng dịch vụ công] Tập trung triển khai")
    assert post["tags"] == ["Thanh tra"]
    # The RSS source had no topic: its posts found again by the topic source get the tag; the
    # post only the alert found has none.
    tags = {p.name: frontmatter.load(p).get("tags") for p in project.posts.iterdir()}
    assert sorted(map(str, tags.values())) == [
        "None",
        "['Thanh tra']",
        "['Thanh tra']",
        "['Thanh tra']",
    ]
    assert tags[next(n for n in names if "quyen-chu-tich" in n)] is None
    assert not list(project.posts.glob(".tmp-*"))
    before = project.snapshot()
    assert project.cli("fetch").returncode == 0
    assert project.snapshot() == before


def _copy_page(blocks: list[str]) -> bytes:
    paragraphs = "".join(f"<p>{html.escape(block)}</p>\n" for block in _syndicated(blocks))
    return f"""<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">
<title>Đẩy nhanh dự án mở rộng đường Nguyễn Thị Định ở TP.HCM</title>
<meta property="article:published_time" content="2025-12-24T10:00:00+07:00"></head>
<body><article><h1>Đẩy nhanh dự án mở rộng đường Nguyễn Thị Định ở TP.HCM</h1>
<div class="content">{paragraphs}</div></article></body></html>""".encode()


def _serve_listing_and_copy(project: Project) -> None:
    routes = project.server.routes
    routes[mirror_path("https://baoquangtri.vn/thoi-su/")] = Response(
        (HANDMADE / "baoquangtri-thoi-su-1.html").read_bytes()
    )
    routes[mirror_path("https://baoquangtri.vn/thoi-su/?trang=2")] = Response(
        (HANDMADE / "baoquangtri-thoi-su-2.html").read_bytes()
    )
    routes[mirror_path(COPY_URL)] = Response(_copy_page(_vtc_blocks()[1]))


LISTING_SOURCE = """  - name: baoquangtri-thoi-su
    type: listing
    url: https://baoquangtri.vn/thoi-su/
    topic: Quảng Trị
    listing:
      item: article.story
      link: "a.title::attr(href), a.thumb::attr(href)"
      title: "a.title::text"
      date: ".time::text"
      image: "img::attr(data-src)"
      include: '-\\d+\\.htm$'
      pages: 3
"""


def test_near_duplicate_across_sites_is_skipped_and_logged(project: Project) -> None:
    _serve_listing_and_copy(project)
    project.write_config(RSS_SOURCE + LISTING_SOURCE)
    result = project.cli("fetch", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(p.name for p in project.posts.iterdir())
    assert not [n for n in names if "day-nhanh" in n], names
    assert len(names) == 4  # the RSS feed's three and the documented article from the listing
    vtc_post = next(n for n in names if "giai-cuu" in n)
    decision = f"near-duplicate of {vtc_post} (simhash distance"
    assert decision in result.stdout
    rows = _rows(project, "SELECT status, last_error FROM entries WHERE url LIKE '%191500%'")
    assert len(rows) == 1 and rows[0][0] == "duplicate" and decision in str(rows[0][1])
    # The copy's site had a topic: the one post records it.
    assert frontmatter.load(project.posts / vtc_post)["tags"] == ["Quảng Trị"]
    assert project.server.hits(mirror_path(COPY_URL)) == 1
    second = project.cli("fetch")
    assert second.returncode == 0
    assert project.server.hits(mirror_path(COPY_URL)) == 1  # decided once, not fetched again


def test_every_source_type_in_one_run_writes_each_story_once(project: Project) -> None:
    _serve_listing_and_copy(project)
    routes = project.server.routes
    routes[mirror_path("https://baocantho.com.vn/thoi-su/")] = Response(
        (DATA / "listings" / "baocantho.com.vn" / "thoi-su.html").read_bytes()
    )
    routes[mirror_path("https://baocantho.com.vn/sitemaps/index.xml")] = Response(
        (HANDMADE / "sitemap-index.xml").read_bytes(), headers={"Content-Type": "text/xml"}
    )
    routes[mirror_path("https://baocantho.com.vn/sitemaps/news-2026-01.xml.gz")] = Response(
        gzip.compress((HANDMADE / "sitemap-news-2026-01.xml").read_bytes()),
        headers={"Content-Type": "application/gzip"},
    )
    # The index's old child, read too under this source's long max_age: an empty urlset.
    routes[mirror_path("https://baocantho.com.vn/sitemaps/news-2020-01.xml.gz")] = Response(
        gzip.compress(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>')
    )
    google_url = "https://baoquangtri.vn/google-news/dich-vu-cong.rss"
    _feed(project, google_url, (HANDMADE / "google-news-dich-vu-cong.xml").read_bytes())
    project.write_config(
        ALERTS_SOURCE
        + RSS_SOURCE
        + LISTING_SOURCE
        + _source("baocantho-thoi-su", "listing", "https://baocantho.com.vn/thoi-su/")
        + "    topic: Thời sự Cần Thơ\n"
        + "    listing:\n      link: '#topcate h2.h2cate a::attr(href)'\n"
        + _source("baocantho-sitemap", "sitemap", "https://baocantho.com.vn/sitemaps/index.xml")
        + "    max_age: 3650d\n    exclude: [Hoa An]\n"
        + _source("google-news", "google_news", google_url)
        + "    topic: Dịch vụ công\n"
    )
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cong-dich-vu-cong: 2 new, 0 skipped")
    assert lines[1].startswith("vtc-tin-moi: 2 new, 1 skipped")
    assert lines[2].startswith("baoquangtri-thoi-su: 0 new, 2 skipped")
    assert lines[3].startswith("baocantho-thoi-su: 0 new, 1 skipped")
    assert lines[4].startswith("baocantho-sitemap: 0 new, 2 skipped")
    assert lines[5].startswith("google-news: 1 new, 2 skipped")
    posts = {p.name: frontmatter.load(p) for p in project.posts.iterdir()}
    assert len(posts) == 5, sorted(posts)
    # One post per story, by URL and by headline.
    urls = [canonical_url(str(_first_link(p.content))) for p in posts.values()]
    assert len(set(urls)) == 5
    assert len({title_key(str(p["title"]).split("] ", 1)[-1]) for p in posts.values()}) == 5
    documented = next(p for n, p in posts.items() if "quyen-chu-tich" in n)
    assert documented["tags"] == ["Quảng Trị", "Dịch vụ công"]
    inspection = next(p for n, p in posts.items() if "thanh-tra" in n)
    assert inspection["tags"] == ["Thời sự Cần Thơ"]
    google_only = next(p for p in posts.values() if "Cần Thơ đưa vào sử dụng" in str(p["title"]))
    assert "news.google.com/rss/articles/" in google_only.content
    assert not [p for p, _ in project.server.requests if "google" in p and "/rss/articles" in p]
    assert DOCUMENTED_URL in documented.content
    before = project.snapshot()
    again = project.cli("fetch")
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.snapshot() == before
    assert again.stdout.splitlines()[-1].startswith("total: 0 new")


def _first_link(content: str) -> str:
    start = content.index("](") + 2
    return content[start : content.index(")", start)]


def test_one_guid_on_two_articles_posts_both_and_finishes(project: Project) -> None:
    _feed(project, RSS_URL, RSS_BYTES.replace(b">4954454</guid>", b">ar994669</guid>"))
    project.write_config(RSS_SOURCE)
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(project.posts.iterdir())) == 3


def test_failed_next_page_is_read_again_next_run(project: Project) -> None:
    _serve_listing_and_copy(project)
    routes = project.server.routes
    first_page = mirror_path("https://baoquangtri.vn/thoi-su/")
    second_page = mirror_path("https://baoquangtri.vn/thoi-su/?trang=2")
    page_one = routes[first_page]
    assert isinstance(page_one, Response)
    routes[first_page] = Response(page_one.body, etag='"p1"')
    page_two = routes[second_page]
    routes[second_page] = Response(b"busy", 503)
    project.write_config(LISTING_SOURCE)
    first = project.cli("fetch")
    assert "listing page 2" in first.stdout, first.stdout
    routes[second_page] = page_two
    # Page 1 has not changed, but it is read in full again (no 304) so that page 2 is too.
    second = project.cli("fetch")
    assert second.returncode == 0, second.stdout
    assert project.server.hits(second_page) >= 2
    assert sum("day-nhanh" in p.name for p in project.posts.iterdir()) == 1
