"""Generic main-content extraction: parsed page -> the article body's text blocks, in order.

find_content scores containers by the paragraph text under them (readability-style: class-word
factors, a link-density penalty, widening to an ancestor when the text is split) and returns
the winner plus its sibling candidates, or the parts of an article split over containers of
one tag and class, or the <article> holding the headline when the winner is a list of
<article>s; text_blocks walks elements once, iteratively, and returns their block-level texts;
extract_body ties them together, pruning boilerplate inside the content and dropping link
lists. The page is never mutated, every walk is iterative and no element's text is read once
per ancestor, so cost stays linear in page size and deep nesting cannot hit the recursion
limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from selectolax.lexbor import LexborHTMLParser, LexborNode

from aggregator.selectors import collapse

# Never article text: not scored, not walked.
JUNK_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "svg", "canvas", "button", "select",
        "input", "textarea", "object", "embed", "video", "audio", "map", "dialog",
    }
)  # fmt: skip
# Reader comments (class/id words): their paragraphs would outscore a short article.
COMMENT_MARKS = re.compile(r"comment|disqus|respond|discussion", re.IGNORECASE)
# Elements that hold the body text: each one's text scores its nearest ancestors.
PARAGRAPHS = frozenset({"p", "pre", "td", "blockquote"})
# Containers whose own (direct) text counts as a paragraph: `<div>text<br>text</div>` pages.
TEXT_CONTAINERS = frozenset({"div", "section", "article", "main", "font", "span"})
# One scan finds the scored elements and the headlines. A container scores by its own text
# only, so those with no child but comments (CSS :empty) are left out: hundreds of icon <span>s
# and spacer <div>s on some pages, each a text read for nothing.
SCANNED = ", ".join(sorted([*PARAGRAPHS, "h1", *(f"{tag}:not(:empty)" for tag in TEXT_CONTAINERS)]))
# Class/id words (matched anywhere in the class and id values) that raise or lower a container.
POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|post|text|blog|story|detail|noi-?dung",
    re.IGNORECASE,
)
NEGATIVE = re.compile(
    r"comment|com-|contact|foot|masthead|meta|outbrain|taboola|promo|related|relate|scroll|"
    r"share|shoutbox|sidebar|skyscraper|sponsor|shopping|tags|tool|widget|banner|combx|"
    r"(?:^|[\s_-])ads?(?:$|[\s_-])|advert|popup|modal|cookie|newsletter|subscribe|recommend|"
    r"social|nav|menu|breadcrumb|byline|author|caption|hidden",
    re.IGNORECASE,
)
# Multipliers of a container's score for positive / negative class words (both: neutral).
# Multiplying, not adding, keeps a one-paragraph wrapper named "paragraph" or "card-content"
# from outscoring the element that holds all the paragraphs.
POSITIVE_FACTOR = 1.5
NEGATIVE_FACTOR = 0.5
# Where a word part of a class or id value starts or ends: a separator, or a lowercase letter
# followed by a capital (camelCase names: "PromoSmall", "relatedLinks").
_WORD_EDGE = r"(?:[\s_-]|(?-i:(?<=[a-z])(?=[A-Z])))"
# Class or id words that mark boilerplate inside the content (matched on word parts).
BOILERPLATE = re.compile(
    rf"(?:^|{_WORD_EDGE})"
    r"(?:related|relate|share|sharing|social|comments?|tags?|tag-list|keywords?|"
    r"breadcrumbs?|advert\w*|adblock\w*|ads|adv|banner|menu|navbar|popup|newsletter|subscribe|"
    r"widget|toolbar|print|rating|most-?read|more-?news|tin-?lien-?quan|lienquan|xem-?them|"
    r"box-?tin|cookie|promo|outbrain|taboola|recommended|read-?more|signup|paywall|modal|"
    r"gallery|slideshow|carousel|swiper|lightbox|disqus|trending)"
    rf"(?:$|{_WORD_EDGE})",
    re.IGNORECASE,
)
# Class or id words of the byline and dateline above an article's text (dropped there only:
# a closing byline is part of the article).
LEADING_MARKS = re.compile(
    r"byline|author|dateline|timestamp|date|posted|publish|"
    r"(?:^|[\s_-])(?:time|meta|info|credit)(?:$|[\s_-])",
    re.IGNORECASE,
)
# Class words of text shown only to screen readers ("Image caption" labels and the like).
SCREEN_READER = re.compile(
    r"(?:^|[\s_-])(?:sr-only|visually-?hidden|screen-?reader(?:-text)?|off-?screen|a11y-only|"
    r"element-invisible)(?:$|[\s_])",
    re.IGNORECASE,
)
# The whole text of the label over an ad slot, a comment box, a tag list or a share bar (an
# ad slot's label is left when its script never ran; casefolded; several languages).
SLOT_LABELS = frozenset(
    {
        "advertisement", "advertisements", "advert", "adverts", "ad", "ads", "sponsored",
        "anzeige", "werbung", "publicidad", "publicidade", "publicité", "pubblicità", "iklan",
        "реклама", "quảng cáo", "comments", "comment", "tags", "topics", "share", "subscribe",
    }
)  # fmt: skip
LABEL_PUNCTUATION = " .:-–—|()[]"
MAX_LABEL_CHARS = 20
# A block this long is prose: after it, bylines and datelines are kept.
PROSE_CHARS = 80
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Tags that are navigation or page chrome when they sit inside the content.
CHROME_TAGS = frozenset({"nav", "aside", "footer", "form", "header"})
# A marked element is never pruned when its paragraphs score at least this share of the best
# container's (a layout naming the article column "sidebar-1" or "has-ads").
PROTECTED_SHARE = 0.5
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "thead", "tfoot", "td", "th", "tr", "ul", "caption", "center", "br",
    }
)  # fmt: skip
SKIP_TAGS = JUNK_TAGS | {"img", "picture", "source", "head", "title", "meta", "link"}
# A block whose text is mostly link text is navigation or a related-articles list.
MAX_LINK_DENSITY = 0.5
# A block that is one web address, shown as its own text.
BARE_URL = re.compile(r"(?:https?://|www\.)\S+$", re.IGNORECASE)
# How far up from a link-dense block a <blockquote> holding it is looked for.
MAX_QUOTE_CLIMB = 3
MIN_PARAGRAPH = 25
# Candidates kept for the link-density pass (bounds the text re-reads on deep nesting).
TOP_CANDIDATES = 8
# Tag bonuses for a candidate container (readability's initial scores).
TAG_SCORE = {"div": 5.0, "article": 8.0, "main": 5.0, "section": 3.0, "pre": 3.0,
             "td": 3.0, "blockquote": 3.0, "form": -3.0, "ol": -3.0, "ul": -3.0, "dl": -3.0,
             "li": -3.0, "th": -5.0, "h1": -5.0, "h2": -5.0, "h3": -5.0}  # fmt: skip
# A paragraph's score goes to its ancestors, divided by these (Readability.js: 1, 2, level*3).
ANCESTOR_DIVIDERS = (1.0, 2.0, 6.0, 9.0, 12.0)
SIBLING_SHARE = 0.2
# A container with the best one's tag and class, scoring at least this share of it, holds
# another part of the same article; more such containers than MAX_SPLIT_PARTS are a list of
# items (comments, teasers) instead.
SPLIT_SHARE = 0.3
MAX_SPLIT_PARTS = 5
# An ancestor of the best container holding this many candidates scoring within CLOSE_SCORE
# of it holds the whole article (an article split over several columns or sections).
MIN_CLOSE = 3
CLOSE_SCORE = 0.7
# How far up from a node the widening rules look.
MAX_CLIMB = 10
# A sibling <p> joins the content when it reads like prose (readability's rule).
LONG_SIBLING = 80
MAX_SIBLING_LINKS = 0.25
SENTENCE_END = re.compile(r"\.( |$)")
MIN_SIBLING_SCORE = 10.0

_TAG_PROBES = (LexborHTMLParser(""), LexborHTMLParser(""))


def tag_ids(names: Iterable[str]) -> frozenset[int]:
    """Lexbor's ids of HTML tag names, to test `node.tag_id` (an int read) in the hot loops
    rather than `node.tag` (a new string per call). HTML's own tags have fixed ids, the same in
    every document; any other name gets a per-document id, so it is refused."""
    found = set()
    for name in names:
        first, second = (probe.create_node(name).tag_id for probe in _TAG_PROBES)
        if first != second:
            raise ValueError(f"not an HTML tag with a fixed id: {name!r}")
        found.add(first)
    return frozenset(found)


def tag_id(name: str) -> int:
    """Lexbor's fixed id of one HTML tag name (see tag_ids)."""
    return next(iter(tag_ids([name])))


