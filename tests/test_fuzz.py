"""A short fixed-seed fuzz run of every parser entry point (feeds, Google Alerts and News,
sitemaps, listings, the extractor) on random and mutated real inputs, and hand-written worst
cases (deep nesting, huge attributes, billion laughs). Only our documented errors may escape.

`scripts/fuzz hypothesis N` runs the same tests with N examples each and a random seed.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from aggregator.nesting import MAX_DEPTH, flatten_deep_nesting
from aggregator.sources import parse_feed
from tests.fuzz_targets import TARGETS, run_target, seeds

EXAMPLES = int(os.environ.get("AGGREGATOR_FUZZ_EXAMPLES", "200"))
SEED = os.environ.get("AGGREGATOR_FUZZ_SEED")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=SEED is None,  # CI: the same inputs on every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOWEST: dict[str, float] = {}
TRIED: dict[str, list[int]] = {}
"""Target -> [inputs tried, inputs accepted (the rest refused with a documented error)]."""

# Byte strings that have broken parsers somewhere: markup edges, encodings, entities, dates.
NASTY = [
    b"<",
    b">",
    b"</",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"&",
    b"&#0;",
    b"&#xD800;",
    b"&lt;",
    b"&nbsp;",
    b"&x;",
    b"<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>",
    b"&b;",
    b"\x00",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"<?xml version='1.0' encoding='utf-16'?>",
    b"<?xml version='1.0' encoding='bogus'?>",
    b"<meta charset='utf-32'>",
    b"<div>" * 40,
    b"</div>" * 40,
    b"<item>",
    b"</item>",
    b"<entry>",
    b"<link>javascript:alert(1)</link>",
    b"<link>//evil</link>",
    b"<url><loc>x</loc></url>",
    b"<pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate>",
    b"<published>0001-01-01</published>",
    b"<time datetime='99999-99-99'>",
    b'<script type="application/ld+json">',
    b'{"@type":"NewsArticle","datePublished":"2025-13-45T99:99","headline":' + b"[" * 50,
    b"</script>",
    b"<a href='",
    b"<img src=",
    b"<base href='javascript:x'>",
    b" " * 100,
    b"\r\n",
    b"\t",
    "Tiếng Việt đ".encode(),
    "ngày 31/02/2025 25:61".encode(),
    b"%s%n{0}",
    b"<link>http://[oops/x</link>",
    b"<loc>http://e.com:99999/x</loc>",
    b"<a href='http://[::1/x'>t</a>",
    b"<base href='http://[x/'>",
    b"<meta property='og:image' content='https://e.com:abc/i.jpg'>",
    b"<link rel='canonical' href='http://[x/'>",
]
# Scheme and host of a URL that urllib refuses (ValueError) or HTTP clients cannot request; the
# "url" mutation puts one in place of a URL of the input, keeping its path.
HOSTILE_URL_STARTS = [
    b"http://[oops",
    b"http://[::1",
    b"http://[v1.x]",
    b"http://e.com:99999",
    b"https://e.com:abc",
    b"http://e.com:0",
    b"http://xn--zz.com",
    b"http://a..b",
    b"//e.com:99999",
    b"http://\x01e.com",
]
_URL_START = re.compile(rb"(?:https?:)?//[^/\s\"'<>]*")
nasty_bytes = st.one_of(st.sampled_from(NASTY), st.binary(max_size=16))
# A mutation: (kind, where as a fraction of the length, how much, what to insert).
mutations = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate", "url"]),
    st.floats(0, 1),
    st.integers(1, 2048),
    nasty_bytes,
)


def _mutate(data: bytes, edits: list[tuple[str, float, int, bytes]]) -> bytes:
    for kind, where, size, insert in edits:
        at = int(where * len(data))
        if kind == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ (size & 0xFF or 1)]) + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + insert * max(1, size // 256) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + size :]
        elif kind == "duplicate":
            data = data[:at] + data[at : at + size] * 2 + data[at + size :]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "url":
            urls = list(_URL_START.finditer(data))
            if urls:
                url = urls[min(int(where * len(urls)), len(urls) - 1)]
                hostile = HOSTILE_URL_STARTS[size % len(HOSTILE_URL_STARTS)]
                data = data[: url.start()] + hostile + data[url.end() :]
    return data


def _inputs(name: str) -> st.SearchStrategy[bytes]:
    real = seeds(name)
    mutated = st.builds(_mutate, st.sampled_from(real), st.lists(mutations, max_size=6))
    spliced = st.builds(
        lambda a, b, cut: a[: int(cut * len(a))] + b[int(cut * len(b)) :],
        st.sampled_from(real),
        st.sampled_from(real),
        st.floats(0, 1),
    )
    return st.one_of(
        mutated, spliced, st.binary(max_size=4096), st.lists(nasty_bytes).map(b"".join)
    )


def _fuzz(name: str):
    @FUZZ
    @given(data=_inputs(name))
    def check(data: bytes) -> None:
        started = time.monotonic()
        accepted = run_target(name, data)
        SLOWEST[name] = max(SLOWEST.get(name, 0.0), time.monotonic() - started)
        counts = TRIED.setdefault(name, [0, 0])
        counts[0] += 1
        counts[1] += accepted

    return seed(int(SEED))(check) if SEED else check


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_random_and_mutated_inputs_raise_only_documented_errors(name: str) -> None:
    _fuzz(name)()


def test_every_target_has_real_seeds() -> None:
    for name in TARGETS:
        assert seeds(name), name
        # The seeds themselves are accepted: a target refusing everything would test nothing.
        assert any(run_target(name, data) for data in seeds(name)), name


def _laughs(levels: int) -> bytes:
    entities = b"".join(
        b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10 if i else b"lol") for i in range(levels)
    )
    return (
        b'<?xml version="1.0"?><!DOCTYPE r [' + entities + b"]><rss version='2.0'><channel>"
        b"<item><title>&l%d;</title><link>https://e.vn/a</link></item></channel></rss>"
        % (levels - 1)
    )


N = 50_000
WORST_CASES = {
    "billion laughs": _laughs(10),
    "external entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<rss version='2.0'><channel><item><title>&x;</title><link>https://e.vn/a</link></item>"
    b"</channel></rss>",
    "deep div": b"<html><body>" + b"<div>" * N + b"x" + b"</div>" * N,
    "deep unclosed section": b"<html><body>" + b"<section><p>x" * N,
    "deep xml": b"<rss version='2.0'><channel><item><title>" + b"<b>" * N + b"</title></item>",
    "huge attribute": b"<html><body><a href='" + b"x" * (50 * N) + b"'>t</a><p>y</p></body></html>",
    "run of <": b"<rss version='2.0'><channel><item><title>t</title><link>https://e.vn/a</link>"
    b"<description>" + b"&lt;" * N + b"</description></item></channel></rss>",
    "run of <img": b"<rss version='2.0'><channel><item><title>t</title><link>https://e.vn/a</link>"
    b"<description>" + b"&lt;img " * N + b"</description></item></channel></rss>",
    "run of <a": b"<html><body>" + b"<a " * N + b"</body></html>",
    "many entries": b"<rss version='2.0'><channel>"
    + b"<item><title>t</title><link>https://e.vn/a</link></item>" * (N // 10)
    + b"</channel></rss>",
    "deep json-ld": b"<html><head><script type='application/ld+json'>"
    + b"[" * N
    + b"]" * N
    + b"</script></head><body><p>x</p></body></html>",
    "deep json-ld object": b"<html><head><script type='application/ld+json'>"
    + b'{"a":' * 990
    + b"1"
    + b"}" * 990
    + b"</script></head><body><p>x</p></body></html>",
    "surrogate char ref": b"<rss version='2.0'><channel><item>&#xD800;<title>t&#xDFFF;</title>"
    b"<link>https://e.vn/a</link></item></channel><div>",
    "unknown xml encoding": b"<?xml version='1.0' encoding='bogus'?><urlset><url><loc>"
    b"https://e.vn/a</loc></url></urlset>",
    "multi-byte xml encoding": b"<?xml version='1.0' encoding='cp932'?><urlset><url><loc>"
    b"https://e.vn/a</loc></url></urlset>",
    "long title": b"<html><head><title>" + "Tiêu đề ".encode() * N + b"</title></head></html>",
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(WORST_CASES))
def test_worst_cases_end_in_bounded_time(case: str) -> None:
    """Each target gets the input; pytest-timeout bounds the whole case (times are printed)."""
    data = WORST_CASES[case]
    for name in sorted(TARGETS):
        started = time.monotonic()
        run_target(name, data)
        SLOWEST[f"{case} / {name}"] = time.monotonic() - started


def teardown_module() -> None:
    """The slowest input per target and worst case, for the record (`pytest -s` shows it)."""
    for name, seconds in sorted(SLOWEST.items()):
        os.write(1, f"fuzz: slowest {name}: {seconds:.3f} s\n".encode())
    for name, (tried, accepted) in sorted(TRIED.items()):
        os.write(1, f"fuzz: {name}: {tried} inputs, {accepted} accepted\n".encode())


def test_deep_nesting_is_flattened_without_losing_text() -> None:
    page = "<html><body>" + "<div>" * 2000 + "chữ" + "</div>" * 2000 + "<p>sau</p></body></html>"
    flat = flatten_deep_nesting(page)
    assert flat.count("<div>") == MAX_DEPTH and flat.count("</div>") == MAX_DEPTH
    tree = LexborHTMLParser(flat)
    assert tree.body is not None and tree.body.text() == "chữsau"
    # Real pages are left exactly as they are.
    for data in seeds("extract"):
        text = data.decode("utf-8", "replace")
        assert flatten_deep_nesting(text) == text


def test_unparsable_feed_date_gives_no_date_and_no_warning() -> None:
    # feedparser's get("updated_parsed") warned here (an error under pytest's filterwarnings).
    feed = (
        b"<rss version='2.0'><channel><item><title>t</title><link>https://e.vn/a</link>"
        b"<pubDate>not a date</pubDate></item></channel></rss>"
    )
    [entry] = parse_feed(feed, "https://e.vn/rss", "s")
    assert entry.published is None and entry.url == "https://e.vn/a"
