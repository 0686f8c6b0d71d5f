"""Generic main-content extraction: parsed page -> the article body's text blocks, in order.

find_content scores containers by the paragraph text under them (readability-style, with class
hints and a link-density penalty) and returns the winner plus its sibling candidates;
text_blocks walks elements once and returns their block-level texts; extract_body ties them
together, pruning boilerplate inside the content and dropping link lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from aggregator.selectors import collapse

# Removed from the whole page first: never article text.
JUNK_TAGS = (
    "script, style, noscript, template, iframe, svg, canvas, button, select, input, textarea,"
    " object, embed, video, audio, map, dialog, [hidden], [style*='display:none'],"
    " [style*='display: none'], [aria-hidden='true']:not(:has(p))"
)
# Reader comments: their paragraphs would outscore a short article.
COMMENTS = (
    "[id*=comment], [class*=comment], [id*=disqus], [class*=disqus], #respond,"
    " [class*=discussion], [id*=discussion]"
)
ARTICLE_MARKERS = "h1, article, main, [itemprop=articleBody]"
# Elements that hold the body text: each one's text scores its parent and grandparent.
PARAGRAPHS = "p, pre, td, blockquote"
# Containers whose own (direct) text counts as a paragraph: `<div>text<br>text</div>` pages.
TEXT_CONTAINERS = "div, section, article, main, font, span"
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
CLASS_WEIGHT = 25.0
# Class or id words that mark boilerplate inside the content (matched on word parts).
BOILERPLATE = re.compile(
    r"(?:^|[\s_-])(?:related|relate|share|sharing|social|comments?|tags?|tag-list|keywords?|"
    r"breadcrumbs?|advert\w*|ads|adv|banner|menu|navbar|popup|newsletter|subscribe|"
    r"widget|toolbar|print|rating|most-?read|more-?news|tin-?lien-?quan|lienquan|xem-?them|"
    r"box-?tin|cookie|promo|outbrain|taboola|recommended|read-?more|signup|paywall|modal|"
    r"gallery|slideshow|carousel|lightbox)"
    r"(?:$|[\s_-])",
    re.IGNORECASE,
)
# Class or id words of the byline and dateline above an article's text (dropped there only:
# a closing byline is part of the article).
LEADING_MARKS = re.compile(
    r"byline|author|dateline|timestamp|date|posted|publish|"
    r"(?:^|[\s_-])(?:time|meta|info|credit)(?:$|[\s_-])",
    re.IGNORECASE,
)
# A block this long is prose: after it, bylines and datelines are kept.
PROSE_CHARS = 80
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
SKIP_TAGS = frozenset({"img", "picture", "source", "head", "title", "meta", "link"})
# A block whose text is mostly link text is navigation or a related-articles list.
MAX_LINK_DENSITY = 0.5
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
# A sibling <p> joins the content when it reads like prose (readability's rule).
LONG_SIBLING = 80
MAX_SIBLING_LINKS = 0.25
SENTENCE_END = re.compile(r"\.( |$)")
MIN_SIBLING_SCORE = 10.0


@dataclass(frozen=True, slots=True)
class Block:
    """One block of text, the tag that holds it, and how much of it is link text."""

    text: str
    tag: str
    link_chars: int

    @property
    def link_density(self) -> float:
        """The share of the text that sits inside links."""
        return self.link_chars / len(self.text) if self.text else 0.0


def marks(node: LexborNode) -> str:
    """The node's class and id values, space-joined ("" when it has neither)."""
    attrs = node.attributes
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''}".strip()


def remove_junk(tree: LexborHTMLParser) -> None:
    """Drop scripts, styles, embeds, hidden elements and reader comments, in place."""
    for node in tree.css(JUNK_TAGS):
        if node.parent is not None:
            node.decompose()
    for node in tree.css(COMMENTS):
        # A page wrapper named after its comment form still holds the article.
        if node.parent is not None and node.css_first(ARTICLE_MARKERS) is None:
            node.decompose()


def _link_chars(node: LexborNode) -> int:
    return sum(len(a.text(deep=True).strip()) for a in node.css("a"))


def _class_weight(node: LexborNode) -> float:
    words = marks(node)
    if not words:
        return 0.0
    weight = 0.0
    if NEGATIVE.search(words):
        weight -= CLASS_WEIGHT
    if POSITIVE.search(words):
        weight += CLASS_WEIGHT
    return weight


def _paragraph_score(text: str) -> float:
    length = len(text)
    return 1.0 + text.count(",") + text.count("，") + min(length / 100, 3.0)


@dataclass(slots=True)
class _Candidate:
    node: LexborNode
    base: float
    """From the tag and the class/id words."""
    content: float
    """From the paragraphs under the node."""
    link_density: float = 0.0

    @property
    def score(self) -> float:
        return (self.base + self.content) * (1.0 - self.link_density)


def _link_density(node: LexborNode) -> float:
    length = len(node.text(deep=True).strip())
    return min(_link_chars(node) / length, 1.0) if length else 1.0


