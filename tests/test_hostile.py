"""Hostile text from sources cannot break a post: property tests of front matter, Liquid,
Markdown/HTML and file names (hypothesis; CI runs a fixed seed, `scripts/fuzz hypothesis` runs
many more examples with a random one)."""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import frontmatter
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aggregator.models import Article, Entry
from aggregator.render import (
    clean_text,
    front_matter_categories,
    link_text,
    link_url,
    markdown_text,
    post_filename,
    render_post,
    unique_filename,
)
from aggregator.write import MAX_NAME_BYTES, free_filename, linked_url, post_path, write_post

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EXAMPLES = int(os.environ.get("AGGREGATOR_FUZZ_EXAMPLES", "0"))


def examples(n: int) -> settings:
    """n examples (AGGREGATOR_FUZZ_EXAMPLES in a long campaign), the same ones on every CI run."""
    return settings(
        max_examples=EXAMPLES or n,
        deadline=None,
        database=None,
        derandomize="AGGREGATOR_FUZZ_SEED" not in os.environ,
    )


TEMPLATE = " [{topic}] {title}"
FALLBACK = datetime(2026, 1, 1, tzinfo=UTC)

# Pieces that broke YAML, Markdown, Liquid or file systems somewhere.
NASTY = [
    '"',
    "'",
    ":",
    ": ",
    "---",
    "\n---\n",
    "#",
    " #",
    "\n",
    "\r\n",
    "\t",
    "\\",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200b",
    "\u200d",
    "\u202e",
    "\u2066",
    "\ufffe",
    "\uffff",
    "\ud800",
    "\udfff",
    "\xa0",
    "شريط",
    "עברית",
    "👩‍👩‍👧",
    "🇻🇳",
    "{{",
    "}}",
    "{%",
    "%}",
    "{% endraw %}",
    "{%endraw%}",
    "{%- endraw -%}",
    "{{ site }}",
    "{:",
    "{::nomarkdown}",
    "<script>",
    "</script>",
    "<iframe src=x>",
    "<!--",
    "&lt;",
    "&#60;",
    "&",
    "[x](javascript:alert(1))",
    "![i](http://e/x.png)",
    "[ref]: http://e",
    "[^1]",
    "*",
    "**",
    "_",
    "`",
    "```",
    "~~~",
    "|",
    "$$",
    "^",
    "> ",
    "# ",
    "- ",
    "+ ",
    "1. ",
    "1986) ",
    "=",
    "..",
    "../",
    "/",
    "CON",
    "nul.md",
    "yes",
    "null",
    "~",
    "@",
    "`",
    "%",
    "?",
    "&amp;",
    "đ",
    "Ặ",
]
any_char = st.characters(exclude_categories=())  # surrogates included
hostile_text = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(any_char, max_size=8)), max_size=12
).map("".join)
long_title = st.builds(lambda piece, n: (piece * n)[:10_000], hostile_text, st.integers(1, 10_000))
urls = st.one_of(
    st.builds(lambda path: "https://ex.vn/" + path, hostile_text),
    st.sampled_from(
        ["javascript:alert(1)", "data:text/html,<b>", " https://ex.vn/a b", "http://ex.vn/(x)"]
    ),
    st.text(any_char, max_size=40),
)
dates = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from([datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)]),
)


def _render(entry: Entry, article: Article | None, topic: str | None, categories: list[str]):
    return render_post(
        entry,
        article,
        topic=topic,
        categories=categories,
        title_template=TEMPLATE,
        tz=TZ,
        fallback_date=FALLBACK,
    )


def _body(content: str) -> str:
    return content.split("\n---\n", 1)[1]


# Front matter


def _is_dropped(ch: str) -> bool:
    """The documented normalization, written independently of render.clean_text."""
    return (unicodedata.category(ch) in ("Cc", "Cs") and not ch.isspace()) or ch in "\ufffe\uffff"


def _expected_clean(text: str) -> str:
    kept = "".join(
        " " if ch.isspace() and ch != "\xa0" else ch for ch in text if not _is_dropped(ch)
    )
    return re.sub(" +", " ", kept).strip(" ")


