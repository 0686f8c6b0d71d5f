"""`aggregator check`: read each source once and extract one article, writing nothing.

This is how an operator adds a source: the first entries, the record extracted from one article
with where each field came from, and the problems that would degrade its posts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from aggregator.config import Config, Source
from aggregator.errors import FetchError
from aggregator.models import Article, Entry, SourceReport
from aggregator.pipeline import Run, open_fetcher
from aggregator.state import State

# Article fields a source's `article:` selectors can set: rules key -> (Article field, label).
RULE_FIELDS = {
    "title": ("title", "title"),
    "lead": ("summary", "summary"),
    "body": ("blocks", "body"),
    "date": ("published", "date"),
    "image": ("image", "thumbnail"),
    "author": ("author", "author"),
}


@dataclass
class SourceCheck:
    """What checking one source found."""

    source: Source
    entries: list[Entry] = field(default_factory=list)
    error: str | None = None
    """Why the source itself could not be read."""
    article_url: str | None = None
    article: Article | None = None
    problems: list[str] = field(default_factory=list)
    """What makes the source broken: its posts would be missing a title, date or body."""
    warnings: list[str] = field(default_factory=list)
    """What degrades its posts without breaking them."""

    @property
    def ok(self) -> bool:
        """True when the source can be fetched and yields complete posts."""
        return self.error is None and not self.problems


async def check_sources(
    config: Config, sources: Sequence[Source], *, now: datetime | None = None
) -> list[SourceCheck]:
    """Check each source concurrently; results in the order given."""
    # An in-memory state: nothing counts as seen and nothing is remembered.
    with State(Path(":memory:")) as state:
        async with open_fetcher(config) as fetcher:
            run = Run(config, fetcher, state, dry_run=True, now=now)
            return list(await asyncio.gather(*(_check(run, source) for source in sources)))


async def _check(run: Run, source: Source) -> SourceCheck:
    result = SourceCheck(source)
    report = SourceReport(source.name, source.url)
    entries = await run.list_entries(source, report)
    if entries is None:
        result.error = report.error
        return result
    result.entries = entries
    if not entries:
        result.problems.append(
            f"{source.url}: no entries found; check `url` (and the selectors) of source"
            f" {source.name!r}"
        )
        return result
    # Entries whose page is never fetched (undecodable Google News links) are posted from the
    # feed alone; check what a run would fetch.
    entry = next((e for e in entries if e.article_page), None)
    if entry is None:
        result.warnings.append(
            f"{source.url}: no entry links to a page that can be fetched; posts are made from the"
            " feed alone"
        )
        return result
    result.article_url = entry.url
    try:
        article = await run.read_article(source, entry)
    except FetchError as exc:
        result.problems.append(f"cannot fetch the first article: {exc}")
        return result
    result.article = article
    _judge(result, source, entry, article)
    return result


def _judge(result: SourceCheck, source: Source, entry: Entry, article: Article) -> None:
    where = f"{article.url}:"
    if source.article is not None:
        for key, (attr, label) in RULE_FIELDS.items():
            selector = getattr(source.article, key)
            if selector is not None and article.provenance.get(attr) != "selector":
                result.problems.append(
                    f"{where} selector article.{key} {selector!r} matched nothing; fix"
                    f" `article.{key}` of source {source.name!r} in sources.yaml ({label} came"
                    f" from {article.provenance.get(attr, 'nowhere')})"
                )
    if not article.blocks:
        result.problems.append(
            f"{where} empty body; give source {source.name!r} an `article.body` selector"
        )
    if not (article.title or entry.title):
        result.problems.append(f"{where} no title, on the page or in the entry")
    if article.published is None:
        if entry.published is None:
            result.problems.append(
                f"{where} no date, on the page or in the entry; give source {source.name!r} an"
                " `article.date` selector"
            )
        else:
            result.warnings.append(f"{where} no date on the page; the entry's date is used")
    if not (article.image or entry.image):
        result.warnings.append(f"{where} no thumbnail")


def _local_iso(value: datetime, tz: tzinfo, timespec: str = "auto") -> str:
    """`value` in the zone `tz`, ISO 8601; as given when the zone cannot show it (year 9999)."""
    try:
        return value.astimezone(tz).isoformat(timespec=timespec)
    except (OverflowError, ValueError):
        return value.isoformat(timespec=timespec)


def _field(article: Article, attr: str, tz: tzinfo) -> tuple[str, str]:
    value: Any = getattr(article, attr)
    origin = article.provenance.get(attr, "-")
    if attr == "blocks":
        text = article.text
        return (f"{len(value)} blocks, {len(text)} characters" if value else "(none)"), origin
    if isinstance(value, datetime):
        return _local_iso(value, tz), origin
    return (str(value) if value else "(none)"), origin


def check_lines(result: SourceCheck, *, entries: int, tz: tzinfo) -> list[str]:
    """The plain-text report of one source, times shown in `tz`."""
    source = result.source
    status = "ok" if result.ok else "BROKEN"
    if result.error:
        return [f"{source.name}: {status}: {result.error}"]
    lines = [
        f"{source.name}: {status} ({source.type}, {len(result.entries)} entries, {source.url})"
    ]
    for entry in result.entries[:entries]:
        date = _local_iso(entry.published, tz, "minutes") if entry.published else "no date"
        lines.append(f"  - {date}  {entry.title or '(no title)'}")
        lines.append(f"    {entry.url}")
    if result.article is not None:
        lines.append(f"  article: {result.article_url}")
        for label, attr in (
            ("title", "title"),
            ("date", "published"),
            ("summary", "summary"),
            ("thumbnail", "image"),
            ("author", "author"),
            ("body", "blocks"),
        ):
            value, origin = _field(result.article, attr, tz)
            if len(value) > 90:
                value = value[:89] + "…"
            lines.append(f"    {label:<9} {value}  [{origin}]")
    lines.extend(f"  problem: {p}" for p in result.problems)
    lines.extend(f"  warning: {w}" for w in result.warnings)
    return lines


def check_json(result: SourceCheck, *, entries: int) -> dict[str, Any]:
    """The JSON report of one source (`aggregator check --json`)."""
    article = result.article
    return {
        "source": result.source.name,
        "type": result.source.type,
        "url": result.source.url,
        "ok": result.ok,
        "error": result.error,
        "entries": len(result.entries),
        "first_entries": [
            {
                "title": e.title,
                "url": e.url,
                "published": e.published.isoformat() if e.published else None,
            }
            for e in result.entries[:entries]
        ],
        "article": None
        if article is None
        else {
            "url": result.article_url,
            "title": article.title,
            "published": article.published.isoformat() if article.published else None,
            "summary": article.summary,
            "image": article.image,
            "author": article.author,
            "blocks": len(article.blocks),
            "characters": len(article.text),
            "provenance": dict(article.provenance),
        },
        "problems": result.problems,
        "warnings": result.warnings,
    }