_ID = {name: tag_id(name) for name in ("a", "p", "h1", "br", "hr", "article", "body", "blockquote")}
_A, _P, _H1, _BR, _HR, _ARTICLE, _BODY, _BLOCKQUOTE = _ID.values()
_PAGE_IDS = tag_ids(("body", "html"))
_TEXT_CONTAINER_IDS = tag_ids(TEXT_CONTAINERS)
_BLOCK_INSIDE_IDS = tag_ids(BLOCK_TAGS - {"br"})
_PARAGRAPH_IDS = tag_ids(PARAGRAPHS)
_BLOCK_IDS = tag_ids(BLOCK_TAGS)
# Node kinds by tag id: text nodes, and the nodes that are neither text nor element (comments
# and processing instructions), which text_blocks passes like skipped elements.
_KINDS_PROBE = LexborHTMLParser("t<!--c--><?x?>").body
_TEXT, _COMMENT, _OTHER_NODE = (
    node.tag_id for node in (_KINDS_PROBE.iter(include_text=True) if _KINDS_PROBE else ())
)
_SKIP_IDS = tag_ids(SKIP_TAGS) | {_COMMENT, _OTHER_NODE}
_CHROME_IDS = tag_ids(CHROME_TAGS)
_TAG_SCORE_BY_ID = {tag_id(name): score for name, score in TAG_SCORE.items()}
"""The tags of the elements find_content scores (those matching its scan selector)."""


