"""The writer alone: records -> the documented layout, byte for byte, and safe for any input."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import frontmatter
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aggregator.models import Article, Entry
from aggregator.render import fold_ascii, post_filename, post_slug, render_post, yaml_quote
from tests.conftest import DATA, DOCUMENTED_URL

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
GOLDEN = (DATA / "golden" / "documented-post.md").read_text(encoding="utf-8")
IMAGE = (
    "https://baoquangtri.vn/thumbnail/news/quyen-chu-tich-ubnd-tinh-ha-sy-dong-tham-trung-tam-phuc"
    "-vu-hanh-chinh-cong-tinh-cong-ty-co-phan-nuoc-sach-quang-tri-di2505d106d1154353t9496l2-anh-1.jpg"
)


def _documented_record() -> tuple[Entry, Article]:
    parts = GOLDEN.split("\n---\n", 1)[1].split("\n\n")
    headline, lead, *blocks = [p for p in parts[3:] if p]
    entry = Entry(
        source="cong-dich-vu-cong",
        id="tag:google.com,2013:googlealerts/feed:1542277398212839407",
        url=DOCUMENTED_URL,
        title="Quyền Chủ tịch UBND tỉnh Hà Sỹ Đồng thăm Trung tâm Phục vụ ...",
        summary=(
            "Năm 2024, Trung tâm Phục vụ hành chính công tỉnh đã tham mưu Văn phòng UBND tỉnh trình"
            " UBND tỉnh ban hành các văn bản triển khai số hóa hồ sơ,\u00a0..."
        ),
        published=datetime(2025, 2, 4, 8, 12, 30, tzinfo=UTC),
    )
    article = Article(
        url=DOCUMENTED_URL,
        title=headline,
        published=datetime(2025, 2, 4, 14, 0, tzinfo=TZ),
        summary=lead,
        image=IMAGE,
        blocks=tuple(blocks),
    )
    return entry, article


def _render(entry: Entry, article: Article | None, topic: str | None = "Cổng dịch vụ công"):
    return render_post(
        entry,
        article,
        topic=topic,
        categories=["entries", "VN"],
        title_template=" [{topic}] {title}",
        tz=TZ,
        fallback_date=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_writer_reproduces_the_documented_post_byte_for_byte() -> None:
    entry, article = _documented_record()
    post = _render(entry, article)
    assert post.content.encode("utf-8") == GOLDEN.encode("utf-8")
    assert post.filename.startswith("2025-02-04-quyen-chu-tich-ubnd-tinh-ha-sy-dong-tham")
    assert len(post.filename) <= 2 + 11 + 100 + 3


def test_missing_parts_are_left_out_with_their_blank_line() -> None:
    entry, article = _documented_record()
    entry = Entry(entry.source, entry.id, entry.url, entry.title, "", entry.published)
    article = Article(url=article.url, title=article.title, blocks=("Một đoạn.",))
    text = _render(entry, article).content
    assert "![" not in text
    assert "\n\n\n" not in text
    # No page date: the feed entry's date, in the configured zone.
    assert "date: Tue, 04 Feb 2025 15:12:30 +0700\n" in text
    assert text.endswith(f"{article.title}\n\nMột đoạn.\n\n")


def test_title_without_topic_is_the_entry_title() -> None:
    entry, article = _documented_record()
    post = frontmatter.loads(_render(entry, article, topic=None).content)
    assert post["title"] == entry.title


def test_slug_folds_vietnamese_and_is_stable() -> None:
    assert fold_ascii("Đường Hồ Chí Minh đẹp") == "Duong Ho Chi Minh dep"
    url = "https://example.vn/a196670.html"
    assert post_slug(url, "Tập trung triển khai thanh tra") == "tap-trung-trien-khai-thanh-tra"
    long_title = "Tin " * 80
    slug = post_slug(url, long_title)
    assert len(slug) <= 100 and slug == post_slug(url, long_title)
    assert post_slug("https://x.vn/?id=1", "").startswith("x-vn-")
    date = datetime(2025, 2, 4, tzinfo=TZ)
    assert post_filename(date, url, "Tin").startswith("2025-02-04-")


def test_hostile_text_cannot_inject_markup() -> None:
    entry, _ = _documented_record()
    entry = Entry(
        entry.source,
        entry.id,
        "javascript:alert(1)",
        'Tiêu đề "x" [y](z) <script>alert(1)</script>',
        "# not a heading\n---\n{{ site.title }}",
    )
    post = _render(entry, Article(url=entry.url, blocks=("<iframe src=x>", "> quote")))
    body = post.content.split("\n---\n", 1)[1]
    assert "<script" not in body and "<iframe" not in body
    assert "(javascript:" not in body
    assert "\\# not a heading" in body and "\\> quote" in body
    # Only the paragraph holding Liquid output is a raw block, whole.
    assert "{% raw %}\\# not a heading --- {{ site.title }}{% endraw %}\n\n" in body
    assert body.count("{% raw %}") == body.count("{% endraw %}") == 1
    assert frontmatter.loads(post.content)["title"] == " [Cổng dịch vụ công] " + entry.title


@given(st.text())
def test_yaml_quote_round_trips_any_text(text: str) -> None:
    assert yaml.safe_load(f"title: {yaml_quote(text)}") == {"title": text}
