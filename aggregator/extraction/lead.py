"""The visible lead (sapo, standfirst, dek): headline and body elements -> the lead's text.

headline_region gives the elements between the headline and the body, with their attributes
(found by walking up from both to their common ancestor, so the rest of the page is never
scanned); find_lead looks there and at the elements holding the body's first blocks, and
returns the first lead-classed one (else the first showing the meta description). opening_copy
finds a meta description copied from the first paragraphs. Pure; the page is never mutated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from selectolax.lexbor import LexborNode

from aggregator.extraction.body import (
    BOILERPLATE,
    JUNK_TAGS,
    Block,
    marks,
    tag_ids,
    text_blocks,
)
from aggregator.extraction.metadata import Candidate
from aggregator.selectors import collapse, node_text

# Class words naming the lead shown under the headline (matched anywhere in the class value).
LEAD_CLASS = re.compile(
    r"sapo|chapeau|lead|summary|desc|excerpt|standfirst|intro|dek|subtitle|sub-title|subhead|"
    r"teaser|abstract"
)
# Tags that may show the meta description as an unnamed lead, and how many of its first words
# must match (after at most MAX_PREFIX_WORDS words of an agency prefix).
DESCRIPTION_TAGS = frozenset({"h2", "h3", "h4", "p", "strong", "b", "em"})
DESCRIPTION_WORDS = 8
MAX_PREFIX_WORDS = 4
MAX_OPENING_CHARS = 400
# How much of a description is read first for its opening words (enough for most).
OPENING_PREFIX = 160
# A meta description shorter than this is not looked for on the page.
MIN_DESCRIPTION_WORDS = 6
# An agency label written just before the lead ("(VTC News) -") belongs to it.
INLINE_PREFIX_TAGS = frozenset({"span", "strong", "b", "em", "i"})
MAX_PREFIX_CHARS = 40
# A lead inside the content is one of its first few blocks.
LEAD_BLOCKS = 3
LEAD_LENGTH = (30, 1500)
# How far up from a first block's element a lead-classed wrapper is looked for.
MAX_WRAPPER_CLIMB = 3
# Code inside a lead-classed element (whose text is then read without it), and the byline
# and dateline that make it the headline's meta line instead.
CODE_INSIDE = "script, style, noscript, template"
DATELINE_INSIDE = "time, [class*=date], [class*=author], [class*=byline]"
_WORD = re.compile(r"\w+")
_JUNK_IDS = tag_ids(JUNK_TAGS)
_DESCRIPTION_IDS = tag_ids(DESCRIPTION_TAGS)
_INLINE_PREFIX_IDS = tag_ids(INLINE_PREFIX_TAGS)


@lru_cache(maxsize=4096)
def _lead_class(words: str) -> bool:
    return LEAD_CLASS.search(words) is not None


Marked = tuple[LexborNode, dict[str, str | None]]
"""An element and its attributes, read once for the searches that all test them."""


def headline_region(heading: LexborNode | None, root: LexborNode) -> list[Marked]:
    """The elements after the headline and before the body's root, in document order, with
    their attributes (the lead, byline and dateline sit there); without a headline, those
    before the root inside its parent. [] when the root comes first."""
    return [(node, node.attributes) for top in _between(heading, root) for node in top.traverse()]


def _between(heading: LexborNode | None, root: LexborNode) -> list[LexborNode]:
    """The elements whose subtrees lie after the headline and before the body's root, in
    document order ([] when the root comes first). Without a headline: the root's earlier
    siblings."""
    if heading is None:
        parent = root.parent
        return _siblings(parent.first_child if parent is not None else None, root.mem_id)
    up_heading = _self_and_ancestors(heading)
    up_root = _self_and_ancestors(root)
    depth = {node.mem_id: i for i, node in enumerate(up_root)}
    top = next((i for i, node in enumerate(up_heading) if node.mem_id in depth), None)
    if top is None or top == 0:
        return []
    meet = depth[up_heading[top].mem_id]
    if meet == 0:
        return []  # the headline is inside the root
    found: list[LexborNode] = []
    # Below the common ancestor: whatever follows the headline and each of its ancestors.
    for node in up_heading[: top - 1]:
        found += _siblings(node.next, None)
    # At the common ancestor: its children between the headline's branch and the root's.
    branch = up_root[meet - 1].mem_id
    between, reached = _sibling_run(up_heading[top - 1].next, branch)
    if not reached:
        return []  # the root comes first
    found += between
    # Down the root's branch: the children before the way on to the root.
    for level in range(meet - 1, 0, -1):
        found += _siblings(up_root[level].first_child, up_root[level - 1].mem_id)
    return found


def _self_and_ancestors(node: LexborNode) -> list[LexborNode]:
    """The node and its ancestors, innermost first."""
    found = [node]
    parent = node.parent
    while parent is not None:
        found.append(parent)
        parent = parent.parent
    return found


def _siblings(first: LexborNode | None, stop: int | None) -> list[LexborNode]:
    """The element siblings from first on, up to (without) the one whose mem_id is stop."""
    return _sibling_run(first, stop)[0]


def _sibling_run(first: LexborNode | None, stop: int | None) -> tuple[list[LexborNode], bool]:
    """_siblings, and whether the sibling stop was reached."""
    found: list[LexborNode] = []
    node = first
    while node is not None:
        if node.mem_id == stop:
            return found, True
        if node.is_element_node and node.tag_id not in _JUNK_IDS:
            found.append(node)
        node = node.next
    return found, False


@dataclass(slots=True)
class _Found:
    """Lead candidates in document order: lead-classed elements, and elements that may show
    the meta description."""

    hinted: list[LexborNode] = field(default_factory=list)
    shown: list[LexborNode] = field(default_factory=list)

    def add(self, node: LexborNode) -> None:
        self.add_all(((node, node.attributes),))

    def add_all(self, marked: Iterable[Marked]) -> None:
        hinted, shown = self.hinted, self.shown
        for node, attrs in marked:
            tag = node.tag_id
            if tag in _JUNK_IDS:
                continue
            # Named as the lead by its class, id or itemprop (inline: this runs for every
            # element of the headline region).
            if attrs and (
                ((words := attrs.get("class")) and _lead_class(words))
                or "sapo" in (attrs.get("id") or "")
                or attrs.get("itemprop") == "description"
            ):
                hinted.append(node)
            if tag in _DESCRIPTION_IDS:
                shown.append(node)

    def add_subtree(self, top: LexborNode) -> None:
        self.add_all((node, node.attributes) for node in top.traverse())


def _texts(nodes: list[LexborNode], limit: int, separator: str) -> list[str | None]:
    """Each node's raw text, None when longer than limit.

    Read innermost first: an element holding a too-long one is never read, so nested markup
    costs no more than flat markup.
    """
    too_long: set[int] = set()
    texts: list[str | None] = [None] * len(nodes)
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if node.mem_id in too_long:
            continue
        raw = node.text(True, separator, False)  # (deep, separator, strip)
        if len(raw) > limit:
            parent = node.parent
            while parent is not None and parent.mem_id not in too_long:
                too_long.add(parent.mem_id)
                parent = parent.parent
            continue
        texts[i] = raw
    return texts


def _near_blocks(blocks: list[Block], root: LexborNode | None) -> _Found:
    """Candidates holding the first blocks: each block's element, the elements under it and
    its nearest ancestors inside the root."""
    stop = root.mem_id if root is not None else None
    found = _Found()
    for block in blocks[:LEAD_BLOCKS]:
        node = block.node
        if node is None:
            continue
        if node.mem_id == stop:
            # The root is this one block (a lead standing first among the body's parts).
            found.add(node)
            continue
        outer: list[LexborNode] = []
        parent = node.parent
        while parent is not None and parent.mem_id != stop and len(outer) < MAX_WRAPPER_CLIMB:
            outer.append(parent)
            parent = parent.parent
        for ancestor in reversed(outer):
            found.add(ancestor)
        found.add_subtree(node)
    return found


def _hinted(nodes: list[LexborNode], title: str | None) -> list[str]:
    found = []
    for node, raw in zip(nodes, _texts(nodes, 2 * LEAD_LENGTH[1], " "), strict=True):
        text = collapse(raw) if raw else ""
        if not LEAD_LENGTH[0] <= len(text) <= LEAD_LENGTH[1] or text == title:
            continue
        words = marks(node)
        if words and BOILERPLATE.search(words):
            continue
        if node.css_first(CODE_INSIDE) is not None:
            # A script's code is no text (an ad slot or a player named "lead").
            text = " ".join(block.text for block in text_blocks(node))
            if not LEAD_LENGTH[0] <= len(text) <= LEAD_LENGTH[1]:
                continue
        if node.css_first(DATELINE_INSIDE) is not None:
            continue  # the headline's meta line (a "subhead" with author and date)
        found.append(text)
    return found


def _openings(descriptions: list[Candidate]) -> list[list[str]]:
    """The first words of each meta description long enough to look for on the page."""
    openings = [_first_words(c.value, DESCRIPTION_WORDS) for c in descriptions]
    return [words for words in openings if len(words) >= MIN_DESCRIPTION_WORDS]


def _first_words(text: str, count: int) -> list[str]:
    """The first `count` words of the text (all when fewer), read from its start only."""
    # A word found before a later one ends where it does in the whole text: the first count
    # words of a prefix holding more than count words are the text's.
    words = _WORD.findall(text, 0, OPENING_PREFIX)
    if len(words) <= count and len(text) > OPENING_PREFIX:
        words = _WORD.findall(text)
    return words[:count]


def _shown(nodes: list[LexborNode], openings: list[list[str]], title: str | None) -> list[str]:
    """Elements showing a meta description (an unnamed dek) by its `openings` (see _openings),
    with an agency prefix ("(VTC News) -") written just before them."""
    if not openings or not nodes:
        return []
    first_words = {opening[0] for opening in openings}
    found = []
    for node, raw in zip(nodes, _texts(nodes, 2 * LEAD_LENGTH[1], ""), strict=True):
        # Cheap filters first: most elements are far too short, or start otherwise.
        if raw is None or len(raw) < LEAD_LENGTH[0]:
            continue
        opening = raw[:MAX_OPENING_CHARS]
        if not any(word in opening for word in first_words):
            continue
        words = _WORD.findall(opening)
        starts = [i for i, word in enumerate(words[: MAX_PREFIX_WORDS + 1]) if word in first_words]
        if not any(words[i : i + len(o)] == o for o in openings for i in starts):
            continue
        text = collapse(raw)
        if not LEAD_LENGTH[0] <= len(text) <= LEAD_LENGTH[1] or text == title:
            continue
        prefix = node.prev
        while (
            prefix is not None and prefix.is_text_node and not (prefix.text_content or "").strip()
        ):
            prefix = prefix.prev
        if prefix is not None and prefix.tag_id in _INLINE_PREFIX_IDS:
            label = node_text(prefix)
            if 0 < len(label) <= MAX_PREFIX_CHARS:
                text = f"{label} {text}"
        found.append(text)
    return found


def _placed(before: list[str], atop: list[str], texts: list[str]) -> str | None:
    """The first candidate before the body, else atop it (one of its first blocks), that does
    not wrap the body."""
    first_blocks = texts[:LEAD_BLOCKS]
    for text in before:
        if not wraps_body(text, texts):
            return text
    for text in atop:
        if text in first_blocks and not wraps_body(text, texts):
            return text
    return None


def find_lead(
    title: str | None,
    region: list[Marked],
    root: LexborNode | None,
    blocks: list[Block],
    descriptions: list[Candidate],
) -> tuple[str | None, str]:
    """The visible lead and how it was found ("visible-text", or "visible-text~meta" for an
    element showing the meta description); (None, "") when the page shows none.

    The lead is in the headline's `region` (see headline_region), or atop the body (`root`) as
    one of its first `blocks`.
    """
    before = _Found()
    before.add_all(region)
    texts = [block.text for block in blocks[:LEAD_BLOCKS]]  # all _placed looks at
    # A lead before the body wins over one atop it: the candidates atop it are looked for
    # only when there is none (_placed(before, atop) in two steps).
    found = _placed(_hinted(before.hinted, title), [], texts)
    if found is not None:
        return found, "visible-text"
    atop = _near_blocks(blocks, root)
    found = _placed([], _hinted(atop.hinted, title), texts)
    if found is not None:
        return found, "visible-text"
    openings = _openings(descriptions)
    found = _placed(_shown(before.shown, openings, title), [], texts)
    if found is None:
        found = _placed([], _shown(atop.shown, openings, title), texts)
    return (found, "visible-text~meta") if found is not None else (None, "")


def wraps_body(text: str, blocks: list[str]) -> bool:
    """True when text holds one of the first body blocks and more: a wrapper, not a lead."""
    return any(block in text and block != text for block in blocks[:LEAD_BLOCKS])


def opening_copy(blocks: list[str], description: str) -> int | None:
    """The index of the first paragraph when the description copies the text from there on.

    Descriptions are often the opening paragraphs cut short (the last word may be cut off).
    """
    words = _WORD.findall(description)[:-1]
    if len(words) < MIN_DESCRIPTION_WORDS:
        return None
    tokens: dict[int, list[str]] = {}  # each block's words, read once, as far as needed
    for index in range(min(len(blocks), LEAD_BLOCKS + 2)):
        # Cheap test first (words are only read from a block that may start the copy): the
        # words from here on start with the description's first word.
        first = next((match for block in blocks[index:] if (match := _WORD.search(block))), None)
        if first is None or first.group() != words[0]:
            continue
        found: list[str] = []
        position = index
        while len(found) < len(words) and position < len(blocks):
            if position not in tokens:
                tokens[position] = _WORD.findall(blocks[position])
            found += tokens[position]
            position += 1
        if found[: len(words)] == words:
            return index
    return None