class Block(NamedTuple):
    """One block of text, the tag that holds it, how much of it is link text, and the element
    that holds it (None for text directly under no element)."""

    text: str
    tag: str
    link_chars: int
    node: LexborNode | None = None

    @property
    def link_density(self) -> float:
        """The share of the text that sits inside links."""
        return self.link_chars / len(self.text) if self.text else 0.0


def marks(node: LexborNode) -> str:
    """The node's class and id values, space-joined ("" when it has neither)."""
    attrs = node.attributes
    if not attrs:
        return ""
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''}".strip()


def _link_chars(node: LexborNode) -> int:
    return sum(len(a.text().strip()) for a in node.css("a"))


@lru_cache(maxsize=4096)
def _class_traits(words: str) -> tuple[float, bool]:
    """The score factor class/id words give, and whether they name reader comments."""
    if not words:
        return 1.0, False
    comment = COMMENT_MARKS.search(words) is not None
    negative = NEGATIVE.search(words) is not None
    if POSITIVE.search(words):
        return (1.0 if negative else POSITIVE_FACTOR), comment
    return (NEGATIVE_FACTOR if negative else 1.0), comment


@dataclass(slots=True)
class _Candidate:
    node: LexborNode
    base: float
    """From the tag."""
    factor: float
    """From the class/id words."""
    comment: bool
    """Named as reader comments."""
    content: float
    """From the paragraphs under the node."""
    link_density: float = 0.0

    @property
    def score(self) -> float:
        return (self.base + self.content) * self.factor * (1.0 - self.link_density)


