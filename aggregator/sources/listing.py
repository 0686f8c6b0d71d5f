"""HTML category and home pages (sites without feeds): page bytes + `listing:` rules -> Entries.

Pure. Links are resolved against the page (and its <base>), kept to the page's own site unless the
rules allow others, filtered by the `include` URL pattern, and collapsed when the same article is
linked several times (from its picture and its headline). The "next page" link is returned for
the caller to follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from aggregator.charset import decode_document
from aggregator.config import ListingRules
from aggregator.errors import FeedError
from aggregator.extraction.dates import parse_date
from aggregator.models import Entry
from aggregator.nesting import flatten_deep_nesting
from aggregator.selectors import Selector, node_text, parse_selector, select_first
from aggregator.urls import canonical_url, join_url, same_site

DEFAULT_NEXT = (
    'link[rel="next"]::attr(href), a[rel="next"]::attr(href),'
    " .pagination a.next::attr(href), a.next-page::attr(href)"
)
"""Where the next page's link usually is, when the rules name no `next` selector."""
_WEB = ("http", "https")


@dataclass(frozen=True, slots=True)
class ListingPage:
    """The entries of one listing page, in page order, and the next page's URL (if any)."""

    entries: list[Entry]
    next_url: str | None


def _links(root: LexborNode, selector: Selector) -> list[tuple[str, LexborNode]]:
    found: list[tuple[str, LexborNode]] = []
    for part in selector.parts:
        for node in root.css(part.css):
            value = node.attributes.get(part.attr or "href")
            if value and value.strip():
                found.append((value.strip(), node))
    return found


def _candidates(
    tree: LexborHTMLParser, rules: ListingRules
) -> list[tuple[str, LexborNode, LexborNode | None]]:
    """(raw link, link element, item element) for every link, in page order."""
    link = parse_selector(rules.link)
    root = tree.body or tree.root
    if root is None:
        return []
    if not rules.item:
        return [(href, node, None) for href, node in _links(root, link)]
    # Every link of an item is a candidate; the first one accepted stands for the item.
    return [
        (href, node, item)
        for item in root.css(parse_selector(rules.item).css)
        for href, node in _links(item, link)
    ]


def _field(scope: LexborNode | None, link: LexborNode, selector: str | None) -> str | None:
    if selector is None:
        return None
    return select_first(scope if scope is not None else link, parse_selector(selector))


def _accept(url: str, page_url: str, rules: ListingRules, pattern: re.Pattern[str] | None) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in _WEB or not parts.hostname:
        return False
    if not rules.other_sites and not same_site(url, page_url):
        return False
    if pattern is not None:
        return bool(pattern.search(parts.path) or pattern.search(url))
    return True


def parse_listing(
    body: bytes,
    url: str,
    source: str,
    rules: ListingRules,
    *,
    tz: tzinfo,
    now: datetime | None = None,
) -> ListingPage:
    """The entries a listing page links to, and its next page; FeedError for a non-HTML page."""
    text = decode_document(body)
    if not re.search(r"<(?:html|body|a)\b", text[:200_000], re.IGNORECASE):
        raise FeedError(url, "not an HTML page, no links to list")
    tree = LexborHTMLParser(flatten_deep_nesting(text))
    base_node = tree.css_first("base[href]")
    base_href = (base_node.attributes.get("href") or "") if base_node else ""
    base = join_url(url, base_href) or url  # an invalid <base href> is ignored
    pattern = re.compile(rules.include) if rules.include else None

    entries: dict[str, Entry] = {}
    items_done: set[int] = set()
    for raw, link_node, item in _candidates(tree, rules):
        link = join_url(base, raw)
        if link is None:
            continue
        if (item is not None and id(item) in items_done) or not _accept(link, url, rules, pattern):
            continue
        if item is not None:
            items_done.add(id(item))
        key = canonical_url(link)
        if rules.title:
            title = _field(item, link_node, rules.title)
        else:
            title = node_text(link_node) or (link_node.attributes.get("title") or "").strip()
        raw_date = _field(item, link_node, rules.date)
        raw_image = _field(item, link_node, rules.image)
        image = join_url(base, raw_image) if raw_image else None
        entry = Entry(
            source=source,
            id=key,
            url=link,
            title=title or "",
            published=parse_date(raw_date, tz, now) if raw_date else None,
            image=image,
        )
        known = entries.get(key)
        if known is None:
            entries[key] = entry
        else:
            # The picture link comes first and has no text: fill what it lacked.
            entries[key] = replace(
                known,
                title=known.title or entry.title,
                published=known.published or entry.published,
                image=known.image or entry.image,
            )
    return ListingPage(list(entries.values()), _next_page(tree, base, url, rules))


def _next_page(tree: LexborHTMLParser, base: str, url: str, rules: ListingRules) -> str | None:
    value = select_first(tree, parse_selector(rules.next or DEFAULT_NEXT))
    if not value:
        return None
    target = join_url(base, value)
    if target is None or not same_site(target, url):
        return None
    return None if canonical_url(target) == canonical_url(url) else target