@examples(100)
@given(st.one_of(hostile_text, long_title))
@example("a \x00 b\t\tc\n")
@example("\u202eevil\u202c \u200b 👩‍👩‍👧")
def test_clean_text_is_the_documented_normalization(text: str) -> None:
    assert clean_text(text) == _expected_clean(text)


@examples(300)
@given(
    title=st.one_of(hostile_text, long_title),
    topic=st.one_of(st.none(), hostile_text),
    categories=st.lists(hostile_text, max_size=4),
    date=dates,
)
@example(title="a: b # c", topic="---", categories=["yes", "1", "a b"], date=None)
@example(title='"\\" \n---\n', topic=None, categories=["entries", "VN"], date=None)
def test_front_matter_round_trips_to_the_normalized_values(
    title: str, topic: str | None, categories: list[str], date: datetime | None
) -> None:
    entry = Entry("s", "id", "https://ex.vn/tin-moi-nhat-hom-nay", title, published=date)
    post = _render(entry, None, topic, categories)
    post.content.encode("utf-8")  # writable: no lone surrogate left
    loaded = frontmatter.loads(post.content)
    shown = _expected_clean(title) if title else "https://ex.vn/tin-moi-nhat-hom-nay"
    topic_shown = _expected_clean(topic or "")
    want = TEMPLATE.format(topic=topic_shown, title=shown) if topic_shown else shown
    assert loaded["title"] == want
    assert loaded["layout"] == "post"
    kept = [_expected_clean(c) for c in categories if _expected_clean(c)]
    assert front_matter_categories(categories) == kept
    if not kept:
        assert "categories" not in loaded.metadata
    elif isinstance(loaded["categories"], str):
        assert loaded["categories"].split(" ") == kept  # the documented plain form
    else:
        assert loaded["categories"] == kept
    # One line per key: no title can end the front matter early or add a key.
    front = post.content.split("\n---\n", 1)[0].split("\n")
    assert front[0] == "---" and len(front) == 4 + bool(kept)
    assert set(yaml.safe_load("\n".join(front[1:]))) == set(loaded.metadata)


def test_front_matter_dates_outside_the_zone_range_fall_back() -> None:
    entry = Entry("s", "id", "https://ex.vn/a", "t", published=datetime.max.replace(tzinfo=UTC))
    post = _render(entry, None, None, [])
    assert post.date == FALLBACK.astimezone(TZ)
    old = Entry("s", "id", "https://ex.vn/a", "t", published=datetime(5, 3, 4, 12, tzinfo=UTC))
    assert _render(old, None, None, []).filename.startswith("0005-03-04-")


# Liquid: a model of Liquid 5.4's tokenizer (lib/liquid.rb) and raw tag (lib/liquid/tags/raw.rb)

_LIQUID_TOKENS = re.compile(r"(\{%.*?%\}|\{\{.*?\}\}?|\{%|\{\{)", re.DOTALL)
_RAW_END = re.compile(r"\A(.*)\{%\s*(\w+)\s*(.*)?%\}\Z", re.DOTALL)


def liquid_output(body: str) -> str | None:
    """What Liquid makes of a post body that holds no tag but {% raw %} blocks (None when
    anything else is a tag or an output, or a raw block does not close)."""
    tokens = [t for t in _LIQUID_TOKENS.split(body) if t]
    out: list[str] = []
    raw = False
    for token in tokens:
        if raw:
            match = _RAW_END.match(token)
            if match and match.group(2) == "endraw":
                out.append(match.group(1))
                raw = False
            else:
                out.append(token)
        elif token == "{% raw %}":
            raw = True
        elif token.startswith(("{%", "{{")):
            return None
        else:
            out.append(token)
    return None if raw else "".join(out)


def test_liquid_model_catches_an_early_endraw() -> None:
    assert liquid_output("{% raw %}\nx {%endraw%} {{ site }}\n{% endraw %}\n") is None
    assert liquid_output("a {{ site.title }}") is None
    # Liquid reads `{{ b {% endraw %}` as one token; the raw tag finds its end inside it.
    assert liquid_output("{% raw %}a {{ b {% endraw %}\n") == "a {{ b \n"
    assert liquid_output("{% raw %}\n{{ site }}\n{% endraw %}\n") == "\n{{ site }}\n\n"
    assert liquid_output("{% raw %}\n{{\n{% endraw %}\n") == "\n{{\n\n"
    assert liquid_output("{% raw %}{{ a }}{% endraw %}\n\nb\n\n{% raw %}{{{% endraw %}\n") == (
        "{{ a }}\n\nb\n\n{{\n"
    )