def _link_density(node: LexborNode) -> float:
    length = len(node.text().strip())
    return min(_link_chars(node) / length, 1.0) if length else 1.0


def _raw_scores(
    nodes: list[LexborNode], stop: frozenset[int]
) -> tuple[dict[int, _Candidate], list[LexborNode], list[LexborNode], list[LexborNode]]:
    """Container scores from the scored elements (in document order), the <h1>s among them,
    the nodes of other tags, left unscored (both in document order), and the <blockquote>s.

    A paragraph's score goes to its nearest ancestors, up to (not into) the elements in stop.
    The elements are read last to first, so an element is read after everything inside it: a
    td, blockquote or pre holding another of them counts only its direct text (it is then a
    container), which keeps nested tables and quotes linear instead of re-reading them whole.
    """
    candidates: dict[int, _Candidate] = {}
    holders: set[int] = set()
    """Elements with a td, blockquote or pre below them."""
    headings: list[LexborNode] = []
    others: list[LexborNode] = []
    quotes: list[LexborNode] = []
    lineages: dict[int, tuple[tuple[_Candidate, float], ...] | None] = {}
    for node in reversed(nodes):
        tag = node.tag_id
        # text(False) is text(deep=False): positional arguments are parsed faster, and this
        # runs for every scanned element (most of them containers, most too short to count).
        if tag in _TEXT_CONTAINER_IDS:
            text = node.text(False)
            if len(text) < MIN_PARAGRAPH:
                continue
            holder: LexborNode | None = node
        elif tag == _H1:
            headings.append(node)
            continue
        elif tag in _PARAGRAPH_IDS:
            if node.mem_id in holders:
                text = node.text(False)
                holder = node
            else:
                text = node.text()
                holder = node.parent
            if tag != _P:
                if tag == _BLOCKQUOTE:
                    quotes.append(node)
                # Stops at the first ancestor already marked: each element is marked once.
                parent = node.parent
                while parent is not None and parent.mem_id not in holders:
                    holders.add(parent.mem_id)
                    parent = parent.parent
            if len(text) < MIN_PARAGRAPH:
                continue
        else:
            others.append(node)
            continue
        text = text.strip()
        if len(text) < MIN_PARAGRAPH or holder is None:
            continue
        # Paragraphs mostly share their parent: its lineage is walked once.
        key = holder.mem_id
        lineage = lineages.get(key, ())
        if lineage == ():
            lineage = lineages[key] = _lineage(holder, candidates, stop)
        if lineage is not None:
            # The paragraph's score (readability's: one point, one per comma, one per 100
            # characters up to three).
            score = 1.0 + text.count(",") + text.count("，") + min(len(text) / 100, 3.0)
            for found, divider in lineage:
                found.content += score / divider
    headings.reverse()
    others.reverse()
    return candidates, headings, others, quotes


def _lineage(
    node: LexborNode, candidates: dict[int, _Candidate], stop: frozenset[int]
) -> tuple[tuple[_Candidate, float], ...] | None:
    """The candidates for the node and its nearest ancestors (created as needed), up to the
    elements in stop, each with the divider of the score a paragraph gives it; None inside
    reader comments."""
    lineage: list[tuple[_Candidate, float]] = []
    parent: LexborNode | None = node
    for divider in ANCESTOR_DIVIDERS:
        if parent is None:
            break
        key = parent.mem_id
        if key in stop:
            break
        found = candidates.get(key)
        if found is None:
            attrs = parent.attributes
            factor, comment = _class_traits(
                f"{attrs.get('class') or ''} {attrs.get('id') or ''}".strip() if attrs else ""
            )  # marks(parent), inlined
            found = candidates[key] = _Candidate(
                parent, _TAG_SCORE_BY_ID.get(parent.tag_id, 0.0), factor, comment, 0.0
            )
        if found.comment:
            return None  # a reader's comment, not the article
        lineage.append((found, divider))
        parent = parent.parent
    return tuple(lineage)


