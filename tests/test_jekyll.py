"""The posts build into a real Jekyll site: hostile titles and bodies show literally, no source
markup reaches a page, Liquid in source text is never run. Needs Debian's `jekyll` (.ci/run
installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import frontmatter
import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from tests.conftest import ALERTS_SOURCE, DATA, RSS_SOURCE, Project, mirror_path
from tests.server import Response

HANDMADE = DATA / "handmade"
SITE = DATA / "jekyll-site"
HOSTILE_SOURCE = """  - name: hostile
    type: feed
    url: https://vtcnews.vn/rss/hostile.rss
    categories: [test]
"""
SITE_TITLE = "SITE-TITLE-MUST-NOT-APPEAR-IN-POSTS"
# Elements a post may contain: what kramdown makes of our Markdown, nothing a source could inject.
ALLOWED = {"p", "a", "img", "em", "strong", "code", "br", "hr", "blockquote", "ul", "ol", "li"}
# kramdown's typography (smart quotes, dashes, ellipsis) is presentation, not a change of text.
TYPOGRAPHY = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "…": "..."})


def _plain(text: str) -> str:
    """Text compared as a reader sees it: typography undone, whitespace collapsed."""
    text = text.translate(TYPOGRAPHY).replace("—", "---").replace("–", "--")
    return " ".join(text.split())


def _feed_items() -> list[tuple[str, str, str]]:
    """(link, title, description) of each hand-made hostile item, read without our code."""
    root = ET.parse(HANDMADE / "hostile-rss.xml").getroot()
    return [
        (item.findtext("link", ""), item.findtext("title", ""), item.findtext("description", ""))
        for item in root.iter("item")
    ]


def _page_texts() -> list[str]:
    """The headline, lead and paragraphs of the hand-made hostile article, as a reader sees them."""
    page = LexborHTMLParser((HANDMADE / "hostile-article.html").read_bytes())
    for hidden in page.css("script, iframe"):
        hidden.decompose()
    nodes = page.css("article h1, article p")
    return [node.text(deep=True, separator="") for node in nodes]


def _jekyll() -> str:
    jekyll = shutil.which("jekyll")
    if jekyll is None:
        pytest.fail(
            "jekyll is not installed: run `apt-get install jekyll` (Debian's package; .ci/run"
            " installs it) to build the test site"
        )
    return jekyll


@pytest.fixture
def built(project: Project, tmp_path: Path) -> tuple[Path, Path]:
    """(posts folder, built site) after a fetch of the real and hostile sources and a build."""
    jekyll = _jekyll()
    srv = project.server
    srv.routes["/vtcnews.vn/rss/hostile.rss"] = Response(
        (HANDMADE / "hostile-rss.xml").read_bytes(),
        headers={"Content-Type": "application/rss+xml"},
    )
    # The first item's page is the hostile article; the others have none (feed fallback).
    for number, (link, _, _) in enumerate(_feed_items()):
        page = "hostile-article.html" if number == 0 else "no-article.html"
        srv.routes[mirror_path(link)] = Response((HANDMADE / page).read_bytes())
    project.write_config(ALERTS_SOURCE + RSS_SOURCE + HOSTILE_SOURCE)
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    result = project.cli("fetch", "--posts-dir", str(site / "_posts"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hostile: 4 new, 0 skipped, 0 failed" in result.stdout
    out = tmp_path / "_site"
    build = subprocess.run(
        [jekyll, "build", "--safe", "--source", str(site), "--destination", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "Error" not in build.stderr, build.stderr
    # A post's excerpt (its first paragraph) never cuts a {% raw %} block in two.
    assert "Excerpt modified" not in build.stdout + build.stderr, build.stdout + build.stderr
    return site / "_posts", out


def _pages(out: Path) -> dict[str, LexborHTMLParser]:
    """The built post pages by the path of their source post (`_posts/<file>`)."""
    pages = {}
    for html in out.rglob("*.html"):
        page = LexborHTMLParser(html.read_bytes())
        article = page.css_first("article[data-path]")
        if article is not None:
            pages[str(article.attributes["data-path"])] = page
    return pages


def _content(page: LexborHTMLParser) -> LexborNode:
    node = page.css_first("div.post-content")
    assert node is not None
    return node


def test_every_post_builds_into_a_page_with_its_title_shown_literally(
    built: tuple[Path, Path],
) -> None:
    posts, out = built
    pages = _pages(out)
    files = sorted(posts.iterdir())
    assert len(files) == 8
    assert sorted(pages) == [f"_posts/{f.name}" for f in files]
    for file in files:
        title = frontmatter.load(file)["title"]
        page = pages[f"_posts/{file.name}"]
        h1 = page.css_first("h1.post-title")
        head = page.css_first("head title")
        assert h1 is not None and head is not None
        assert h1.text() == title, file.name
        assert head.text() == title, file.name
    # The hostile titles arrive whole. RSS titles are HTML to feed readers (feedparser among
    # them): an entity-escaped tag in one is markup and is dropped, its text is kept.
    titles = {h1.text() for page in pages.values() if (h1 := page.css_first("h1.post-title"))}
    for _, title, _ in _feed_items():
        assert re.sub(r"<[^>]*>", "", title) in titles
    assert max(len(t) for t in titles) > 300


def test_source_text_shows_literally_and_no_source_markup_reaches_a_page(
    built: tuple[Path, Path],
) -> None:
    _, out = built
    pages = _pages(out)
    shown = {name: _plain(_content(page).text(separator=" ")) for name, page in pages.items()}
    article = [name for name, text in shown.items() if "Bài viết thử nghiệm" in text]
    assert len(article) == 1
    text = shown[article[0]]
    for paragraph in _page_texts():
        assert _plain(paragraph) in text
    # Liquid in source text is shown, never run; HTML-looking text is shown as text.
    assert "{{ site.title }}" in text and "{% include nope.html %}" in text
    assert "{{ 7 | times: 6 }}" in text and " 42 " not in text
    assert '<script>alert("body")</script>' in text and "<img src=x onerror=alert(5)>" in text
    # The summaries of the items whose page has no article stand in for it, literally.
    for _, _, summary in _feed_items()[1:]:
        words = _plain(re.sub(r"<script.*?</script>|<[^>]*>", "", summary))
        assert any(words in page for page in shown.values()), words
    for name, page in pages.items():
        assert page.css("script") == [], name
        assert "iframe" not in (page.html or ""), name
        assert SITE_TITLE not in _content(page).text(), name
        for node in _content(page).traverse(include_text=False):
            if node.tag == "div":
                continue
            assert node.tag in ALLOWED, (name, node.tag, node.html)
            for attribute, value in node.attributes.items():
                assert not attribute.lower().startswith("on"), (name, node.html)
                if attribute in ("href", "src"):
                    assert re.match(r"https?://", value or ""), (name, node.html)
        # Scripts of the sources are gone, not shown as text either.
        assert 'alert("real")' not in shown[name] and 'alert("summary")' not in shown[name]
