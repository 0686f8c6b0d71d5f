"""Entry + Article + Source -> Post: front matter and Markdown body in the documented layout.

The layout (shared/reference/documented-post.md) is reproduced byte for byte:

    ---
    layout: post
    title: " [<topic>] <entry title>"
    date: <RFC 2822 in the configured zone>
    categories: <categories joined by spaces>
    ---
    [<entry title>](<article url>)

    ![<entry title>](<thumbnail url>)

    <entry summary>

    <article headline>

    <lead>

    <body blocks, one per paragraph>

Every part is followed by one blank line; a missing part is left out with its blank line.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, tzinfo
from email.utils import format_datetime
from urllib.parse import quote, urlsplit

from aggregator.models import Article, Entry, Post

SLUG_MAX = 100
"""Longest slug kept whole; longer ones are cut at a hyphen and get a hash of the URL."""
_SLUG_WORD = re.compile(r"[a-z0-9]+")
_PLAIN_CATEGORIES = re.compile(r"^[\w.-]+(?: [\w.-]+)*$")
_PAGE_EXTENSION = re.compile(r"\.(?:s?html?|php\d?|aspx?|jsp|cfm)$", re.IGNORECASE)
_LINE_START_MARKUP = re.compile(r"^(\s*)([#>+*=|]|-(?=\s|-)|\d+[.)](?=\s)|`{3}|~{3})")
_HTML_SPECIAL = re.compile(r"<|&(?=#?\w+;)")
_BREAKING_SPACE = re.compile(r"[^\S\xa0]+")
_LIQUID = ("{{", "}}", "{%", "%}")


def fold_ascii(text: str) -> str:
    """Vietnamese (and other Latin) text folded to ASCII: đ -> d, tones and marks dropped."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return (
        "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        .encode("ascii", "ignore")
        .decode("ascii")
    )


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by hyphens."""
    return "-".join(_SLUG_WORD.findall(fold_ascii(text).lower()))


def _url_slug(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    last = _PAGE_EXTENSION.sub("", path.rsplit("/", 1)[-1])
    slug = slugify(last)
    words = [w for w in slug.split("-") if w.isalpha()]
    return slug if len(words) >= 3 else ""


def post_slug(url: str, title: str) -> str:
    """A stable slug for an article: from its URL when the URL has words, else from its title."""
    slug = _url_slug(url) or slugify(title)
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:8]
    if not slug:
        return f"{slugify(urlsplit(url).hostname or 'post')}-{digest}"
    if len(slug) <= SLUG_MAX:
        return slug
    cut = slug[: SLUG_MAX - 9]
    cut = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return f"{cut}-{digest}"


def post_filename(date: datetime, url: str, title: str) -> str:
    """`YYYY-MM-DD-<slug>.md`, Jekyll's post naming."""
    return f"{date:%Y-%m-%d}-{post_slug(url, title)}.md"


def yaml_quote(text: str) -> str:
    """A YAML double-quoted scalar for any text (escapes only what YAML requires)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif (
            code < 0x20
            or code == 0x7F
            or 0x80 <= code <= 0x9F
            or code in (0x2028, 0x2029, 0xFEFF)
            or 0xD800 <= code <= 0xDFFF
            or code in (0xFFFE, 0xFFFF)
        ):
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _categories(categories: list[str]) -> str:
    joined = " ".join(categories)
    return joined if _PLAIN_CATEGORIES.match(joined) else yaml_quote(joined)


def _one_line(text: str) -> str:
    # No-break spaces are kept: Google writes "hồ sơ,&nbsp;..." and the layout keeps it.
    return _BREAKING_SPACE.sub(" ", text).strip(" ")


def markdown_text(text: str) -> str:
    """Source text as one Markdown paragraph that renders literally (no HTML, no block markup)."""
    text = _escape_html(_one_line(text))
    return _LINE_START_MARKUP.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _escape_html(text: str) -> str:
    return _HTML_SPECIAL.sub(lambda m: "&lt;" if m.group() == "<" else "&amp;", text)


def link_text(text: str) -> str:
    """Text for inside `[...]`: one line, HTML and brackets escaped."""
    return re.sub(r"([\\\[\]])", r"\\\1", _escape_html(_one_line(text)))


def link_url(url: str) -> str | None:
    """An http(s) URL safe inside `(...)`, or None for any other scheme."""
    url = url.strip()
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return quote(url, safe="/:?#[]@!$&'*+,;=%~-._")


def render_title(template: str, topic: str | None, title: str) -> str:
    """The post title: the template when the source has a topic, the bare title otherwise."""
    if topic:
        return template.format(topic=topic, title=title)
    return title


def render_post(
    entry: Entry,
    article: Article | None,
    *,
    topic: str | None,
    categories: list[str],
    title_template: str,
    tz: tzinfo,
    fallback_date: datetime,
) -> Post:
    """The post for an entry and its article page (None when the page could not be used)."""
    url = entry.url
    entry_title = _one_line(
        entry.title or (article.title if article and article.title else "") or url
    )
    date = (article.published if article and article.published else None) or entry.published
    local_date = (date or fallback_date).astimezone(tz)

    front = [
        "---",
        "layout: post",
        f"title: {yaml_quote(render_title(title_template, topic, entry_title))}",
        f"date: {format_datetime(local_date)}",
    ]
    if categories:
        front.append(f"categories: {_categories(categories)}")
    front.append("---")

    parts: list[str] = []
    safe_url = link_url(url)
    title_md = link_text(entry_title)
    parts.append(f"[{title_md}]({safe_url})" if safe_url else title_md)
    image = entry.image or (article.image if article else None)
    safe_image = link_url(image) if image else None
    if safe_image:
        parts.append(f"![{title_md}]({safe_image})")
    if entry.summary:
        parts.append(markdown_text(entry.summary))
    if article is not None:
        for text in (article.title, article.summary, *article.blocks):
            if text and text.strip():
                parts.append(markdown_text(text))

    body = "".join(f"{part}\n\n" for part in parts)
    if any(mark in body for mark in _LIQUID):
        # Jekyll runs posts through Liquid: keep a source's braces literal.
        inner = body.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}")
        body = "{% raw %}\n" + inner + "{% endraw %}\n"
    content = "\n".join(front) + "\n" + body
    headline = article.title if article and article.title else entry_title
    return Post(
        filename=post_filename(local_date, url, headline),
        content=content,
        url=url,
        date=local_date,
    )