@dataclass(frozen=True, slots=True)
class Content:
    """The elements holding the article text, in document order; the mem_ids of elements
    inside them that carry much of its paragraph text (never pruned as boilerplate); the
    page's <h1>s, found by the same scan; and the scan's other elements."""

    roots: list[LexborNode]
    protected: frozenset[int]
    headings: list[LexborNode]
    others: list[LexborNode] = field(default_factory=list)
    """The elements of the `scanned` list given to find_content that it does not score."""


def find_content(tree: LexborHTMLParser, scanned: list[LexborNode] | None = None) -> Content:
    """The best-scoring container and its sibling candidates, or the body when nothing scores.

    `scanned` is the body's elements matching SCANNED, in document order, when the caller
    has them already: a scan shared with other readers of the page, whose other elements
    (of tags other than those SCANNED selects) come back unscored in Content.others.
    """
    body = tree.body
    if body is None:
        return Content([], frozenset(), [])
    stop = frozenset(node.mem_id for node in (body, body.parent) if node is not None)
    candidates, headings, others, quotes = _raw_scores(
        body.css(SCANNED) if scanned is None else scanned, stop
    )
    if not candidates:
        return Content([body], frozenset(), headings, others)
    top = sorted(candidates.values(), key=lambda c: c.score, reverse=True)[:TOP_CANDIDATES]
    # Link density only lowers a score, so it is read only for candidates that may still
    # win or count as close to the winner (a re-read of their whole text each).
    best_score = float("-inf")
    for candidate in top:
        if best_score > 0 and candidate.score < best_score * CLOSE_SCORE:
            break
        candidate.link_density = _link_density(candidate.node)
        best_score = max(best_score, candidate.score)
    best = max(top, key=lambda c: c.score)
    story = _headline_article(best, headings, candidates)
    if story is not None:
        return Content([story.node], _protected(story, candidates, quotes), headings, others)
    widened = _widen(best, top, candidates)
    parts = _split_parts(best, candidates, body) if widened is best else []
    if not parts:
        best = _only_child_up(widened, candidates)
        parts = _with_siblings(best, candidates)
    return Content(parts, _protected(best, candidates, quotes), headings, others)


def _protected(
    best: _Candidate, candidates: dict[int, _Candidate], quotes: list[LexborNode]
) -> frozenset[int]:
    """The mem_ids of the elements never pruned as boilerplate: those whose paragraphs score
    like a good share of the article, and the wrappers of quotations (an embedded post's
    "social-embed" or "widget" box holds text the article quotes)."""
    floor = best.content * PROTECTED_SHARE
    protected = {key for key, c in candidates.items() if c.content >= floor}
    quoting: set[int] = set()
    for quote in quotes:
        # Stops at the first element already walked through: each is walked once.
        parent: LexborNode | None = quote
        while parent is not None and parent.mem_id not in quoting:
            quoting.add(parent.mem_id)
            parent = parent.parent
    return frozenset(protected | quoting)


def _headline_article(
    best: _Candidate, headings: list[LexborNode], candidates: dict[int, _Candidate]
) -> _Candidate | None:
    """The <article> holding the headline when the best container is a list of <article>s
    (related posts, an archive) instead: HTML5 makes each <article> a self-contained item."""
    items = best.node.css("article")
    if len(items) - (best.node.tag_id == _ARTICLE) < 2:
        return None
    for heading in headings:
        parent = heading.parent
        while parent is not None and parent.tag_id != _ARTICLE:
            parent = parent.parent
        found = candidates.get(parent.mem_id) if parent is not None else None
        if found is not None and found is not best and found.score >= best.score * SPLIT_SHARE:
            return found
    return None


