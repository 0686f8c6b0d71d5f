"""Article extraction: page HTML + optional per-site rules -> Article. Pure: no I/O.

Each field goes through a fallback chain, recording where its value came from in
`Article.provenance`: per-site selector, then JSON-LD, then meta tags, then the visible page.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, tzinfo
from functools import lru_cache
from itertools import chain
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser, LexborNode

from aggregator.charset import decode_document
from aggregator.extraction.body import (
    SCANNED,
    Block,
    Content,
    extract_body,
    text_blocks,
)
from aggregator.extraction.dates import parse_date, parse_iso_or_rfc
from aggregator.extraction.lead import Marked, find_lead, headline_region, opening_copy
from aggregator.extraction.metadata import (
    BODY_NODES,
    Candidate,
    Metadata,
    read_metadata,
    shown_times,
)
from aggregator.models import Article
from aggregator.nesting import flatten_deep_nesting
from aggregator.selectors import collapse, node_text, parse_selector, select_first, select_nodes
from aggregator.urls import join_url

if TYPE_CHECKING:
    from aggregator.config import ArticleRules

DEFAULT_TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
# Lexbor's tree builder is quadratic in nesting depth, but a page needs thousands of tags to
# nest deep enough for that to cost anything: only such pages pay for the flattening scan
# (about half a millisecond on an ordinary page, as much as the rest of the extraction).
# Below this many tags, nesting is at most half as deep, and parses in milliseconds.
DEEP_NESTING_TAGS = 10_000

# Blocks before the headline inside the content (kicker, breadcrumb) are dropped up to this.
MAX_BLOCKS_BEFORE_TITLE = 6
# A copy of the lead this far into the body is dropped from it.
MAX_BLOCKS_BEFORE_LEAD = 5
DATE_SELECTOR = (
    "[class*=date], [class*=time], [class*=publish], [class*=posted], [itemprop=datePublished],"
    " [id*=date], [class*=meta]"
)
AUTHOR_SELECTOR = "[rel=author], [itemprop=author], [class*=author], [class*=byline]"
# The class parts of DATE_SELECTOR and AUTHOR_SELECTOR, to test elements already in hand
# (CSS substring selectors test every element of the page).
DATE_CLASS = re.compile(r"date|time|publish|posted|meta")
AUTHOR_CLASS = re.compile(r"author|byline")
# One CSS scan of the body finds the elements both the content scoring and the metadata need
# (a scan costs a walk over every element, whatever the selector): BODY_NODES are <meta> and
# <script> elements, which find_content leaves unscored and hands back in Content.others.
_BODY_SCAN = f"{SCANNED}, {BODY_NODES}"
_DAY_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
_DIGIT = re.compile(r"\d")
_TITLE_SUFFIX = re.compile(r"\s+[|\-–—:]\s+[^|\-–—:]{2,60}$")


def _normalize(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _nfc(text: str | None) -> str | None:
    return None if text is None else _normalize(text)


def _nfc_blocks(blocks: list[str]) -> tuple[str, ...]:
    # One check for the whole text: a newline composes with nothing, so the joined text is NFC
    # exactly when every block is.
    if unicodedata.is_normalized("NFC", "\n".join(blocks)):
        return tuple(blocks)
    return tuple(_normalize(block) for block in blocks)


def _folded(text: str) -> str:
    return collapse(text).casefold()


def _same_text(a: str, b: str) -> bool:
    return _folded(a) == _folded(b)


def _http_url(value: str | None, base: str) -> str | None:
    if not value:
        return None
    value = value.strip().split()[0] if value.strip() else ""
    if value.startswith("//"):
        scheme = base.partition(":")[0].lower()
        value = f"{scheme if scheme in ('http', 'https') else 'https'}:{value}"
    return join_url(base, value)  # None for an invalid URL (http://[x/, port 99999)


class _Chooser:
    """Collects each field's value and where it came from."""

    def __init__(self) -> None:
        self.provenance: dict[str, str] = {}

    def take(self, name: str, value: str | None, origin: str) -> str | None:
        if value and name not in self.provenance:
            self.provenance[name] = origin
            return value
        return None


def _choose_title(
    h1s: list[LexborNode], meta: Metadata
) -> tuple[str | None, str, LexborNode | None]:
    """The headline, where it came from, and its <h1> when the page shows it."""
    headings = [(node_text(h), h) for h in h1s]
    headings = [(text, h) for text, h in headings if text]
    folded = [_folded(heading) for heading, _ in headings]  # as _same_text compares them
    for candidate in meta.titles:
        value = _folded(candidate.value)
        for (heading, node), key in zip(headings, folded, strict=True):
            if key == value or (len(heading) >= 15 and value.startswith(heading.casefold())):
                return heading, "h1", node
    if len(headings) == 1:
        return headings[0][0], "h1", headings[0][1]
    for candidate in meta.titles:
        value = candidate.value
        if candidate.origin != "json-ld:headline":
            value = _TITLE_SUFFIX.sub("", value)
        if value:
            for heading, node in headings:
                if _same_text(heading, value):
                    return value, candidate.origin, node
            return value, candidate.origin, None
    return (headings[0][0], "h1", headings[0][1]) if headings else (None, "", None)


