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
# A category YAML reads back as the same plain word: starts with a letter, no YAML 1.1 keyword.
_PLAIN_CATEGORY = re.compile(r"^[^\W\d_][\w.-]*$")
_YAML_KEYWORDS = frozenset(["y", "n", "yes", "no", "true", "false", "on", "off", "null"])
_PAGE_EXTENSION = re.compile(r"\.(?:s?html?|php\d?|aspx?|jsp|cfm)$", re.IGNORECASE)
# Block markup kramdown (Jekyll's Markdown) reads at the start of a line: headings, quotes, lists,
# rules, fences, definitions (`:`) and the end-of-block marker (`^`).
_LINE_START_MARKUP = re.compile(r"^(\s*)(?:([#>+*=:^-])|(\d+)([.)])|(`{3}|~{3}))")
# Inline markup: kramdown's escapable characters that open structure (links, images, emphasis,
# code, tables, math), HTML tags and entities, and `{` opening a Liquid tag or a kramdown
# attribute list / extension (`{%`, `{:`), which neither Liquid's {% raw %} nor `\` can stop.
_INLINE_MARKUP = re.compile(r"[\\`*_\[\]|$]|<|&(?=#?\w+;)|\{(?=[%:])")
_INLINE_ESCAPES = {"<": "&lt;", "&": "&amp;", "{": "&#123;"}
# Runs of whitespace other than the no-break space, but not a lone plain space (it stays as it
# is): replacing every space with itself made clean_text several times slower.
_BREAKING_SPACE = re.compile(r"[^\S\xa0]{2,}|[^\S\xa0 ]")
# Characters no post keeps: controls (C0, C1, DEL) other than whitespace, which becomes a space;
# lone surrogates (not encodable in UTF-8); the noncharacters U+FFFE and U+FFFF.
_UNWANTED = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
LIQUID_OUTPUT = "{{"
"""Opens Liquid output; a paragraph holding it is wrapped in {% raw %} (`{%` is always escaped)."""
_URL_DROPPED = re.compile(r"[\t\n\r]")
_HTTP_URL = re.compile(r"https?://", re.IGNORECASE)
_DIGEST_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


def fold_ascii(text: str) -> str:
    """Vietnamese (and other Latin) text folded to ASCII: đ -> d, tones and marks dropped."""
    return fold_ascii_bytes(text).decode("ascii")


def fold_ascii_bytes(text: str) -> bytes:
    """fold_ascii, as bytes."""
    # The marks NFKD splits off (combining characters) are not ASCII: the encoding drops them
    # with every other character that has no ASCII form.
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore")


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by hyphens."""
    return "-".join(_SLUG_WORD.findall(fold_ascii(text).lower()))


def _url_slug(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    last = _PAGE_EXTENSION.sub("", path.rsplit("/", 1)[-1])
    slug = slugify(last)
    words = [w for w in slug.split("-") if w.isalpha()]
    return slug if len(words) >= 3 else ""


def _url_digest(url: str) -> str:
    return hashlib.sha1(url.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def post_slug(url: str, title: str) -> str:
    """A stable slug for an article: from its URL when the URL has words, else from its title."""
    slug = _url_slug(url) or slugify(title)
    digest = _url_digest(url)
    if not slug:
        return f"{slugify(urlsplit(url).hostname or 'post')}-{digest}"
    if len(slug) <= SLUG_MAX:
        return slug
    cut = slug[: SLUG_MAX - 9]
    cut = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return f"{cut}-{digest}"


def post_filename(date: datetime, url: str, title: str) -> str:
    """`YYYY-MM-DD-<slug>.md`, Jekyll's post naming (`[a-z0-9-]` only, at most 116 bytes)."""
    # Not strftime: "%Y" drops the zero padding of years before 1000 on glibc.
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}-{post_slug(url, title)}.md"


def unique_filename(filename: str, url: str) -> str:
    """The post file name made distinct with a hash of the article URL (for a name already taken
    by another article); unchanged when it already ends with that hash."""
    stem = filename.removesuffix(".md")
    digest = _url_digest(url)
    if stem.endswith(f"-{digest}"):
        return filename
    stem = _DIGEST_SUFFIX.sub("", stem) if len(stem) > 11 + SLUG_MAX - 9 else stem
    return f"{stem}-{digest}.md"


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


def _is_plain_category(category: str) -> bool:
    return bool(_PLAIN_CATEGORY.match(category)) and category.lower() not in _YAML_KEYWORDS


def front_matter_categories(categories: list[str]) -> list[str]:
    """The categories a post keeps: each through clean_text, empty ones left out."""
    return [cleaned for category in categories if (cleaned := clean_text(category))]


def _categories(categories: list[str]) -> str:
    # Plain words keep the documented `categories: entries VN`; anything else (spaces, quotes,
    # YAML keywords, numbers) becomes a YAML list of quoted strings, which Jekyll also accepts.
    if all(_is_plain_category(category) for category in categories):
        return " ".join(categories)
    return "[" + ", ".join(yaml_quote(category) for category in categories) + "]"