def _raw_scores(body: LexborNode) -> dict[int, _Candidate]:
    candidates: dict[int, _Candidate] = {}

    def credit_ancestors(node: LexborNode | None, score: float) -> None:
        for divider in ANCESTOR_DIVIDERS:
            if node is None or node.tag in ("body", "html"):
                return
            key = node.mem_id
            found = candidates.get(key)
            if found is None:
                base = TAG_SCORE.get(node.tag or "", 0.0) + _class_weight(node)
                candidates[key] = _Candidate(node, base, score / divider)
            else:
                found.content += score / divider
            node = node.parent

    for para in body.css(PARAGRAPHS):
        text = para.text(deep=True).strip()
        if len(text) >= MIN_PARAGRAPH:
            credit_ancestors(para.parent, _paragraph_score(text))
    for holder in body.css(TEXT_CONTAINERS):
        text = holder.text(deep=False).strip()
        if len(text) >= MIN_PARAGRAPH:
            credit_ancestors(holder, _paragraph_score(text))
    return candidates


@dataclass(frozen=True, slots=True)
class Content:
    """The elements holding the article text, in document order, and the mem_ids of elements
    inside them that carry much of its paragraph text (never pruned as boilerplate)."""

    roots: list[LexborNode]
    protected: frozenset[int]


def find_content(tree: LexborHTMLParser) -> Content:
    """The best-scoring container and its sibling candidates, or the body when nothing scores."""
    body = tree.body
    if body is None:
        return Content([], frozenset())
    candidates = _raw_scores(body)
    if not candidates:
        return Content([body], frozenset())
    top = sorted(candidates.values(), key=lambda c: c.score, reverse=True)[:TOP_CANDIDATES]
    for candidate in top:
        candidate.link_density = _link_density(candidate.node)
    best = max(top, key=lambda c: c.score)
    floor = best.content * PROTECTED_SHARE
    protected = frozenset(key for key, c in candidates.items() if c.content >= floor)
    return Content(_with_siblings(best, candidates), protected)


def _with_siblings(best: _Candidate, candidates: dict[int, _Candidate]) -> list[LexborNode]:
    """The best node and those siblings whose paragraphs score like article text."""
    parent = best.node.parent
    if parent is None or best.node.tag == "body":
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
            if candidate.content * (1.0 - _link_density(sibling)) + bonus >= threshold:
                chosen.append(sibling)
                continue
        if sibling.tag == "p":
            text = collapse(sibling.text(deep=True))
            density = _link_chars(sibling) / len(text) if text else 1.0
            if (len(text) > LONG_SIBLING and density < MAX_SIBLING_LINKS) or (
                0 < len(text) <= LONG_SIBLING and density == 0 and SENTENCE_END.search(text)
            ):
                chosen.append(sibling)
    return chosen


def _prunable(node: LexborNode, name: str, protected: frozenset[int], leading: bool) -> bool:
    """True for chrome or boilerplate-marked elements that do not carry the article's text.

    While leading (no prose seen yet), byline and dateline elements count as boilerplate.
    """
    if name not in CHROME_TAGS:
        words = marks(node)
        if not words or not (
            BOILERPLATE.search(words) or (leading and LEADING_MARKS.search(words))
        ):
            return False
    return node.mem_id not in protected


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
    holders: list[str] = []
    leading = True

    def flush() -> None:
        nonlocal link_chars, leading
        text = collapse("".join(parts))
        if text:
            leading = leading and len(text) < PROSE_CHARS
            tag = holders[-1] if holders else "div"
            blocks.append(Block(text, tag, min(link_chars, len(text))))
        parts.clear()
        link_chars = 0

    for root in [roots] if isinstance(roots, LexborNode) else roots:
        # Iterative walk of (node, closing) pairs: a closing marker ends the element's block.
        stack: list[tuple[LexborNode, bool]] = [(root, False)]
        while stack:
            node, closing = stack.pop()
            name = node.tag or ""
            if closing:
                if name == "a":
                    in_link -= 1
                    continue
                flush()
                holders.pop()
                continue
            if name == "-text":
                text = node.text_content or ""
                parts.append(text)
                if in_link:
                    link_chars += len(text.strip())
                continue
            if name.startswith("-") or name in SKIP_TAGS:
                continue
            if (
                protected is not None
                and node is not root
                and _prunable(node, name, protected, leading)
            ):
                continue
            if name in BLOCK_TAGS or node is root:
                flush()
                if name in ("br", "hr"):
                    continue
                holders.append(name)
            elif name == "a":
                in_link += 1
            else:
                stack.extend((child, False) for child in _children_reversed(node))
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in _children_reversed(node))
        flush()
    return blocks


def _children_reversed(node: LexborNode) -> list[LexborNode]:
    children = list(node.iter(include_text=True))
    children.reverse()
    return children


def extract_body(tree: LexborHTMLParser) -> tuple[list[LexborNode], list[Block]]:
    """The content elements and their text blocks (boilerplate, link lists dropped). Mutates."""
    remove_junk(tree)
    content = find_content(tree)
    blocks = [
        block
        for block in text_blocks(content.roots, content.protected)
        if block.link_density <= MAX_LINK_DENSITY
    ]
    return content.roots, blocks