def _visible_date(
    tree: LexborHTMLParser, region: list[Marked], tz: tzinfo, now: datetime | None
) -> datetime | None:
    """The first date shown in a date-classed element: near the headline, else anywhere."""
    near = [node for node, attrs in region if _date_marked(attrs)]
    return _shown_date(near, tz, now) or _shown_date(tree.css(DATE_SELECTOR)[:40], tz, now)


def _shown_date(nodes: list[LexborNode], tz: tzinfo, now: datetime | None) -> datetime | None:
    for node in nodes:
        if node.tag in ("meta", "html", "body"):
            continue
        text = node_text(node)
        # Every date form has digits (int() and \d read the same Unicode digits): most
        # date-classed elements ("Share", "Posted in World") are passed without parsing.
        if 6 <= len(text) <= 120 and _DIGIT.search(text):
            value = parse_date(text, tz, now)
            if value is not None:
                return value
    return None


def _date_marked(attrs: dict[str, str | None]) -> bool:
    return (
        _class_marks(DATE_CLASS, attrs.get("class") or "")
        or "date" in (attrs.get("id") or "")
        or attrs.get("itemprop") == "datePublished"
    )


def _byline(tree: LexborHTMLParser, region: list[Marked]) -> str | None:
    """The text of the first author-marked element: near the headline, else anywhere."""
    for node, attrs in region:
        if (
            attrs.get("rel") == "author"
            or attrs.get("itemprop") == "author"
            or _class_marks(AUTHOR_CLASS, attrs.get("class") or "")
        ):
            text = node_text(node)
            if 2 <= len(text) <= 80:
                return text
    first = tree.css_first(AUTHOR_SELECTOR)
    text = node_text(first) if first is not None else ""
    return text if 2 <= len(text) <= 80 else None


@lru_cache(maxsize=4096)
def _class_marks(pattern: re.Pattern[str], words: str) -> bool:
    return pattern.search(words) is not None


def _meta_date(
    candidates: Iterable[Candidate], tz: tzinfo, now: datetime | None
) -> tuple[datetime | None, str]:
    """The first parseable date; a date without a time yields to a later one with a time."""
    day_only: tuple[datetime, str] | None = None
    for candidate in candidates:
        value = parse_iso_or_rfc(candidate.value, tz, now) or parse_date(candidate.value, tz, now)
        if value is None:
            continue
        if _DAY_ONLY.match(candidate.value):
            day_only = day_only or (value, candidate.origin)
            continue
        if day_only is None or value.date() == day_only[0].date():
            return value, candidate.origin
    return day_only if day_only else (None, "")


def _content_image(tree: LexborHTMLParser, base: str) -> str | None:
    for img in tree.css("article img, [itemprop=articleBody] img, main img, body img")[:30]:
        attrs = img.attributes
        for key in ("data-src", "data-original", "data-lazy-src", "src"):
            value = attrs.get(key)
            if value and not value.startswith("data:"):
                return _http_url(value, base)
        srcset = attrs.get("data-srcset") or attrs.get("srcset")
        if srcset:
            return _http_url(srcset.split(",")[0], base)
    return None


def _after_title(blocks: list[Block], title: str | None) -> list[Block]:
    """Body blocks after the headline (when the content holds it), without other <h1>s."""
    for index, block in enumerate(blocks[: MAX_BLOCKS_BEFORE_TITLE + 1]):
        if block.tag == "h1" and (title is None or _same_text(block.text, title)):
            blocks = blocks[index + 1 :]
            break
    return [block for block in blocks if block.tag != "h1"]


def _rule_blocks(tree: LexborHTMLParser, css: str) -> list[Block]:
    return text_blocks(select_nodes(tree, parse_selector(css)))


def _select(tree: LexborHTMLParser, css: str | None) -> str | None:
    return select_first(tree, parse_selector(css)) if css else None


