"""Page metadata -> candidate values per field: JSON-LD, OpenGraph/Twitter/`article:*` meta, <time>.

read_metadata takes the parsed page and returns a Metadata record of raw strings, each with where
it came from; shown_times yields the <time> stamps, after the metadata's dates; choosing between
metadata, selectors and visible text is the caller's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from selectolax.lexbor import LexborHTMLParser, LexborNode

from aggregator.extraction.body import tag_id
from aggregator.selectors import collapse

ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "BackgroundNewsArticle",
        "ReviewNewsArticle",
        "BlogPosting",
        "LiveBlogPosting",
        "Report",
        "ScholarlyArticle",
        "TechArticle",
    }
)

# (attribute, value) pairs of <meta> tags, most trusted first, per field.
META_TITLE = (("property", "og:title"), ("name", "twitter:title"), ("name", "title"))
META_IMAGE = (
    ("property", "og:image"),
    ("property", "og:image:url"),
    ("property", "og:image:secure_url"),
    ("name", "twitter:image"),
    ("name", "twitter:image:src"),
    ("property", "twitter:image"),
    ("itemprop", "image"),
)
META_PUBLISHED = (
    ("property", "article:published_time"),
    ("name", "article:published_time"),
    ("itemprop", "datePublished"),
    ("name", "pubdate"),
    ("name", "publishdate"),
    ("name", "publish-date"),
    ("name", "date"),
    ("name", "dc.date.issued"),
    ("name", "DC.date.issued"),
    ("name", "dcterms.created"),
    ("property", "og:published_time"),
    ("name", "sailthru.date"),
    ("property", "article:modified_time"),
    ("property", "og:updated_time"),
)
META_DESCRIPTION = (
    ("property", "og:description"),
    ("name", "description"),
    ("name", "twitter:description"),
)
META_AUTHOR = (
    ("name", "author"),
    ("property", "article:author"),
    ("name", "article:author"),
    ("name", "dable:author"),
    ("name", "byl"),
)


class Candidate(NamedTuple):
    """A raw value found in the page and where it was found."""

    value: str
    origin: str


@dataclass(slots=True)
class Metadata:
    """Candidate values per field, most trusted first."""

    titles: list[Candidate] = field(default_factory=list)
    published: list[Candidate] = field(default_factory=list)
    """From JSON-LD and meta tags; the <time> stamps shown on the page come after these, from
    shown_times."""
    images: list[Candidate] = field(default_factory=list)
    descriptions: list[Candidate] = field(default_factory=list)
    authors: list[Candidate] = field(default_factory=list)
    canonical: str | None = None
    base: str | None = None


def _walk_json(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            yield from _walk_json(item)
    elif isinstance(value, dict):
        yield value
        for key in ("@graph", "mainEntity", "itemListElement"):
            if key in value:
                yield from _walk_json(value[key])


def _types(obj: dict[str, Any]) -> set[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {str(k).rsplit("/", 1)[-1] for k in kinds if k}


def _strings(value: Any, keys: tuple[str, ...] = ("url", "name", "@id")) -> Iterator[str]:
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, keys)
    elif isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), str) and value[key].strip():
                yield value[key].strip()
                return


# Everything read_metadata needs, fetched in one pass over the head and one over the body
# (fewer alternatives to test on each of the body's many elements). The body's nodes are
# <meta> and <script> only, so a caller can find them in a scan of its own by their tags.
HEAD_NODES = (
    "meta[content], title, link[rel=canonical], base[href], script[type='application/ld+json']"
)
BODY_NODES = "meta[content], script[type='application/ld+json']"
_META, _SCRIPT, _TITLE, _LINK, _BASE = (
    tag_id(name) for name in ("meta", "script", "title", "link", "base")
)
# The date stamps shown in the body, read by shown_times only when the metadata has no date.
TIME_NODES = "time[datetime], [itemprop=datePublished][datetime]"


def _json_ld(raw: str) -> list[dict[str, Any]]:
    """The article-typed objects of one JSON-LD script (graphs and lists flattened)."""
    raw = raw.strip()
    if not raw:
        return []
    try:
        try:
            data = json.loads(raw)
        except ValueError:
            # Some CMSs emit raw newlines and tabs inside strings.
            try:
                data = json.loads(re.sub(r"[\x00-\x1f]+", " ", raw))
            except ValueError:
                return []
        return [obj for obj in _walk_json(data) if _types(obj) & ARTICLE_TYPES]
    except RecursionError:  # nesting deeper than any real page (found by tests/test_fuzz.py)
        return []


def _from_meta(
    index: dict[tuple[str, str], str], keys: tuple[tuple[str, str], ...]
) -> list[Candidate]:
    out = []
    for lookup, origin in _META_LOOKUPS[keys]:
        value = index.get(lookup)
        if value:
            out.append(Candidate(value, origin))
    return out


# Per key table: the index key of each (attribute, value) pair and the origin it records.
_META_LOOKUPS: dict[tuple[tuple[str, str], ...], tuple[tuple[tuple[str, str], str], ...]] = {
    keys: tuple(((attr, key.lower()), f"meta:{key}") for attr, key in keys)
    for keys in (META_TITLE, META_IMAGE, META_PUBLISHED, META_DESCRIPTION, META_AUTHOR)
}


def read_metadata(tree: LexborHTMLParser, body_nodes: list[LexborNode] | None = None) -> Metadata:
    """The metadata candidates of a page, JSON-LD first, then meta tags, then <title> (the
    dates shown in <time> elements are shown_times'). `body_nodes` are the body's elements
    matching BODY_NODES, in document order, when the caller has them already."""
    meta = Metadata()
    index: dict[tuple[str, str], str] = {}
    articles: list[dict[str, Any]] = []
    title: str | None = None
    head, body = tree.head, tree.body
    if body_nodes is None:
        body_nodes = body.css(BODY_NODES) if body is not None else []
    nodes = (head.css(HEAD_NODES) if head is not None else []) + body_nodes
    setdefault = index.setdefault
    for node in nodes:
        tag = node.tag_id
        if tag == _META:
            # Indexed by (attribute, lowered key), first value kept; inline, as this runs for
            # every <meta> of the page (dozens), unrolled over property, name and itemprop.
            attrs = node.attributes
            content = attrs.get("content")
            if not content or not (content := content.strip()):
                continue
            key = attrs.get("property")
            if key:
                setdefault(("property", key.strip().lower()), content)
            key = attrs.get("name")
            if key:
                setdefault(("name", key.strip().lower()), content)
            key = attrs.get("itemprop")
            if key:
                setdefault(("itemprop", key.strip().lower()), content)
        elif tag == _SCRIPT:
            articles += _json_ld(node.text())
        elif tag == _TITLE:
            title = title or collapse(node.text()) or None
        elif tag == _LINK:
            href = node.attributes.get("href")
            meta.canonical = meta.canonical or (href or "").strip() or None
        elif tag == _BASE:
            href = node.attributes.get("href")
            meta.base = meta.base or (href or "").strip() or None
    for obj in articles:
        _read_json_ld(meta, obj)
    meta.titles += [Candidate(collapse(c.value), c.origin) for c in _from_meta(index, META_TITLE)]
    meta.published += _from_meta(index, META_PUBLISHED)
    # The share-card picture (og:image) is the thumbnail the publisher chose for the article.
    meta.images[:0] = _from_meta(index, META_IMAGE)
    meta.descriptions += [
        Candidate(collapse(c.value), c.origin) for c in _from_meta(index, META_DESCRIPTION)
    ]
    meta.authors += [
        Candidate(collapse(c.value), c.origin)
        for c in _from_meta(index, META_AUTHOR)
        if not c.value.startswith(("http://", "https://"))
    ]
    if title:
        meta.titles.append(Candidate(title, "title"))
    return meta


def shown_times(tree: LexborHTMLParser) -> Iterator[Candidate]:
    """The stamps of the body's <time datetime> and datePublished elements, in document order.

    Lazy: the scan (a walk over every element of the body) runs only when the first stamp is
    asked for, which most pages, dated by their metadata, never do.
    """
    body = tree.body
    for node in body.css(TIME_NODES) if body is not None else []:
        stamp = (node.attributes.get("datetime") or "").strip()
        if stamp:
            yield Candidate(stamp, "time[datetime]")


def _read_json_ld(meta: Metadata, obj: dict[str, Any]) -> None:
    for value in _strings(obj.get("headline") or obj.get("name")):
        meta.titles.append(Candidate(collapse(value), "json-ld:headline"))
    for value in _strings(obj.get("datePublished") or obj.get("dateCreated")):
        meta.published.append(Candidate(value, "json-ld:datePublished"))
    for value in _strings(
        obj.get("image") or obj.get("thumbnailUrl"), ("url", "contentUrl", "@id")
    ):
        meta.images.append(Candidate(value, "json-ld:image"))
    for value in _strings(obj.get("description")):
        meta.descriptions.append(Candidate(collapse(value), "json-ld:description"))
    authors = obj.get("author")
    if isinstance(authors, dict) and "Organization" in _types(authors):
        authors = None
    for value in _strings(authors, ("name",)):
        if not value.startswith(("http://", "https://")):
            meta.authors.append(Candidate(collapse(value), "json-ld:author"))
