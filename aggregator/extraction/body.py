"""Generic main-content extraction: parsed page -> the article body's text blocks, in order.

find_content scores containers by the paragraph text under them (readability-style: class-word
factors, a link-density penalty, widening to an ancestor when the text is split) and returns
the winner plus its sibling candidates; text_blocks walks elements once, iteratively, and
returns their block-level texts; extract_body ties them together, pruning boilerplate inside
the content and dropping link lists. The page is never mutated and every walk is iterative,
so cost stays linear in page size and deep nesting cannot hit the recursion limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode

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
_SCORED = ", ".join(sorted(PARAGRAPHS | TEXT_CONTAINERS))
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
# Class or id words that mark boilerplate inside the content (matched on word parts).
BOILERPLATE = re.compile(
    r"(?:^|[\s_-])(?:related|relate|share|sharing|social|comments?|tags?|tag-list|keywords?|"
    r"breadcrumbs?|advert\w*|ads|adv|banner|menu|navbar|popup|newsletter|subscribe|"
    r"widget|toolbar|print|rating|most-?read|more-?news|tin-?lien-?quan|lienquan|xem-?them|"
    r"box-?tin|cookie|promo|outbrain|taboola|recommended|read-?more|signup|paywall|modal|"
    r"gallery|slideshow|carousel|lightbox|disqus)"
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


def collapse(text: str) -> str:
    """Collapse every run of whitespace (no-break spaces included) to one space and strip."""
    return " ".join(text.split())


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


def _link_chars(node: LexborNode) -> int:
    return sum(len(a.text(deep=True).strip()) for a in node.css("a"))


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


def _paragraph_score(text: str) -> float:
    length = len(text)
    return 1.0 + text.count(",") + text.count("，") + min(length / 100, 3.0)


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
    length = len(node.text(deep=True).strip())
    return min(_link_chars(node) / length, 1.0) if length else 1.0


def _raw_scores(body: LexborNode) -> dict[int, _Candidate]:
    candidates: dict[int, _Candidate] = {}

    def credit_ancestors(node: LexborNode | None, score: float) -> None:
        lineage: list[_Candidate] = []
        while node is not None and len(lineage) < len(ANCESTOR_DIVIDERS):
            if node.tag in ("body", "html"):
                break
            found = candidates.get(node.mem_id)
            if found is None:
                factor, comment = _class_traits(marks(node))
                tag_score = TAG_SCORE.get(node.tag or "", 0.0)
                found = candidates[node.mem_id] = _Candidate(node, tag_score, factor, comment, 0.0)
            if found.comment:
                return  # a reader's comment, not the article
            lineage.append(found)
            node = node.parent
        for found, divider in zip(lineage, ANCESTOR_DIVIDERS, strict=False):
            found.content += score / divider

    for node in body.css(_SCORED):
        if node.tag in PARAGRAPHS:
            text = node.text(deep=True).strip()
            if len(text) >= MIN_PARAGRAPH:
                credit_ancestors(node.parent, _paragraph_score(text))
        else:
            text = node.text(deep=False).strip()
            if len(text) >= MIN_PARAGRAPH:
                credit_ancestors(node, _paragraph_score(text))
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
    best = _widen(max(top, key=lambda c: c.score), top, candidates)
    floor = best.content * PROTECTED_SHARE
    protected = frozenset(key for key, c in candidates.items() if c.content >= floor)
    return Content(_with_siblings(best, candidates), protected)


def _ancestors(node: LexborNode) -> list[LexborNode]:
    found: list[LexborNode] = []
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html") and len(found) < MAX_CLIMB:
        found.append(parent)
        parent = parent.parent
    return found


def _widen(
    best: _Candidate, top: list[_Candidate], candidates: dict[int, _Candidate]
) -> _Candidate:
    """Move up from the best container when the article is split over several of them.

    Readability's rules: an ancestor holding several near-best candidates, a parent scoring
    higher than the node below it, and a parent whose only child is the best.
    """
    close = [c for c in top if c is not best and c.score >= best.score * CLOSE_SCORE]
    if len(close) >= MIN_CLOSE:
        lineages = [{c.node.mem_id} | {a.mem_id for a in _ancestors(c.node)} for c in close]
        for ancestor in _ancestors(best.node):
            if sum(ancestor.mem_id in lineage for lineage in lineages) >= MIN_CLOSE:
                best = candidates.get(ancestor.mem_id) or _Candidate(ancestor, 0.0, 1.0, False, 0.0)
                break
    last = best.score
    for ancestor in _ancestors(best.node)[:0]:
        found = candidates.get(ancestor.mem_id)
        if found is None:
            continue
        if found.link_density == 0.0:
            found.link_density = _link_density(ancestor)
        if found.score < last / 3:
            break
        if found.score > last:
            best = found
            break
        last = found.score
    parent = best.node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if sum(1 for _ in parent.iter()) != 1:
            break
        best = candidates.get(parent.mem_id) or _Candidate(parent, 0.0, 1.0, False, best.content)
        parent = parent.parent
    return best


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
    attrs = node.attributes
    if "hidden" in attrs or _HIDDEN_STYLE.search(attrs.get("style") or ""):
        return True
    if name not in CHROME_TAGS:
        words = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".strip()
        if not words:
            return False
        boilerplate, heading = _marked(words)
        if not (boilerplate or (leading and heading)):
            return False
    return node.mem_id not in protected


@lru_cache(maxsize=4096)
def _marked(words: str) -> tuple[bool, bool]:
    """Whether class/id words mark boilerplate, and whether they mark a byline or dateline."""
    return BOILERPLATE.search(words) is not None, LEADING_MARKS.search(words) is not None


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
    """The content elements and their text blocks (boilerplate and link lists dropped)."""
    content = find_content(tree)
    blocks = [
        block
        for block in text_blocks(content.roots, content.protected)
        if block.link_density <= MAX_LINK_DENSITY
    ]
    return content.roots, blocks