def clean_text(text: str) -> str:
    """Text as a post keeps it: one line (whitespace runs, newlines and tabs become one space,
    ends trimmed), control characters, lone surrogates and U+FFFE/U+FFFF removed.

    No-break spaces, zero-width and right-to-left marks, and everything else stay as they are
    (Google writes "hồ sơ,&nbsp;..." and the layout keeps it).
    """
    return _BREAKING_SPACE.sub(" ", _UNWANTED.sub("", text)).strip(" ")


def _escape_inline(text: str) -> str:
    return _INLINE_MARKUP.sub(lambda m: _INLINE_ESCAPES.get(m.group(), "\\" + m.group()), text)


def _escape_line_start(match: re.Match[str]) -> str:
    space, mark, number, number_mark, fence = match.groups()
    if number is not None:
        return f"{space}{number}\\{number_mark}"
    if mark == "^":  # not escapable with a backslash in kramdown
        return f"{space}&#94;"
    return f"{space}\\{mark or fence}"


def markdown_text(text: str) -> str:
    """Source text as one Markdown paragraph that renders literally (no HTML, no block markup)."""
    return _LINE_START_MARKUP.sub(_escape_line_start, _escape_inline(clean_text(text)))


def link_text(text: str) -> str:
    """Text for inside `[...]`: one line, HTML and Markdown escaped."""
    return _escape_inline(clean_text(text))


def link_url(url: str) -> str | None:
    """An http(s) URL safe inside `(...)`, or None for any other scheme."""
    # Browsers drop tabs and newlines inside URLs (WHATWG): "java\tscript:" is "javascript:".
    url = _URL_DROPPED.sub("", _UNWANTED.sub("", url).strip())
    if not _HTTP_URL.match(url):
        return None
    return quote(url, safe="/:?#[]@!$&'*+,;=%~-._")


def render_title(template: str, topic: str | None, title: str) -> str:
    """The post title: the template when the source has a topic, the bare title otherwise.

    Topic and title go through clean_text first: the front matter holds exactly that text.
    """
    title = clean_text(title)
    if topic and clean_text(topic):
        return template.format(topic=clean_text(topic), title=title)
    return title


def _local_date(date: datetime, tz: tzinfo, fallback: datetime) -> datetime:
    """`date` in the zone `tz`; `fallback` (in `tz`) for a date the zone cannot show (year 9999)."""
    try:
        return date.astimezone(tz)
    except (OverflowError, ValueError):
        return fallback.astimezone(tz)


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
    entry_title = clean_text(
        entry.title or (article.title if article and article.title else "") or url
    )
    date = (article.published if article and article.published else None) or entry.published
    local_date = _local_date(date or fallback_date, tz, fallback_date)

    front = [
        "---",
        "layout: post",
        f"title: {yaml_quote(render_title(title_template, topic, entry_title))}",
        f"date: {format_datetime(local_date)}",
    ]
    if kept := front_matter_categories(categories):
        front.append(f"categories: {_categories(kept)}")
    front.append("---")

    parts: list[str] = []
    safe_url = link_url(url)
    title_md = link_text(entry_title)
    parts.append(f"[{title_md}]({safe_url})" if safe_url else markdown_text(entry_title))
    # The page's own image is the full-size one; a feed's thumbnail stands in without a page.
    image = (article.image if article else None) or entry.image
    safe_image = link_url(image) if image else None
    if safe_image:
        parts.append(f"![{title_md}]({safe_image})")
    texts: list[str | None] = [entry.summary]
    if article is not None:
        texts += [article.title, article.summary, *article.blocks]
    parts += [paragraph for text in texts if text and (paragraph := markdown_text(text))]

    # Jekyll runs posts through Liquid: a paragraph holding a source's `{{` is kept literal in a
    # raw block of its own. No `{%` is left in the text (escaped as `&#123;%`), so nothing inside
    # can end the block early; and one block per paragraph keeps Jekyll's excerpt (the first
    # paragraph) from cutting a block in two.
    body = "".join(
        f"{{% raw %}}{part}{{% endraw %}}\n\n" if LIQUID_OUTPUT in part else f"{part}\n\n"
        for part in parts
    )
    content = "\n".join(front) + "\n" + body
    headline = article.title if article and article.title else entry_title
    return Post(
        filename=post_filename(local_date, url, headline),
        content=content,
        url=url,
        date=local_date,
    )


def set_tags(content: str, tags: list[str]) -> str:
    """A rendered post with its front matter's `tags:` list set to these (removed when empty)."""
    if not content.startswith("---\n"):
        return content
    end = content.find("\n---\n", 3)
    if end < 0:
        return content
    lines = [line for line in content[4:end].split("\n") if not line.startswith("tags:")]
    if tags:
        lines.append(f"tags: [{', '.join(yaml_quote(tag) for tag in tags)}]")
    return "---\n" + "\n".join(lines) + content[end:]
