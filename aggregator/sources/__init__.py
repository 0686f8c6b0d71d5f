"""One module per source type: each turns a downloaded document (bytes) into Entries; no I/O."""

from __future__ import annotations

from collections.abc import Callable

from aggregator.models import Entry
from aggregator.sources.feed import parse_feed
from aggregator.sources.google_alerts import parse_google_alerts

Parser = Callable[[bytes, str, str], list[Entry]]
"""(body, url of the document, source name) -> entries, newest first as the document lists them."""

PARSERS: dict[str, Parser] = {
    "feed": parse_feed,
    "google_alerts": parse_google_alerts,
}

__all__ = ["PARSERS", "Parser", "parse_feed", "parse_google_alerts"]