def _split_parts(
    best: _Candidate, candidates: dict[int, _Candidate], body: LexborNode
) -> list[LexborNode]:
    """The containers of an article split into several with the same tag and class as the best
    (a layout that closes the text column around each ad or pull quote), in document order;
    those nested in one another count once. [] when the article is in one container."""
    words = best.node.attributes.get("class")
    if not words:
        return []
    tag = best.node.tag
    floor = best.score * SPLIT_SHARE
    parts = [best]
    for candidate in candidates.values():
        node = candidate.node
        if (
            candidate is best
            or candidate.comment
            or (candidate.base + candidate.content) * candidate.factor < floor
            or node.tag != tag
            or node.attributes.get("class") != words
        ):
            continue
        if candidate.link_density == 0.0:
            candidate.link_density = _link_density(node)
        if candidate.score >= floor:
            parts.append(candidate)
    if not 1 < len(parts) <= MAX_SPLIT_PARTS:
        return []
    lineages = {c.node.mem_id: _lineage_ids(c.node) for c in parts}
    outer = [
        c.node
        for c in parts
        if not any(
            other != c.node.mem_id and other in lineages[c.node.mem_id] for other in lineages
        )
    ]
    order = _doc_order(body, {node.mem_id for node in outer})
    return sorted(outer, key=lambda node: order.get(node.mem_id, 0))


def _lineage_ids(node: LexborNode) -> set[int]:
    found: set[int] = set()
    parent = node.parent
    while parent is not None:
        found.add(parent.mem_id)
        parent = parent.parent
    return found


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


def _ancestors(node: LexborNode) -> list[LexborNode]:
    found: list[LexborNode] = []
    parent = node.parent
    while parent is not None and parent.tag_id not in _PAGE_IDS and len(found) < MAX_CLIMB:
        found.append(parent)
        parent = parent.parent
    return found


def _widen(
    best: _Candidate, top: list[_Candidate], candidates: dict[int, _Candidate]
) -> _Candidate:
    """Move up from the best container when the article is split over several of them
    (readability's rule: the ancestor holding several near-best candidates)."""
    close = [c for c in top if c is not best and c.score >= best.score * CLOSE_SCORE]
    if len(close) >= MIN_CLOSE:
        lineages = [{c.node.mem_id} | {a.mem_id for a in _ancestors(c.node)} for c in close]
        for ancestor in _ancestors(best.node):
            if sum(ancestor.mem_id in lineage for lineage in lineages) >= MIN_CLOSE:
                return candidates.get(ancestor.mem_id) or _Candidate(ancestor, 0.0, 1.0, False, 0.0)
    return best


def _only_child_up(best: _Candidate, candidates: dict[int, _Candidate]) -> _Candidate:
    """The outermost ancestor wrapping nothing but the best container (readability's rule)."""
    parent = best.node.parent
    while parent is not None and parent.tag_id not in _PAGE_IDS:
        if not _only_child(parent):
            break
        best = candidates.get(parent.mem_id) or _Candidate(parent, 0.0, 1.0, False, best.content)
        parent = parent.parent
    return best


def _only_child(node: LexborNode) -> bool:
    """True when the node has exactly one child element (counting stops at the second)."""
    count = 0
    for _ in node.iter():
        count += 1
        if count > 1:
            return False
    return count == 1