def extract(
    html: str | bytes,
    url: str,
    rules: ArticleRules | None = None,
    *,
    tz: tzinfo = DEFAULT_TIMEZONE,
    now: datetime | None = None,
) -> Article:
    """Extract an article from a page. Naive dates are read in `tz`; dates after `now` dropped."""
    text = decode_document(html) if isinstance(html, bytes) else html
    if text.count("<") > DEEP_NESTING_TAGS:
        text = flatten_deep_nesting(text)
    tree = LexborHTMLParser(text)
    body_rule = rules.body if rules is not None else None
    removed = rules.remove if rules is not None else []
    chooser = _Chooser()
    take = chooser.take
    # The generic body scan also finds the page's <h1>s (the headline candidates).
    content: Content | None = None
    found_blocks: list[Block] = []
    times: Iterable[Candidate] = shown_times(tree)
    if not body_rule and not removed and tree.body is not None:
        # One scan of the body for the content and the metadata (see _BODY_SCAN).
        content, found_blocks = extract_body(tree, tree.body.css(_BODY_SCAN))
        meta = read_metadata(tree, content.others)
    else:
        meta = read_metadata(tree)
        if removed:
            times = list(times)  # the page's metadata, read before anything is removed
        for css in removed:
            for node in select_nodes(tree, parse_selector(css)):
                if node.parent is not None:
                    node.decompose()
        if not body_rule:
            content, found_blocks = extract_body(tree)
    base = (join_url(url, meta.base) if meta.base else None) or url  # an invalid <base> is ignored

    title = take("title", _select(tree, rules.title if rules else None), "selector")
    heading: LexborNode | None = None
    if title is None:
        h1s = content.headings if content is not None else tree.css("h1")
        found, origin, heading = _choose_title(h1s, meta)
        title = take("title", found, origin)

    root: LexborNode | None = None
    if body_rule:
        body_blocks = _rule_blocks(tree, body_rule)
        chooser.provenance["blocks"] = "selector"
    else:
        root = content.roots[0] if content is not None and content.roots else None
        body_blocks = _after_title(found_blocks, title)
        chooser.provenance["blocks"] = "generic"
    # Lead, byline and dateline sit between the headline and the body.
    region = headline_region(heading, root) if root is not None else []

    published: datetime | None = None
    raw_date = _select(tree, rules.date if rules else None)
    if raw_date:
        published = parse_date(raw_date, tz, now)
        if published is not None:
            chooser.provenance["published"] = "selector"
    if published is None:
        published, origin = _meta_date(chain(meta.published, times), tz, now)
        if published is not None:
            day_only = published.hour == published.minute == published.second == 0
            chooser.provenance["published"] = origin + (":day" if day_only else "")
    if published is None or chooser.provenance.get("published", "").endswith(":day"):
        visible = _visible_date(tree, region, tz, now)
        if visible is not None and (published is None or visible.date() == published.date()):
            published = visible
            chooser.provenance["published"] = "visible-text"

    image = take(
        "image", _http_url(_select(tree, rules.image if rules else None), base), "selector"
    )
    for candidate in meta.images:
        image = image or take("image", _http_url(candidate.value, base), candidate.origin)
    image = image or take("image", _content_image(tree, base), "content-img")

    author = take("author", _select(tree, rules.author if rules else None), "selector")
    for candidate in meta.authors:
        author = author or take("author", candidate.value, candidate.origin)
    if author is None:
        author = take("author", _byline(tree, region), "visible-text")

    canonical = _http_url(meta.canonical, base)
    lead = take("summary", _select(tree, rules.lead if rules else None), "selector")

    if lead is None:
        found, origin = find_lead(title, region, root, body_blocks, meta.descriptions)
        lead = take("summary", found, origin)
    blocks = [block.text for block in body_blocks]
    # Compared as _same_text does, each side collapsed and case-folded once.
    repeats = {_folded(text) for text in (title, lead) if text}
    while blocks and _folded(blocks[0]) in repeats:
        blocks.pop(0)
    if lead is not None:
        # The lead shown again a few paragraphs down (after a caption, or a dek the page
        # repeats in its text) is said once.
        folded_lead = _folded(lead)
        for position, text in enumerate(blocks[:MAX_BLOCKS_BEFORE_LEAD]):
            if _folded(text) == folded_lead:
                del blocks[position]
                break
    if lead is None:
        for candidate in meta.descriptions:
            index = opening_copy(blocks, candidate.value)
            if index is not None:
                lead = take("summary", blocks.pop(index), f"first-block~{candidate.origin}")
                break
        else:
            for candidate in meta.descriptions:
                lead = lead or take("summary", candidate.value, candidate.origin)

    return Article(
        url=url,
        title=_nfc(title),
        published=published,
        summary=_nfc(lead),
        image=image,
        author=_nfc(author),
        blocks=_nfc_blocks(blocks),
        canonical=canonical,
        provenance=MappingProxyType(chooser.provenance),
    )


__all__ = ["Article", "extract"]
