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
    failed: int = 0
    error: str | None = None
    """Why the whole source failed (feed download or parse), if it did."""
    problems: list[str] = field(default_factory=list)
    """One message per failed or degraded entry, each naming its URL."""
    written: list[str] = field(default_factory=list)
    """File names of the posts written (or that would be, in a dry run)."""

    @property
    def ok(self) -> bool:
        """True when neither the source nor any of its entries failed."""
        return self.error is None and self.failed == 0
