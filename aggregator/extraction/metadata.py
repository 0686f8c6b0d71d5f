"""Page metadata -> candidate values per field: JSON-LD, OpenGraph/Twitter/`article:*` meta, <time>.

read_metadata takes the parsed page and returns a Metadata record of raw strings, each with where
it came from; choosing between metadata, selectors and visible text is the caller's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from selectolax.lexbor import LexborHTMLParser

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
# (fewer alternatives to test on each of the body's many elements).
HEAD_NODES = (
    "meta[content], title, link[rel=canonical], base[href], script[type='application/ld+json']"
)
BODY_NODES = (
    "meta[content], script[type='application/ld+json'], time[datetime],"
    " [itemprop=datePublished][datetime]"
)


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


def _index_meta(index: dict[tuple[str, str], str], attrs: dict[str, str | None]) -> None:
    content = (attrs.get("content") or "").strip()
    if not content:
        return
    for attr in ("property", "name", "itemprop"):
        key = attrs.get(attr)
        if key:
            index.setdefault((attr, key.strip().lower()), content)


def _from_meta(
    index: dict[tuple[str, str], str], keys: tuple[tuple[str, str], ...]
) -> list[Candidate]:
    out = []
    for attr, key in keys:
        value = index.get((attr, key.lower()))
        if value:
            out.append(Candidate(value, f"meta:{key}"))
    return out


def read_metadata(tree: LexborHTMLParser) -> Metadata:
    """All metadata candidates of a page, JSON-LD first, then meta tags, then <time> and <title>."""
    meta = Metadata()
    index: dict[tuple[str, str], str] = {}
    articles: list[dict[str, Any]] = []
    times: list[Candidate] = []
    title: str | None = None
    head, body = tree.head, tree.body
    nodes = (head.css(HEAD_NODES) if head is not None else []) + (
        body.css(BODY_NODES) if body is not None else []
    )
    for node in nodes:
        tag = node.tag
        attrs = node.attributes
        if tag == "meta":
            _index_meta(index, attrs)
        elif tag == "script":
            articles += _json_ld(node.text(deep=True))
        elif tag == "title":
            title = title or collapse(node.text()) or None
        elif tag == "link":
            meta.canonical = meta.canonical or (attrs.get("href") or "").strip() or None
        elif tag == "base":
            meta.base = meta.base or (attrs.get("href") or "").strip() or None
        else:
            stamp = (attrs.get("datetime") or "").strip()
            if stamp:
                times.append(Candidate(stamp, "time[datetime]"))
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
    meta.published += times
    if title:
        meta.titles.append(Candidate(title, "title"))
    return meta


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