@examples(300)
@given(title=hostile_text, summary=hostile_text, blocks=st.lists(hostile_text, max_size=5))
@example(title="{{ x }}", summary="{% endraw %}{{ y }}", blocks=["{%endraw%}", "}}{%-endraw-%}"])
def test_liquid_sees_no_tag_from_a_source(title: str, summary: str, blocks: list[str]) -> None:
    entry = Entry("s", "id", "https://ex.vn/a", title, summary)
    body = _body(_render(entry, Article(url=entry.url, blocks=tuple(blocks)), "t", []).content)
    paragraphs = body.split("\n\n")
    # Liquid outputs the text between the raw tags; a paragraph is wrapped when it needs it.
    inner = [_unwrapped(paragraph) for paragraph in paragraphs]
    assert liquid_output(body) == "\n\n".join(inner)
    for paragraph, text in zip(paragraphs, inner, strict=True):
        assert (paragraph != text) == ("{{" in text)


def _unwrapped(paragraph: str) -> str:
    """A paragraph of a post without the raw block around it, if any."""
    if paragraph.startswith("{% raw %}") and paragraph.endswith("{% endraw %}"):
        return paragraph.removeprefix("{% raw %}").removesuffix("{% endraw %}")
    return paragraph


# Markdown and HTML

_UNESCAPES = {"&lt;": "<", "&amp;": "&", "&#123;": "{", "&#94;": "^"}
_ESCAPE = re.compile(r"\\(.)|&lt;|&amp;|&#123;|&#94;", re.DOTALL)
# Markup kramdown would read if it were not escaped.
_INLINE_STRUCTURE = re.compile(r"[<\[\]`*_|$\\]|\{[%:]|&#?\w+;")
_BLOCK_START = re.compile(r"^\s*(?:[#>+*=:^-]|\d+[.)]|`{3}|~{3})")


def _unescape(markdown: str) -> str:
    return _ESCAPE.sub(lambda m: m.group(1) or _UNESCAPES[m.group()], markdown)


def _unescaped_structure(markdown: str) -> list[str]:
    """Markup left once every escape is taken out: what kramdown would act on."""
    return _INLINE_STRUCTURE.findall(_ESCAPE.sub("\x00", markdown))


@examples(100)
@given(hostile_text)
@example("\\[x](javascript:alert(1))")
@example("1986. Năm đó")
@example("x{: onclick=alert(1)}")
def test_markdown_text_is_lossless_and_inert(text: str) -> None:
    markdown = markdown_text(text)
    assert "\n" not in markdown
    assert _unescape(markdown) == clean_text(text)
    assert _unescaped_structure(markdown) == []
    assert not _BLOCK_START.match(markdown)


@examples(100)
@given(hostile_text)
def test_link_text_is_lossless_and_inert(text: str) -> None:
    escaped = link_text(text)
    assert _unescape(escaped) == clean_text(text)
    assert _unescaped_structure(escaped) == []


@examples(100)
@given(urls)
@example("javascript:alert(1)")
@example("JAVASCRIPT:alert(1)")
@example("\x01javascript:alert(1)")
@example("java\tscript:alert(1)")
@example("https://ex.vn/a) [x](javascript:alert(1)")
def test_link_urls_are_http_and_cannot_leave_the_parentheses(url: str) -> None:
    safe = link_url(url)
    if safe is None:
        return
    assert re.match(r"https?://", safe, re.IGNORECASE)
    assert re.fullmatch(r"[A-Za-z0-9/:?#\[\]@!$&'*+,;=%~._-]+", safe)


_LINK = re.compile(r"(?<!\\)\]\(([^)]*)\)")


