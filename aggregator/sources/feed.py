"""RSS 0.9x/1.0/2.0 and Atom feeds: bytes -> Entries (via feedparser, always given bytes)."""

from __future__ import annotations

import calendar
import html
import io
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from aggregator.errors import FeedError
from aggregator.models import Entry

_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<(?:br|/p|/div|/li|/h[1-6]|/tr)\b[^>]*>", re.IGNORECASE)
_LINE_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_ALL_SPACE = re.compile(r"\s+")
_LOOKS_HTML = re.compile(r"</?[a-zA-Z][^>]*>")


def html_to_text(fragment: str, *, keep_nbsp: bool = False) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace runs collapsed.

    With keep_nbsp, no-break spaces (`&nbsp;`) survive as U+00A0 instead of becoming spaces.
    """
    text = html.unescape(_TAG.sub("", _BREAK.sub(" ", fragment)))
    return (_LINE_SPACE if keep_nbsp else _ALL_SPACE).sub(" ", text).strip()


def _text(entry: Any, key: str, *, keep_nbsp: bool = False) -> str:
    value = entry.get(key) or ""
    detail = entry.get(f"{key}_detail") or {}
    # feedparser labels some HTML (an Atom summary made from <content>) text/plain.
    if "html" in str(detail.get("type", "")) or _LOOKS_HTML.search(value):
        return html_to_text(value, keep_nbsp=keep_nbsp)
    return (_LINE_SPACE if keep_nbsp else _ALL_SPACE).sub(" ", html.unescape(value)).strip()


def _date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    return None


def _summary(entry: Any, *, keep_nbsp: bool = False) -> str:
    summary = _text(entry, "summary", keep_nbsp=keep_nbsp)
    if summary:
        return summary
    for content in entry.get("content") or ():
        value = content.get("value") or ""
        if value:
            return html_to_text(value, keep_nbsp=keep_nbsp)
    return ""


def read_feed(body: bytes, url: str) -> Any:
    """feedparser's result for a feed document; FeedError when the bytes are not a feed."""
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": url})
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        kind = "an HTML page" if b"<html" in body[:2048].lower() else "not a feed"
        raise FeedError(url, f"{kind}, no RSS or Atom entries found{detail}")
    return parsed


def entries_from(parsed: Any, url: str, source: str, *, keep_nbsp: bool = False) -> list[Entry]:
    """Entries of a parsed feed, links resolved against the feed URL; linkless ones dropped."""
    entries: list[Entry] = []
    if parsed.get("bozo") and not any((item.get("link") or "").strip() for item in parsed.entries):
        raise FeedError(url, f"malformed feed with no usable entry: {parsed.get('bozo_exception')}")
    for item in parsed.entries:
        link = (item.get("link") or "").strip()
        if not link:
            continue
        link = urljoin(url, link)
        entries.append(
            Entry(
                source=source,
                id=(item.get("id") or "").strip() or link,
                url=link,
                title=_text(item, "title", keep_nbsp=keep_nbsp),
                summary=_summary(item, keep_nbsp=keep_nbsp),
                published=_date(item),
            )
        )
    return entries


def parse_feed(body: bytes, url: str, source: str) -> list[Entry]:
    """Entries of an RSS or Atom document."""
    return entries_from(read_feed(body, url), url, source)
