"""XML sitemaps: bytes (gzipped or not) -> article Entries and child sitemaps, newest first.

Pure. Reads `<urlset>` (with Google News `news:publication_date` / `news:title` and
`image:loc`) and `<sitemapindex>`; the caller fetches the child sitemaps it wants.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from datetime import datetime, tzinfo
from xml.etree import ElementTree

from aggregator.errors import FeedError
from aggregator.extraction.dates import parse_iso_or_rfc
from aggregator.models import Entry
from aggregator.urls import join_url

MAX_XML_BYTES = 50 * 1024 * 1024
"""The sitemap protocol's own limit on an uncompressed file."""


@dataclass(frozen=True, slots=True)
class ChildSitemap:
    """A sitemap listed by a sitemap index."""

    url: str
    lastmod: datetime | None


@dataclass(frozen=True, slots=True)
class Sitemap:
    """What one sitemap file lists: articles, or (for an index) other sitemaps; newest first."""

    entries: list[Entry]
    sitemaps: list[ChildSitemap]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _children(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in element if _local(child.tag) == name]


def _descendant_text(element: ElementTree.Element, *path: str) -> str | None:
    nodes = [element]
    for name in path:
        nodes = [child for node in nodes for child in _children(node, name)]
    for node in nodes:
        if node.text and node.text.strip():
            return node.text.strip()
    return None


def _unzip(body: bytes, url: str) -> bytes:
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, MAX_XML_BYTES)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise FeedError(url, f"broken gzip sitemap: {exc}") from None
    if inflater.unconsumed_tail:
        raise FeedError(url, f"sitemap larger than {MAX_XML_BYTES} bytes uncompressed")
    return data


def _newest_first(value: datetime | None) -> tuple[bool, float]:
    return (value is None, -value.timestamp() if value else 0.0)


def parse_sitemap(
    body: bytes, url: str, source: str, *, tz: tzinfo, now: datetime | None = None
) -> Sitemap:
    """The articles or child sitemaps of a sitemap; FeedError when it is not a sitemap."""
    data = _unzip(body, url)
    if b"<!DOCTYPE" in data[:4096].upper() and b"<!ENTITY" in data.upper():
        raise FeedError(url, "sitemap declares XML entities; refused")
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, LookupError, ValueError) as exc:
        # LookupError, ValueError: an unknown or unsupported encoding in the XML declaration
        raise FeedError(url, f"not a sitemap: XML error: {exc}") from None
    kind = _local(root.tag)
    if kind == "sitemapindex":
        children: list[ChildSitemap] = []
        for node in _children(root, "sitemap"):
            loc = _descendant_text(node, "loc")
            child = join_url(url, loc) if loc else None
            if child is None:
                continue
            lastmod = _descendant_text(node, "lastmod")
            children.append(
                ChildSitemap(child, parse_iso_or_rfc(lastmod, tz, now) if lastmod else None)
            )
        children.sort(key=lambda child: _newest_first(child.lastmod))
        return Sitemap([], children)
    if kind != "urlset":
        raise FeedError(url, f"not a sitemap: the root element is <{kind}>")
    entries: list[Entry] = []
    for node in _children(root, "url"):
        loc = _descendant_text(node, "loc")
        link = join_url(url, loc) if loc else None
        if link is None:
            continue
        raw_date = _descendant_text(node, "news", "publication_date") or _descendant_text(
            node, "lastmod"
        )
        image = _descendant_text(node, "image", "loc")
        entries.append(
            Entry(
                source=source,
                id=link,
                url=link,
                title=_descendant_text(node, "news", "title") or "",
                published=parse_iso_or_rfc(raw_date, tz, now) if raw_date else None,
                image=join_url(url, image) if image else None,
            )
        )
    entries.sort(key=lambda entry: _newest_first(entry.published))
    return Sitemap(entries, [])