def _with_siblings(best: _Candidate, candidates: dict[int, _Candidate]) -> list[LexborNode]:
    """The best node and those siblings whose paragraphs score like article text."""
    parent = best.node.parent
    if parent is None or best.node.tag_id == _BODY:
        return [best.node]
    threshold = max(MIN_SIBLING_SCORE, best.score * SIBLING_SHARE)
    best_class = best.node.attributes.get("class") or ""
    chosen: list[LexborNode] = []
    for sibling in parent.iter():
        if sibling.mem_id == best.node.mem_id:
            chosen.append(sibling)
            continue
        candidate = candidates.get(sibling.mem_id)
        if candidate is not None:
            same_class = best_class and sibling.attributes.get("class") == best_class
            bonus = best.score * SIBLING_SHARE if same_class else 0.0
            # Link density only lowers the score: read it only when the rest would pass.
            if candidate.content + bonus >= threshold and (
                candidate.content * (1.0 - _link_density(sibling)) + bonus >= threshold
            ):
                chosen.append(sibling)
                continue
        tag = sibling.tag_id
        if tag == _P or (
            tag in _TEXT_CONTAINER_IDS
            and not any(_marked(marks(sibling)))
            and not _holds_blocks(sibling)
        ):
            # A paragraph, or a container with no blocks inside (readability reads it as one).
            text = collapse(sibling.text(deep=True))
            # The link text (a CSS scan) is read last, only for text that may pass.
            if (
                len(text) > LONG_SIBLING and _link_chars(sibling) / len(text) < MAX_SIBLING_LINKS
            ) or (
                0 < len(text) <= LONG_SIBLING
                and SENTENCE_END.search(text)
                and _link_chars(sibling) == 0
            ):
                chosen.append(sibling)
    return chosen


def _holds_blocks(node: LexborNode) -> bool:
    """True when a block-level element sits inside the node."""
    # A walk stopping at the first block costs less than compiling a selector of ~40 tags.
    walk = node.traverse()
    next(walk)  # the node itself
    return any(found.tag_id in _BLOCK_INSIDE_IDS for found in walk)


def _prunable(
    node: LexborNode,
    tag: int,
    attrs: dict[str, str | None],
    protected: frozenset[int],
    leading: bool,
) -> bool:
    """True for chrome or boilerplate-marked elements (`attrs` are the node's attributes) that
    do not carry the article's text.

    While leading (no prose seen yet), byline and dateline elements count as boilerplate.
    """
    style = attrs.get("style")
    if "hidden" in attrs or (style and _HIDDEN_STYLE.search(style)):
        return True
    if tag not in _CHROME_IDS:
        cls, ident = attrs.get("class"), attrs.get("id")
        if not cls and not ident:  # most elements with attributes (links, images)
            return False
        words = f"{cls or ''} {ident or ''}".strip()
        if not words:
            return False
        boilerplate, heading, unseen = _marked(words)
        if unseen:
            return True
        if tag == _A:
            return False  # a link's class names its target ("textTag"), not boilerplate
        if not (boilerplate or (leading and heading)):
            return False
    return node.mem_id not in protected


@lru_cache(maxsize=4096)
def _marked(words: str) -> tuple[bool, bool, bool]:
    """Whether class/id words mark boilerplate, a byline or dateline, and screen-reader text."""
    return (
        BOILERPLATE.search(words) is not None,
        LEADING_MARKS.search(words) is not None,
        SCREEN_READER.search(words) is not None,
    )


# What entering an element did, to undo on leaving it (text_blocks).
_NOT_OPENED, _INLINE, _BLOCK, _LINK = range(4)


