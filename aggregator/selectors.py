"""Selector strings from sources.yaml: CSS with scrapy's `::text` and `::attr(name)` suffixes.

`"a.h2::attr(href), a.h3::attr(href)"` -> parse_selector -> Selector; select_all/select_first
take a parsed page node and return strings (collapsed text or raw attribute values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

_SUFFIX = re.compile(r"::(?:text|attr\(\s*([^()\s]+)\s*\))\s*$")
_PROBE = LexborHTMLParser("<p></p>")


class SelectorSyntaxError(ValueError):
    """Raised when a selector string is not valid CSS (with our suffixes)."""


@dataclass(frozen=True, slots=True)
class SelectorPart:
    """One comma-separated alternative: the CSS, and what to take from a match."""

    css: str
    attr: str | None
    """Attribute to read; None means the element's text."""


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector string: alternatives tried in order, matches kept in document order."""

    source: str
    parts: tuple[SelectorPart, ...]

    @property
    def css(self) -> str:
        """The CSS alone, all alternatives joined (to select elements rather than values)."""
        return ", ".join(part.css for part in self.parts)


def collapse(text: str) -> str:
    """Collapse every run of whitespace (no-break spaces included) to one space and strip.

    When newlines, tabs and no-break spaces are the text's only whitespace besides spaces (most
    article text), the runs are merged in place, twice as fast as splitting it into words."""
    if not text.isprintable():
        # str.replace is much faster than str.translate here.
        text = text.replace("\n", " ").replace("\t", " ").replace("\r", " ").replace("\xa0", " ")
        if not text.isprintable():
            # Other whitespace (every whitespace character but the space is unprintable), or
            # unprintable characters that are not whitespace. str.split() splits on exactly the
            # characters regex \s matches in str patterns (both use str.isspace()).
            return " ".join(text.split())
    # Printable: spaces are its only whitespace.
    text = text.strip(" ")
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quote = ""
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_selector(text: str) -> Selector:
    """Parse `css[::text|::attr(x)], ...`; raise SelectorSyntaxError when any part is invalid."""
    parts = []
    for raw in _split_top_level(text):
        match = _SUFFIX.search(raw)
        css = raw[: match.start()].strip() if match else raw
        attr = match.group(1) if match else None
        if not css:
            raise SelectorSyntaxError(f"empty selector in {text!r}")
        try:
            _PROBE.css(css)
        except SelectolaxError as exc:
            raise SelectorSyntaxError(f"invalid CSS selector {css!r}") from exc
        parts.append(SelectorPart(css, attr))
    return Selector(text, tuple(parts))


def node_text(node: LexborNode) -> str:
    """The visible text of a node, whitespace collapsed."""
    return collapse(node.text(True, " ", False))  # (deep, separator, strip): faster positional


def _value(node: LexborNode, part: SelectorPart) -> str | None:
    if part.attr is None:
        return node_text(node) or None
    value = node.attributes.get(part.attr)
    return value.strip() if value and value.strip() else None


def select_nodes(root: LexborNode | LexborHTMLParser, selector: Selector) -> list[LexborNode]:
    """Every element any alternative matches, in document order, without repeats."""
    if len(selector.parts) == 1:
        return list(root.css(selector.parts[0].css))
    return list(root.css(selector.css))


def select_all(root: LexborNode | LexborHTMLParser, selector: Selector) -> list[str]:
    """Every non-empty value the selector yields, alternative by alternative."""
    values: list[str] = []
    for part in selector.parts:
        for node in root.css(part.css):
            value = _value(node, part)
            if value is not None:
                values.append(value)
    return values


def select_first(root: LexborNode | LexborHTMLParser, selector: Selector) -> str | None:
    """The first non-empty value, trying alternatives in the order written."""
    for part in selector.parts:
        for node in root.css(part.css):
            value = _value(node, part)
            if value is not None:
                return value
    return None
