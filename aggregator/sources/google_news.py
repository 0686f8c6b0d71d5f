"""Google News RSS (search and topic feeds): bytes -> Entries with publisher and decoded links.

Pure. Titles end in " - <Publisher>": the publisher is split off into `Entry.publisher`. Article
links are Google's (news.google.com/rss/articles/<id>); ids of the older form are base64 protobuf
messages that contain the article URL and are decoded offline. Newer ids are opaque: the entry
keeps the working Google link, its publisher, and `article_page=False` (no Google page is fetched).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aggregator.models import Entry
from aggregator.sources.feed import html_to_text, items_and_entries, read_feed
from aggregator.urls import url_problem

GOOGLE_NEWS_HOST = "news.google.com"
_ARTICLE_ID = re.compile(r"^/(?:rss/|__i/rss/rd/)?(?:articles|read)/([A-Za-z0-9_-]+)")
_MAX_FIELDS = 64


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


def _protobuf_strings(data: bytes) -> Iterator[bytes]:
    """The length-delimited fields of a protobuf message, in order (no schema needed)."""
    at = 0
    for _ in range(_MAX_FIELDS):
        if at >= len(data):
            return
        key, at = _varint(data, at)
        wire = key & 7
        if wire == 0:
            _, at = _varint(data, at)
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                return
            yield data[at : at + size]
            at += size
        else:
            return


def is_google_news_url(url: str) -> bool:
    """True for a news.google.com article link."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower() == GOOGLE_NEWS_HOST and bool(
        _ARTICLE_ID.match(parts.path)
    )


def decode_google_news_url(url: str) -> str | None:
    """The publisher's URL inside a Google News article link, or None when it cannot be read
    offline (the newer opaque ids, or not a Google News link at all)."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() != GOOGLE_NEWS_HOST:
        return None
    match = _ARTICLE_ID.match(parts.path)
    if not match:
        return None
    token = match.group(1)
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        for field in _protobuf_strings(data):
            text = field.decode("utf-8", errors="strict")
            if url_problem(text) is None and " " not in text:
                return text
    except (ValueError, binascii.Error):
        return None
    return None


def split_publisher(title: str, publisher: str | None) -> tuple[str, str | None]:
    """("Headline", "Publisher") from "Headline - Publisher" (the feed's <source> when given)."""
    if publisher and title.endswith(f" - {publisher}"):
        return title[: -len(publisher) - 3].rstrip(), publisher
    if publisher:
        return title, publisher
    head, sep, tail = title.rpartition(" - ")
    if sep and head.strip() and tail.strip() and len(tail) <= 80:
        return head.rstrip(), tail.strip()
    return title, None


def _source_title(item: Any) -> str | None:
    source = item.get("source") or {}
    title = source.get("title") if hasattr(source, "get") else None
    return html_to_text(title) if isinstance(title, str) and title.strip() else None


def _summary(summary: str, title: str, publisher: str | None) -> str:
    # Google's description is often the headline linked, then the publisher: nothing of its own.
    rest = summary.removeprefix(title).strip(" \xa0")
    if publisher:
        rest = rest.removesuffix(publisher).strip(" \xa0")
    return summary if rest else ""


def parse_google_news(
    body: bytes,
    url: str,
    source: str,
    *,
    content_type: str | None = None,
    now: datetime | None = None,
) -> list[Entry]:
    """Entries of a Google News RSS feed; links decoded offline where Google's id allows."""
    parsed = read_feed(body, url, content_type)
    result: list[Entry] = []
    for item, entry in items_and_entries(parsed, url, source, now=now):
        title, publisher = split_publisher(entry.title, _source_title(item))
        decoded = decode_google_news_url(entry.url)
        undecodable = decoded is None and is_google_news_url(entry.url)
        result.append(
            replace(
                entry,
                url=decoded or entry.url,
                title=title,
                summary=_summary(entry.summary, title, publisher),
                publisher=publisher,
                article_page=not undecodable,
            )
        )
    return result