def text_blocks(
    roots: LexborNode | Iterable[LexborNode], protected: frozenset[int] | None = None
) -> list[Block]:
    """The block-level texts under the roots in document order (each node visited once).

    With protected given, chrome and boilerplate-marked elements not in it are skipped.
    """
    blocks: list[Block] = []
    parts: list[str] = []
    link_chars = 0
    in_link = 0
    holders: list[LexborNode] = []
    leading = True
    kept = protected or frozenset()
    pruning = protected is not None

    def flush() -> None:
        nonlocal link_chars, leading
        text = collapse("".join(parts))
        parts.clear()
        if text:
            size = len(text)
            leading = leading and size < PROSE_CHARS
            holder = holders[-1] if holders else None
            tag = (holder.tag or "div") if holder is not None else "div"
            # Block(...) without the Python-level __new__ a NamedTuple adds.
            block = (text, tag, link_chars if link_chars < size else size, holder)
            blocks.append(tuple.__new__(Block, block))
        link_chars = 0

    for root in [roots] if isinstance(roots, LexborNode) else roots:
        # Iterative walk along the child, sibling and parent links; `opened` keeps what leaving
        # each open element does: close a block, leave a link, or nothing.
        opened: list[int] = []
        node = root
        while True:
            kind = _NOT_OPENED
            tag = node.tag_id
            if tag == _TEXT:
                text = node.text_content or ""
                if parts or not text.isspace():  # whitespace opening a block is no text
                    parts.append(text)
                    if in_link:
                        link_chars += len(text.strip())
            elif tag not in _SKIP_IDS:  # nor a comment or the like (no text, no children)
                # Only elements with attributes or a chrome tag can be pruned (not the root).
                if (
                    pruning
                    and ((attrs := node.attributes) or tag in _CHROME_IDS)
                    and node is not root
                    and _prunable(node, tag, attrs, kept, leading)
                ):
                    pass
                elif tag in _BLOCK_IDS or node is root:
                    if parts:
                        flush()
                    if tag != _BR and tag != _HR:
                        holders.append(node)
                        kind = _BLOCK
                elif tag == _A:
                    in_link += 1
                    kind = _LINK
                else:
                    kind = _INLINE
            if kind != _NOT_OPENED:
                child = node.first_child
                if child is not None:
                    if child.tag_id != _TEXT or child.next is not None:
                        opened.append(kind)
                        node = child
                        continue
                    # One text node and nothing else (most paragraphs, links, emphasis): read
                    # in place, as the walk would, without going down to it and back up.
                    text = child.text_content or ""
                    if parts or not text.isspace():
                        parts.append(text)
                        if in_link:
                            link_chars += len(text.strip())
                # Leave the element (empty, or holding one text node).
                if kind == _BLOCK:
                    if parts:
                        flush()
                    holders.pop()
                elif kind == _LINK:
                    in_link -= 1
            # On to the next sibling, leaving (closing) the elements that have none.
            while node is not root:
                sibling = node.next
                if sibling is not None:
                    node = sibling
                    break
                left = opened.pop()
                if left == _BLOCK:
                    if parts:
                        flush()
                    holders.pop()
                elif left == _LINK:
                    in_link -= 1
                # `opened` holds one entry per element entered below the root and the root:
                # emptied, the walk is back at the root.
                node = (node.parent or root) if opened else root
            else:
                break
        if parts:
            flush()
    return blocks


def extract_body(
    tree: LexborHTMLParser, scanned: list[LexborNode] | None = None
) -> tuple[Content, list[Block]]:
    """The content found and its text blocks (boilerplate and link lists dropped); `scanned`
    as for find_content."""
    content = find_content(tree, scanned)
    blocks = [
        block
        for block in text_blocks(content.roots, content.protected)
        # block.link_density, inlined (text_blocks makes no block without text)
        if (block.link_chars / len(block.text) <= MAX_LINK_DENSITY or _cited(block))
        and not (len(block.text) <= MAX_LABEL_CHARS and _is_label(block.text))
    ]
    return content, blocks


def _cited(block: Block) -> bool:
    """True for a link-dense block that is text all the same: a bare address the author
    wrote out ("http://amzn.to/2iJFhRj", "www.example.com"; navigation links read as titles),
    or a line of a quoted post (a tweet's text ending in its link)."""
    if BARE_URL.match(block.text):
        return True
    if block.link_chars >= len(block.text):
        return False
    parent = block.node
    for _ in range(MAX_QUOTE_CLIMB):
        if parent is None:
            break
        if parent.tag_id == _BLOCKQUOTE:
            return True
        parent = parent.parent
    return False


@lru_cache(maxsize=1024)
def _is_label(text: str) -> bool:
    """True for the label of an ad slot or a page tool ("Advertisement", "Comments", "Tags")."""
    return text.strip(LABEL_PUNCTUATION).casefold() in SLOT_LABELS
