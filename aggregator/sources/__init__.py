"""One module per source type: each turns a downloaded document (bytes) into Entries; no I/O.

`read_source` walks a source's documents (the feed; a listing's next pages; a sitemap index's
children) through a `get` function it is given, so the I/O stays with the caller's client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial
from typing import Protocol

from aggregator.config import Source
from aggregator.errors import FeedError, FetchError
from aggregator.fetch import Page
from aggregator.models import Entry
from aggregator.sources.feed import parse_feed
from aggregator.sources.google_alerts import parse_google_alerts
from aggregator.sources.google_news import parse_google_news
from aggregator.sources.listing import ListingPage, parse_listing
from aggregator.sources.sitemap import Sitemap, parse_sitemap
from aggregator.workers import Offload, inline


class Parser(Protocol):
    """(body, url of the document, source name; its HTTP Content-Type, the time now) -> entries,
    newest first as the document lists them."""

    def __call__(
        self,
        body: bytes,
        url: str,
        source: str,
        *,
        content_type: str | None = None,
        now: datetime | None = None,
    ) -> list[Entry]: ...


PARSERS: dict[str, Parser] = {
    "feed": parse_feed,
    "google_alerts": parse_google_alerts,
    "google_news": parse_google_news,
}
"""The one-document source types; `listing` and `sitemap` are read by `read_source`."""

Get = Callable[[str], Awaitable[Page]]
"""Downloads a URL (the run's Fetcher.get)."""

SITEMAP_MAX_AGE = timedelta(days=2)
"""How far back a sitemap source looks when neither it nor the settings give `max_age`."""
MAX_SITEMAP_FILES = 10
"""Sitemap files read per run for one source (the index included): newest children first."""
MAX_SITEMAP_DEPTH = 3
MAX_SITEMAP_ENTRIES = 300
"""Newest articles kept from a source's sitemaps in one run."""


@dataclass
class SourceDocuments:
    """What reading a source found: its entries (newest first) and problems with extra pages."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One message per next page or child sitemap that failed, naming its URL."""


async def read_source(
    source: Source,
    page: Page,
    get: Get,
    *,
    tz: tzinfo,
    now: datetime | None = None,
    max_age: timedelta | None = None,
    offload: Offload = inline,
) -> SourceDocuments:
    """All entries of a source, from its own document `page` and the further pages `get`
    downloads, each parsed through `offload`. FeedError when `page` cannot be read; failures of
    further pages are listed in `problems` and the entries found so far are kept."""
    if source.type == "listing":
        return await _read_listing(source, page, get, tz=tz, now=now, offload=offload)
    if source.type == "sitemap":
        return await _read_sitemaps(
            source, page, get, tz=tz, now=now, max_age=max_age, offload=offload
        )
    parse = partial(
        PARSERS[source.type],
        page.body,
        page.url,
        source.name,
        content_type=page.content_type,
        now=now,
    )
    return SourceDocuments(await offload(parse, page.url))


async def _read_listing(
    source: Source, first: Page, get: Get, *, tz: tzinfo, now: datetime | None, offload: Offload
) -> SourceDocuments:
    rules = source.listing
    if rules is None:  # config validation requires the block; kept for type narrowing
        raise FeedError(source.url, "a listing source needs a `listing:` block")
    result = SourceDocuments()
    seen: set[str] = set()
    url: str | None = source.url
    for number in range(rules.pages):
        if url is None or url in seen:
            break
        seen.add(url)
        try:
            page = first if number == 0 else await get(url)
            listing: ListingPage = await offload(
                partial(parse_listing, page.body, page.url, source.name, rules, tz=tz, now=now),
                page.url,
            )
        except (FetchError, FeedError) as exc:
            if number == 0:
                raise
            result.problems.append(f"{url}: listing page {number + 1}: {exc}")
            break
        known = {entry.id for entry in result.entries}
        result.entries.extend(entry for entry in listing.entries if entry.id not in known)
        url = listing.next_url
    return result


async def _read_sitemaps(
    source: Source,
    first: Page,
    get: Get,
    *,
    tz: tzinfo,
    now: datetime | None,
    max_age: timedelta | None,
    offload: Offload,
) -> SourceDocuments:
    oldest = (now or datetime.now(UTC)) - (max_age or SITEMAP_MAX_AGE)
    result = SourceDocuments()
    queue: list[tuple[str, int]] = [(source.url, 0)]
    done: set[str] = set()
    while queue and len(done) < MAX_SITEMAP_FILES:
        url, depth = queue.pop(0)
        if url in done:
            continue
        done.add(url)
        try:
            page = first if depth == 0 else await get(url)
            sitemap: Sitemap = await offload(
                partial(parse_sitemap, page.body, page.url, source.name, tz=tz, now=now), page.url
            )
        except (FetchError, FeedError) as exc:
            if depth == 0:
                raise
            result.problems.append(f"{url}: sitemap: {exc}")
            continue
        if depth < MAX_SITEMAP_DEPTH:
            queue.extend(
                (child.url, depth + 1)
                for child in sitemap.sitemaps
                if child.lastmod is None or child.lastmod >= oldest
            )
        # An undated URL cannot be bounded by age: a sitemap of old pages would all be posted.
        result.entries.extend(
            entry for entry in sitemap.entries if entry.published and entry.published >= oldest
        )
    newest = sorted(result.entries, key=lambda e: e.published or oldest, reverse=True)
    unique: dict[str, Entry] = {}
    for entry in newest:
        unique.setdefault(entry.id, entry)
    result.entries = list(unique.values())[:MAX_SITEMAP_ENTRIES]
    return result


__all__ = [
    "PARSERS",
    "Parser",
    "SourceDocuments",
    "parse_feed",
    "parse_google_alerts",
    "parse_google_news",
    "parse_listing",
    "parse_sitemap",
    "read_source",
]