@examples(200)
@given(
    entry_title=hostile_text,
    url=urls,
    image=st.one_of(st.none(), urls),
    texts=st.lists(hostile_text, max_size=4),
)
@example(
    entry_title="<script>alert(1)</script>",
    url="javascript:alert(1)",
    image="javascript:x",
    texts=["[x](javascript:alert(1))", "![i](http://e/i.png)", "# h", "<iframe>"],
)
def test_post_body_has_no_html_and_only_http_links(
    entry_title: str, url: str, image: str | None, texts: list[str]
) -> None:
    entry = Entry("s", "id", url, entry_title, texts[0] if texts else "", image=image)
    article = Article(url=url, title=entry_title, blocks=tuple(texts))
    body = _body(_render(entry, article, None, ["a"]).content)
    assert "<" not in body
    links = _LINK.findall(body)
    assert len(links) <= 2  # the article link and the thumbnail, nothing from the text
    for target in links:
        assert re.match(r"https?:", target, re.IGNORECASE)
    lines = [_unwrapped(line) for line in body.split("\n") if line]
    for line in lines:
        if not line.startswith(("[", "![")):
            assert not _BLOCK_START.match(line)
            assert _unescaped_structure(line) == []


# File names


@examples(300)
@given(
    url=urls, title=st.one_of(hostile_text, long_title), date=st.datetimes(timezones=st.just(UTC))
)
@example(
    url="https://ex.vn/../../etc/passwd", title="../../x", date=datetime(2025, 1, 1, tzinfo=UTC)
)
@example(url="https://ex.vn/" + "đ" * 300, title="a" * 10_000, date=datetime(1, 1, 1, tzinfo=UTC))
def test_file_names_are_plain_short_and_inside_the_posts_dir(
    url: str, title: str, date: datetime
) -> None:
    posts = Path("/srv/site/_posts")
    for name in (
        post_filename(date, url, title),
        unique_filename(post_filename(date, url, title), url),
    ):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*\.md", name)
        assert len(name.encode()) <= MAX_NAME_BYTES
        path = post_path(posts, name)
        assert path.parent == posts and path.name == name


@examples(100)
@given(st.one_of(hostile_text, st.sampled_from(["..", ".", "a/b", "CON", "con.md", "x" * 256])))
def test_post_path_refuses_any_name_that_is_not_one_plain_file(name: str) -> None:
    posts = Path("/srv/site/_posts")
    try:
        path = post_path(posts, name)
    except ValueError:
        return
    assert path.parent == posts
    assert path.resolve().parent == posts.resolve()
    assert not name.startswith(".") and len(name.encode("utf-8", "surrogatepass")) <= 255
    assert not re.search(r"[\x00-\x1f/\\]", name)


def test_unique_filename_is_stable_and_distinct() -> None:
    date = datetime(2025, 2, 4, tzinfo=TZ)
    a, b = "https://ex.vn/a1.html", "https://ex.vn/a2.html"
    name = post_filename(date, a, "Tin mới")
    assert name == post_filename(date, b, "Tin mới")  # the same title on the same day
    assert unique_filename(name, a) != unique_filename(name, b)
    assert unique_filename(unique_filename(name, a), a) == unique_filename(name, a)


def test_another_articles_post_is_never_overwritten(tmp_path: Path) -> None:
    date = datetime(2025, 2, 4, 9, tzinfo=TZ)
    first = _render(
        Entry("s", "1", "https://ex.vn/a1.html", "Tin mới", published=date), None, None, []
    )
    second = _render(
        Entry("s", "2", "https://ex.vn/a2.html", "Tin mới", published=date), None, None, []
    )
    assert first.filename == second.filename
    write_post(tmp_path, first)
    assert linked_url(first.content) == "https://ex.vn/a1.html"
    # Unknown to the state: the file on disk tells whose it is.
    assert free_filename(tmp_path, first, None) == first.filename
    name = free_filename(tmp_path, second, None)
    assert name != first.filename
    write_post(tmp_path, second, name)
    assert (tmp_path / first.filename).read_text(encoding="utf-8") == first.content
    # Known to the state.
    assert free_filename(tmp_path, second, "https://ex.vn/a1.html") == name
    assert free_filename(tmp_path, first, "https://ex.vn/a1.html") == first.filename


def test_far_dates_and_odd_offsets_give_valid_names() -> None:
    for date in (
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    ):
        entry = Entry("s", "id", "https://ex.vn/a", "t", published=date)
        post = _render(entry, None, None, [])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md", post.filename)
        assert frontmatter.loads(post.content)["layout"] == "post"
