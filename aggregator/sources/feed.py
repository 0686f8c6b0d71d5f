"""RSS 0.9x/1.0/2.0 and Atom feeds: bytes -> Entries (via feedparser, always given bytes)."""

from __future__ import annotations

import calendar
import html
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from aggregator.errors import FeedError
from aggregator.extraction.dates import plausible_date
from aggregator.models import Entry
from aggregator.urls import join_url

_TAG = re.compile(r"<[^<>]*>")  # not [^>]*: quadratic on a run of "<"
_BREAK = re.compile(r"<(?:br|/p|/div|/li|/h[1-6]|/tr)\b[^<>]*>", re.IGNORECASE)
_LINE_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_ALL_SPACE = re.compile(r"\s+")
_LOOKS_HTML = re.compile(r"</?[a-zA-Z][^<>]*>")
_IMG_SRC = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
FEED_FUTURE_TOLERANCE = timedelta(days=1)
"""How far ahead of our clock an item's date may be (feeds writing local time as GMT run up to
14 hours ahead); a later date, like year 9999, counts as no date."""
# feedparser's notes on a feed it read whole: a Content-Type that is not XML's, a charset
# other than declared, an undeclared namespace. Anything else (an XML syntax error) is a fault.
_HARMLESS = (feedparser.ThingsNobodyCaresAboutButMe, feedparser.UndeclaredNamespace)


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


def _date(entry: Any, now: datetime | None) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: feedparser's own get() maps a missing "updated" to "published" and warns.
        parsed = dict.get(entry, key)
        if parsed:
            try:
                value = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, OSError, ValueError):
                continue
            plausible = plausible_date(value, now, FEED_FUTURE_TOLERANCE)
            if plausible is not None:
                return plausible
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


def _web_url(value: object, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return join_url(base, html.unescape(value.strip()))


def _image(entry: Any, base: str) -> str | None:
    """The thumbnail: media:thumbnail, an image media:content or enclosure, else the first <img>."""
    for media in entry.get("media_thumbnail") or ():
        url = _web_url(media.get("url"), base)
        if url:
            return url
    for media in entry.get("media_content") or ():
        kind = f"{media.get('medium', '')} {media.get('type', '')}".strip()
        url = _web_url(media.get("url"), base)
        if url and (not kind or "image" in kind):
            return url
    for link in entry.get("links") or ():
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            url = _web_url(link.get("href"), base)
            if url:
                return url
    fragments = [entry.get("summary") or ""]
    fragments += [content.get("value") or "" for content in entry.get("content") or ()]
    for fragment in fragments:
        match = _IMG_SRC.search(fragment)
        url = _web_url(match.group(1), base) if match else None
        if url:
            return url
    return None


def read_feed(body: bytes, url: str, content_type: str | None = None) -> Any:
    """feedparser's result for a feed document (served with the HTTP `content_type`, if known);
    FeedError when the bytes are not a feed."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:
        # e.g. UnicodeEncodeError from `&#xD800;` in its loose parser (found by tests/test_fuzz.py)
        raise FeedError(url, f"unreadable feed ({type(exc).__name__}: {exc})") from None
    if not parsed.get("version") and not parsed.entries:
        if b"<html" in body[:2048].lower():
            raise FeedError(url, "an HTML page, no RSS or Atom entries found")
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise FeedError(url, f"not a feed, no RSS or Atom entries found{detail}")
    return parsed


def linked_items(parsed: Any, url: str) -> list[tuple[Any, str]]:
    """(item, its http(s) link resolved against the feed URL) for each item of a parsed feed that
    has one. An empty feed has none; FeedError when no item has a usable link and the feed is
    malformed (an XML error) or has items."""
    items = [(item, (item.get("link") or "").strip()) for item in parsed.entries]
    linked = [
        (item, resolved) for item, link in items if link and (resolved := join_url(url, link))
    ]
    if not linked:
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if problem is not None and not isinstance(problem, _HARMLESS):
            raise FeedError(url, f"malformed feed with no usable entry: {problem}")
        if items:
            raise FeedError(url, f"none of the feed's {len(items)} items has a valid http(s) link")
    return linked


def entries_from(
    parsed: Any, url: str, source: str, *, keep_nbsp: bool = False, now: datetime | None = None
) -> list[Entry]:
    """Entries of a parsed feed, in `linked_items` order; dates later than `now` plus a day
    (or before 1900) are dropped."""
    return [entry for _, entry in items_and_entries(parsed, url, source, keep_nbsp, now)]


def items_and_entries(
    parsed: Any, url: str, source: str, keep_nbsp: bool = False, now: datetime | None = None
) -> list[tuple[Any, Entry]]:
    """Each linked feed item with its Entry (as `entries_from`), for parsers that read more of
    the item."""
    return [
        (
            item,
            Entry(
                source=source,
                id=(item.get("id") or "").strip() or link,
                url=link,
                title=_text(item, "title", keep_nbsp=keep_nbsp),
                summary=_summary(item, keep_nbsp=keep_nbsp),
                published=_date(item, now),
                image=_image(item, link),
            ),
        )
        for item, link in linked_items(parsed, url)
    ]


def parse_feed(
    body: bytes,
    url: str,
    source: str,
    *,
    content_type: str | None = None,
    now: datetime | None = None,
) -> list[Entry]:
    """Entries of an RSS or Atom document (none for an empty feed); `content_type` is the HTTP
    Content-Type it was served with."""
    return entries_from(read_feed(body, url, content_type), url, source, now=now)
