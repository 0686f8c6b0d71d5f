"""Records shared by every stage: Entry (from a source), Article (from a page), Post (to a file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Entry:
    """One item announced by a source: a feed entry, an alert, a listing link."""

    source: str
    """Name of the source that announced it."""
    id: str
    """Stable identifier within the source (GUID, Atom id, or the link)."""
    url: str
    """The article's URL (redirects from alert services already unwrapped)."""
    title: str = ""
    summary: str = ""
    published: datetime | None = None
    image: str | None = None
    publisher: str | None = None
    """Who published the article, when the source names it (Google News)."""
    article_page: bool = True
    """False when `url` does not lead to the article's own page (a Google News link that cannot be
    decoded offline): the post is then made from the entry alone."""


@dataclass(frozen=True, slots=True)
class Article:
    """What an article page says about itself. Every field may be missing except `url`."""

    url: str
    title: str | None = None
    published: datetime | None = None
    summary: str | None = None
    """The lead (sapo, standfirst) shown under the headline."""
    image: str | None = None
    author: str | None = None
    blocks: tuple[str, ...] = ()
    """Body text blocks in document order, after the headline and the lead."""
    canonical: str | None = None
    provenance: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Where each field's value came from, e.g. {"published": "json-ld:datePublished"}."""

    @property
    def text(self) -> str:
        """The body blocks joined by blank lines."""
        return "\n\n".join(self.blocks)

    def missing(self) -> list[str]:
        """What a post needs from the page but did not get: "text" and/or "date"."""
        return [
            name for name, value in (("text", self.blocks), ("date", self.published)) if not value
        ]

    def __reduce__(self) -> tuple[object, ...]:
        # Articles come back from worker processes pickled; a MappingProxyType cannot be.
        return _article, (
            self.url,
            self.title,
            self.published,
            self.summary,
            self.image,
            self.author,
            self.blocks,
            self.canonical,
            dict(self.provenance),
        )


def _article(
    url: str,
    title: str | None,
    published: datetime | None,
    summary: str | None,
    image: str | None,
    author: str | None,
    blocks: tuple[str, ...],
    canonical: str | None,
    provenance: dict[str, str],
) -> Article:
    """The Article of `Article.__reduce__`'s values, its provenance read-only again."""
    return Article(
        url,
        title,
        published,
        summary,
        image,
        author,
        blocks,
        canonical,
        MappingProxyType(provenance),
    )


@dataclass(frozen=True, slots=True)
class Post:
    """A rendered Markdown post and the file name it is written under."""

    filename: str
    content: str
    url: str
    date: datetime


@dataclass(slots=True)
class SourceReport:
    """What one run did for one source."""

    source: str
    url: str
    new: int = 0
    skipped: int = 0
    """Entries not worked on: already handled, duplicates and filtered ones together."""
    failed: int = 0
    duplicates: int = 0
    """Of the skipped: the same article already posted or taken by another source."""
    filtered: int = 0
    """Of the skipped: left out by the include/exclude/max_age filters."""
    entries: int = 0
    """Entries the source listed in this run."""
    seconds: float = 0.0
    """Wall time of the source's run, from its first request to its last post."""
    error: str | None = None
    """Why the whole source failed (feed download or parse), if it did."""
    deferred: str | None = None
    """Why the source was not polled in this run (backing off after failures, or not due yet)."""
    not_modified: bool = False
    """True when the feed answered 304 Not Modified: nothing was parsed."""
    problems: list[str] = field(default_factory=list)
    """One message per failed or degraded entry, each naming its URL."""
    written: list[str] = field(default_factory=list)
    """File names of the posts written (or that would be, in a dry run)."""
    updated: list[str] = field(default_factory=list)
    """File names of existing posts rewritten (a later source's topic added to `tags:`)."""

    @property
    def ok(self) -> bool:
        """True when neither the source nor any of its entries failed."""
        return self.error is None and self.failed == 0
