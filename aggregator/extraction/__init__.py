"""Article extraction: page HTML + optional per-site rules -> Article. Pure: no I/O.

Each field goes through a fallback chain, recording where its value came from in
`Article.provenance`: per-site selector, then JSON-LD, then meta tags, then the visible page.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser, LexborNode

from aggregator.charset import decode_document
from aggregator.extraction.body import BOILERPLATE, Block, extract_body, marks, text_blocks
from aggregator.extraction.dates import parse_date, parse_iso_or_rfc
from aggregator.extraction.metadata import Candidate, Metadata, read_metadata
from aggregator.models import Article
from aggregator.selectors import collapse, node_text, parse_selector, select_first, select_nodes

if TYPE_CHECKING:
    from aggregator.config import ArticleRules

DEFAULT_TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")

# Elements whose class names them the lead (sapo, standfirst, dek) shown under the headline.
LEAD_SELECTOR = (
    "[class*=sapo], [class*=chapeau], [class*=lead], [class*=summary], [class*=desc],"
    " [class*=excerpt], [class*=standfirst], [class*=intro], [class*=dek], [class*=subtitle],"
    " [class*=sub-title], [class*=subhead], [class*=teaser], [class*=abstract], [id*=sapo],"
    " [itemprop=description]"
)
# Elements that may show the meta description as an unnamed lead, and how many of its first
# words must match (after at most MAX_PREFIX_WORDS words of an agency prefix).
DESCRIPTION_TAGS = "h2, h3, h4, p, strong, b, em"
DESCRIPTION_WORDS = 8
MAX_PREFIX_WORDS = 4
MAX_OPENING_CHARS = 400
# An agency label written just before the lead ("(VTC News) -") belongs to it.
INLINE_PREFIX_TAGS = frozenset({"span", "strong", "b", "em", "i"})
MAX_PREFIX_CHARS = 40
# A lead inside the content is one of its first few blocks.
LEAD_BLOCKS = 3
# Blocks before the headline inside the content (kicker, breadcrumb) are dropped up to this.
MAX_BLOCKS_BEFORE_TITLE = 6
DATE_SELECTOR = (
    "[class*=date], [class*=time], [class*=publish], [class*=posted], [itemprop=datePublished],"
    " [id*=date], [class*=meta]"
)
AUTHOR_SELECTOR = "[rel=author], [itemprop=author], [class*=author], [class*=byline]"
_LEAD_LENGTH = (30, 1500)
# A meta description shorter than this is not compared with the first paragraph.
MIN_DESCRIPTION_WORDS = 6
_WORD = re.compile(r"\w+")
_DAY_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")
_TITLE_SUFFIX = re.compile(r"\s+[|\-–—:]\s+[^|\-–—:]{2,60}$")


def _normalize(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _nfc(text: str | None) -> str | None:
    return None if text is None else _normalize(text)


def _same_text(a: str, b: str) -> bool:
    return collapse(a).casefold() == collapse(b).casefold()


def _http_url(value: str | None, base: str) -> str | None:
    if not value:
        return None
    value = value.strip().split()[0] if value.strip() else ""
    if value.startswith("//"):
        value = f"{urlsplit(base).scheme or 'https'}:{value}"
    url = urljoin(base, value)
    return url if urlsplit(url).scheme in ("http", "https") else None


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
    tree: LexborHTMLParser, meta: Metadata
) -> tuple[str | None, str, LexborNode | None]:
    """The headline, where it came from, and its <h1> when the page shows it."""
    headings = [(node_text(h), h) for h in tree.css("h1")]
    headings = [(text, h) for text, h in headings if text]
    for candidate in meta.titles:
        for heading, node in headings:
            if _same_text(heading, candidate.value) or (
                len(heading) >= 15
                and collapse(candidate.value).casefold().startswith(heading.casefold())
            ):
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


def _visible_date(tree: LexborHTMLParser, tz: tzinfo, now: datetime | None) -> datetime | None:
    for node in tree.css(DATE_SELECTOR)[:40]:
        if node.tag in ("meta", "html", "body"):
            continue
        text = node_text(node)
        if 6 <= len(text) <= 120:
            value = parse_date(text, tz, now)
            if value is not None:
                return value
    return None


def _meta_date(
    candidates: list[Candidate], tz: tzinfo, now: datetime | None
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


def _doc_order(root: LexborNode, wanted: set[int]) -> dict[int, int]:
    """Document positions of the wanted elements (by mem_id), walking only as far as needed."""
    found: dict[int, int] = {}
    for index, node in enumerate(root.traverse()):
        key = node.mem_id
        if key in wanted:
            found[key] = index
            if len(found) == len(wanted):
                break
    return found


def _common_ancestor(first: LexborNode, second: LexborNode) -> LexborNode | None:
    lineage: set[int] = set()
    node: LexborNode | None = first
    while node is not None:
        lineage.add(node.mem_id)
        node = node.parent
    node = second
    while node is not None and node.mem_id not in lineage:
        node = node.parent
    return node


def _lead_candidates(scope: LexborNode, title: str | None) -> list[tuple[LexborNode, str]]:
    found = []
    for node in scope.css(LEAD_SELECTOR):
        if node.tag in ("meta", "html", "body", "h1"):
            continue
        text = node_text(node)
        if not _LEAD_LENGTH[0] <= len(text) <= _LEAD_LENGTH[1] or text == title:
            continue
        words = marks(node)
        if words and BOILERPLATE.search(words):
            continue
        found.append((node, text))
    return found


def _find_lead(
    tree: LexborHTMLParser,
    title: str | None,
    heading: LexborNode | None,
    roots: list[LexborNode],
    blocks: list[str],
    descriptions: list[Candidate],
) -> tuple[str | None, str]:
    """The visible lead and how it was found: a lead-classed element, else one showing the
    meta description, placed after the headline and before (or atop) the body."""
    body = tree.body
    if body is None:
        return None, ""
    # The lead sits between the headline and the body: inside their common ancestor.
    scope: LexborNode | None = body
    if heading is not None and roots:
        scope = _common_ancestor(heading, roots[0])
    elif roots:
        scope = roots[0].parent
    hinted = _lead_candidates(scope or body, title)
    found = _placed_lead(body, hinted, heading, roots, blocks)
    if found is not None:
        return found, "visible-text"
    # Only now look for an unnamed dek: it costs a scan of the scope.
    shown = _description_candidates(scope or body, descriptions, title)
    found = _placed_lead(body, shown, heading, roots, blocks)
    return (found, "visible-text~meta") if found is not None else (None, "")


def _placed_lead(
    body: LexborNode,
    candidates: list[tuple[LexborNode, str]],
    heading: LexborNode | None,
    roots: list[LexborNode],
    blocks: list[str],
) -> str | None:
    """The first candidate after the headline and before (or atop) the body, not wrapping it."""
    if not candidates:
        return None
    wanted = {node.mem_id for node, _ in candidates}
    if heading is not None:
        wanted.add(heading.mem_id)
    if roots:
        wanted.add(roots[0].mem_id)
    order = _doc_order(body, wanted)
    after = order.get(heading.mem_id, -1) if heading is not None else -1
    start = order.get(roots[0].mem_id) if roots else None
    first_blocks = blocks[:LEAD_BLOCKS]
    for node, text in candidates:
        index = order.get(node.mem_id)
        if index is None or index <= after or _wraps_body(text, blocks):
            continue
        if (start is not None and index < start) or text in first_blocks:
            return text
    return None


def _description_candidates(
    scope: LexborNode, descriptions: list[Candidate], title: str | None
) -> list[tuple[LexborNode, str]]:
    """Elements showing the meta description (an unnamed dek), with an agency prefix
    ("(VTC News) -") written just before them."""
    openings = [
        words[:DESCRIPTION_WORDS] for c in descriptions if (words := _WORD.findall(c.value))
    ]
    openings = [words for words in openings if len(words) >= MIN_DESCRIPTION_WORDS]
    if not openings:
        return []
    first_words = {opening[0] for opening in openings}
    found = []
    for node in scope.css(DESCRIPTION_TAGS):
        raw = node.text(deep=True)
        # Cheap filters first: most elements are far too short or too long, or start otherwise.
        if not _LEAD_LENGTH[0] <= len(raw) <= 2 * _LEAD_LENGTH[1]:
            continue
        words = _WORD.findall(raw[:MAX_OPENING_CHARS])
        starts = [i for i, word in enumerate(words[: MAX_PREFIX_WORDS + 1]) if word in first_words]
        if not any(words[i : i + len(o)] == o for o in openings for i in starts):
            continue
        text = collapse(raw)
        if not _LEAD_LENGTH[0] <= len(text) <= _LEAD_LENGTH[1] or text == title:
            continue
        prefix = node.prev
        while (
            prefix is not None and prefix.is_text_node and not (prefix.text_content or "").strip()
        ):
            prefix = prefix.prev
        if prefix is not None and prefix.tag in INLINE_PREFIX_TAGS:
            label = node_text(prefix)
            if 0 < len(label) <= MAX_PREFIX_CHARS:
                text = f"{label} {text}"
        found.append((node, text))
    return found


def _wraps_body(text: str, blocks: list[str]) -> bool:
    """True when text holds one of the first body blocks and more: a wrapper, not a lead."""
    return any(block in text and block != text for block in blocks[:LEAD_BLOCKS])


def _opening_copy(blocks: list[str], description: str) -> int | None:
    """The index of the first paragraph when the description copies the text from there on.

    Descriptions are often the opening paragraphs cut short (the last word may be cut off).
    """
    words = _WORD.findall(description)[:-1]
    if len(words) < MIN_DESCRIPTION_WORDS:
        return None
    for index in range(min(len(blocks), LEAD_BLOCKS + 2)):
        found: list[str] = []
        for block in blocks[index:]:
            found += _WORD.findall(block)
            if len(found) >= len(words):
                break
        if found[: len(words)] == words:
            return index
    return None


def _after_title(blocks: list[Block], title: str | None) -> list[str]:
    """Body texts after the headline (when the content holds it), without other <h1>s."""
    for index, block in enumerate(blocks[: MAX_BLOCKS_BEFORE_TITLE + 1]):
        if block.tag == "h1" and (title is None or _same_text(block.text, title)):
            blocks = blocks[index + 1 :]
            break
    return [block.text for block in blocks if block.tag != "h1"]


def _rule_blocks(tree: LexborHTMLParser, css: str) -> list[str]:
    return [block.text for block in text_blocks(select_nodes(tree, parse_selector(css)))]


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
    tree = LexborHTMLParser(decode_document(html) if isinstance(html, bytes) else html)
    meta = read_metadata(tree)
    base = urljoin(url, meta.base) if meta.base else url
    chooser = _Chooser()
    take = chooser.take

    if rules is not None:
        for css in rules.remove:
            for node in select_nodes(tree, parse_selector(css)):
                if node.parent is not None:
                    node.decompose()

    title = take("title", _select(tree, rules.title if rules else None), "selector")
    heading: LexborNode | None = None
    if title is None:
        found, origin, heading = _choose_title(tree, meta)
        title = take("title", found, origin)

    published: datetime | None = None
    raw_date = _select(tree, rules.date if rules else None)
    if raw_date:
        published = parse_date(raw_date, tz, now)
        if published is not None:
            chooser.provenance["published"] = "selector"
    if published is None:
        published, origin = _meta_date(meta.published, tz, now)
        if published is not None:
            day_only = published.hour == published.minute == published.second == 0
            chooser.provenance["published"] = origin + (":day" if day_only else "")
    if published is None or chooser.provenance.get("published", "").endswith(":day"):
        visible = _visible_date(tree, tz, now)
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
    byline = tree.css_first(AUTHOR_SELECTOR) if author is None else None
    if byline is not None and 2 <= len(node_text(byline)) <= 80:
        author = take("author", node_text(byline), "visible-text")

    canonical = _http_url(meta.canonical, base)
    lead = take("summary", _select(tree, rules.lead if rules else None), "selector")

    roots: list[LexborNode] = []
    if rules is not None and rules.body:
        blocks = _rule_blocks(tree, rules.body)
        chooser.provenance["blocks"] = "selector"
    else:
        roots, found_blocks = extract_body(tree)
        blocks = _after_title(found_blocks, title)
        chooser.provenance["blocks"] = "generic"

    if lead is None:
        found, origin = _find_lead(tree, title, heading, roots, blocks, meta.descriptions)
        lead = take("summary", found, origin)
    while blocks and (
        (title and _same_text(blocks[0], title)) or (lead and _same_text(blocks[0], lead))
    ):
        blocks.pop(0)
    if lead is None:
        for candidate in meta.descriptions:
            index = _opening_copy(blocks, candidate.value)
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
        blocks=tuple(_normalize(block) for block in blocks),
        canonical=canonical,
        provenance=MappingProxyType(chooser.provenance),
    )


__all__ = ["Article", "extract"]
