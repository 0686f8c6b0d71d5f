"""Fuzz targets shared by tests/test_fuzz.py (a short fixed-seed run in CI) and scripts/fuzz (long
campaigns, hypothesis or atheris): each takes bytes, runs one parser entry point and renders what
it found into posts. Anything but our documented errors (aggregator.errors) escaping is a bug.

Run one target under atheris (what `scripts/fuzz atheris TARGET` does, in its own venv):

    python -m tests.fuzz_targets TARGET [libFuzzer options...]
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import frontmatter

from aggregator.config import MAX_DURATION, ListingRules
from aggregator.errors import AggregatorError
from aggregator.extraction import extract
from aggregator.models import Article, Entry
from aggregator.render import render_post
from aggregator.sources import (
    parse_feed,
    parse_google_alerts,
    parse_google_news,
    parse_listing,
    parse_sitemap,
)

DATA = Path(__file__).parent / "data"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 1, 15, tzinfo=UTC)
URL = "https://baoquangtri.vn/thoi-su/tin-moi.htm"
MAX_SEED_BYTES = 60_000
"""Seeds are cut to this size: the extractor's time grows with the page, the bugs do not."""
LISTING_RULES = ListingRules(link="a", item="article, li, .item", title="h2, h3", date="time")


def check_post(entry: Entry, article: Article | None) -> None:
    """Render a post and check it is writable and its front matter loads."""
    post = render_post(
        entry,
        article,
        topic="Chủ đề",
        categories=["news"],
        title_template=" [{topic}] {title}",
        tz=TZ,
        fallback_date=NOW,
    )
    post.content.encode("utf-8")
    assert frontmatter.loads(post.content)["layout"] == "post"
    for date in (entry.published, article.published if article else None):
        if date is not None:
            # What a run does with a date (age and near-duplicate windows, state): no overflow.
            assert date - MAX_DURATION < date + MAX_DURATION
            date.astimezone(UTC)


def _entries(entries: list[Entry]) -> None:
    for entry in entries[:5]:
        check_post(entry, None)


def fuzz_feed(data: bytes) -> None:
    _entries(parse_feed(data, URL, "fuzz", content_type="application/rss+xml", now=NOW))


def fuzz_google_alerts(data: bytes) -> None:
    _entries(parse_google_alerts(data, URL, "fuzz", content_type="application/atom+xml", now=NOW))


def fuzz_google_news(data: bytes) -> None:
    _entries(parse_google_news(data, URL, "fuzz", now=NOW))


def fuzz_sitemap(data: bytes) -> None:
    _entries(parse_sitemap(data, URL, "fuzz", tz=TZ, now=NOW).entries)


def fuzz_listing(data: bytes) -> None:
    _entries(parse_listing(data, URL, "fuzz", LISTING_RULES, tz=TZ, now=NOW).entries)


def fuzz_extract(data: bytes) -> None:
    article = extract(data, URL, tz=TZ, now=NOW)
    check_post(Entry("fuzz", URL, URL, article.title or ""), article)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "feed": fuzz_feed,
    "google_alerts": fuzz_google_alerts,
    "google_news": fuzz_google_news,
    "sitemap": fuzz_sitemap,
    "listing": fuzz_listing,
    "extract": fuzz_extract,
}
"""Target name -> function of the bytes."""


def run_target(name: str, data: bytes) -> bool:
    """Run a target: True when it accepted the input, False when it refused it with one of our
    documented errors. Any other exception propagates: that is a finding."""
    try:
        TARGETS[name](data)
    except AggregatorError:
        return False
    return True


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def seeds(name: str) -> list[bytes]:
    """Real saved inputs (and the hand-made ones) of the target's kind, cut to MAX_SEED_BYTES."""
    feeds = [*sorted((DATA / "handmade").glob("*.xml")), *sorted((DATA / "feeds").glob("*.xml"))]
    pages = [
        *sorted((DATA / "articles").glob("*/*.html*")),
        *sorted((DATA / "handmade").glob("*.html")),
        *sorted((DATA / "listings").glob("*/*.html*")),
        *sorted((DATA / "scrapinghub").glob("*.html.gz"))[:5],
    ]
    paths = pages if name in ("extract", "listing") else feeds
    return [_read(path)[:MAX_SEED_BYTES] for path in paths]


def _atheris_main() -> None:  # pragma: no cover - runs under scripts/fuzz only
    atheris = importlib.import_module("atheris")  # not a project dependency: .fuzz-venv only

    name = sys.argv[1]
    target = TARGETS[name]

    def one_input(data: bytes) -> None:
        with contextlib.suppress(AggregatorError):
            target(data)

    corpus = Path(f".fuzz/{name}")
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds(name)):
        (corpus / f"seed-{index}").write_bytes(seed)
    atheris.instrument_all()  # coverage feedback from every module loaded, ours included
    atheris.Setup([sys.argv[0], str(corpus), *sys.argv[2:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    _atheris_main()
