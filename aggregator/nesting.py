"""HTML text -> the same text with absurdly deep element nesting flattened. Pure.

The HTML tree builder (lexbor, as the spec says) walks the stack of open elements for every block
start tag, so a page of 200,000 nested `<div>`s takes minutes to parse. Browsers stop nesting at
a depth of 512 (Chromium's kMaximumHTMLParserDOMTreeDepth); so do we, by dropping the start and
end tags beyond that depth: no text is lost, only structure no real page has.
"""

from __future__ import annotations

import re

MAX_DEPTH = 512
"""Deepest element nesting kept."""
# `[^<>]*` rather than `[^>]*`: a run of "<" without ">" must not make the scan quadratic.
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^<>]*>")
# Elements that never nest: void ones, and those whose start tag closes an open one of its kind.
_FLAT = frozenset(
    (
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"),
        *("source", "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td"),
        *("th", "tbody", "thead", "tfoot", "colgroup", "caption", "rb", "rt", "rtc", "rp"),
        *("html", "head", "body"),
    )
)


def flatten_deep_nesting(html: str, max_depth: int = MAX_DEPTH) -> str:
    """`html` unchanged, or, when elements nest deeper than `max_depth`, without the tags
    beyond that depth (an approximate count: tags inside scripts and comments count too)."""
    depth = 0
    cuts: list[tuple[int, int]] = []
    for match in _TAG.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if name in _FLAT or match.group().endswith("/>"):
            continue
        if closing:
            if depth > max_depth:
                cuts.append(match.span())
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > max_depth:
                cuts.append(match.span())
    if not cuts:
        return html
    kept: list[str] = []
    start = 0
    for begin, end in cuts:
        kept.append(html[start:begin])
        start = end
    kept.append(html[start:])
    return "".join(kept)
