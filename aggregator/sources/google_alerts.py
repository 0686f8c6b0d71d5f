"""Google Alerts Atom feeds: bytes -> Entries with Google's redirect links unwrapped offline."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from aggregator.models import Entry
from aggregator.sources.feed import entries_from, read_feed
from aggregator.urls import url_problem

_GOOGLE_HOSTS = ("google.com", "www.google.com")


def unwrap_google_url(url: str) -> str:
    """The target of a `https://www.google.com/url?...&url=<article>` redirect, else the URL."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    is_google = host in _GOOGLE_HOSTS or host.startswith("www.google.")
    if not is_google or parts.path != "/url":
        return url
    query = parse_qs(parts.query)
    for key in ("url", "q"):
        for target in query.get(key, ()):
            if url_problem(target) is None:
                return target
    return url


def parse_google_alerts(
    body: bytes,
    url: str,
    source: str,
    *,
    content_type: str | None = None,
    now: datetime | None = None,
) -> list[Entry]:
    """Entries of a Google Alerts feed (often none): article URLs, text as Google wrote it
    (keeping &nbsp;)."""
    parsed = read_feed(body, url, content_type)
    entries = entries_from(parsed, url, source, keep_nbsp=True, now=now)
    return [replace(entry, url=unwrap_google_url(entry.url)) for entry in entries]
