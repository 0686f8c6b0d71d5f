"""The Fetcher against the real local server: limits, politeness, conditional GET, retries, faults.

Real article pages come from tests/data/articles (see PROVENANCE.tsv there). Timing is only ever
checked as a lower bound (a wait that must have happened), which a slow machine cannot break.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import random
import unicodedata
import zlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from aggregator.charset import decode_document
from aggregator.errors import BlockedURLError, FetchError
from aggregator.fetch import Fetcher, Page, Validators, backoff_seconds, retry_after_seconds
from tests.conftest import DATA, read_page
from tests.server import Response, TestServer

HOST = "https://news.example/"
OTHER = "https://other.example/"
VTC_PAGE = read_page(DATA / "articles" / "vtcnews.vn" / "sample_article.html.gz")
CANTHO_PAGE = read_page(DATA / "articles" / "baocantho.com.vn" / "a196670.html")


def fetcher(server: TestServer, **options: Any) -> Fetcher:
    """A Fetcher that downloads news.example and other.example from the local server."""
    settings: dict[str, Any] = {
        "user_agent": "aggregator/0.1 (+https://example.org/contact)",
        "allow_private_networks": True,
        "mirrors": {HOST: server.url("/news.example/"), OTHER: server.url("/other.example/")},
        "host_delay": 0.0,
        "backoff": 0.01,
        "timeout": 5.0,
        "rng": random.Random(5),
    }
    settings.update(options)
    return Fetcher(**settings)


def run(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(make())


def get(server: TestServer, url: str, **options: Any) -> Page:
    async def go() -> Page:
        async with fetcher(server, **options) as client:
            return await client.get(url)

    page: Page = run(go)
    return page


def fails(server: TestServer, url: str, **options: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        get(server, url, **options)
    assert caught.value.url.startswith(("https://news.example/", "https://other.example/"))
    assert caught.value.url in str(caught.value)
    return caught.value


# Limits and politeness


def test_per_host_limit_holds_while_hosts_progress_in_parallel(server: TestServer) -> None:
    for n in range(8):
        server.routes[f"/news.example/{n}"] = Response(b"x", delay=0.3)
        server.routes[f"/other.example/{n}"] = Response(b"y", delay=0.3)

    async def go() -> list[Page]:
        async with fetcher(server, per_host=2) as client:
            urls = [f"{base}{n}" for base in (HOST, OTHER) for n in range(8)]
            pages = await asyncio.gather(*(client.get(url) for url in urls))
            assert client.hosts_known == 0, "idle hosts must not be kept"
            return pages

    pages = run(go)
    assert [p.body for p in pages] == [b"x"] * 8 + [b"y"] * 8
    assert server.max_in_flight["news.example"] == 2
    assert server.max_in_flight["other.example"] == 2


def test_minimum_delay_between_requests_to_one_host(server: TestServer) -> None:
    for n in range(4):
        server.routes[f"/news.example/{n}"] = Response(b"x")

    async def go() -> None:
        async with fetcher(server, per_host=2, host_delay=0.25) as client:
            await asyncio.gather(*(client.get(f"{HOST}{n}") for n in range(4)))

    run(go)
    starts = sorted(t for t, path in server.started if path != "/news.example/robots.txt")
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 4
    assert min(gaps) >= 0.24, gaps


def test_delay_holds_when_the_global_limit_bunches_requests(server: TestServer) -> None:
    server.routes["/other.example/slow"] = Response(b"x", delay=1.0)
    for n in range(3):
        server.routes[f"/news.example/{n}"] = Response(b"y")

    async def go() -> None:
        async with fetcher(server, total=1, per_host=2, host_delay=0.3, robots=False) as client:
            slow = asyncio.create_task(client.get(f"{OTHER}slow"))
            await asyncio.sleep(0.05)  # the one global slot is taken; news.example waits
            await asyncio.gather(slow, *(client.get(f"{HOST}{n}") for n in range(3)))

    run(go)
    starts = sorted(t for t, path in server.started if path.startswith("/news.example/"))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 3
    assert min(gaps) >= 0.29, gaps


def test_host_slots_do_not_grow_without_bound(server: TestServer) -> None:
    mirrors = {f"https://h{n}.example/": server.url(f"/h{n}.example/") for n in range(40)}
    for n in range(40):
        server.routes[f"/h{n}.example/a"] = Response(b"ok")

    async def go() -> int:
        async with fetcher(server, mirrors=mirrors) as client:
            for n in range(40):
                await client.get(f"https://h{n}.example/a")
            return client.hosts_known

    assert run(go) == 0


def test_robots_txt_of_the_original_host_is_obeyed_through_the_mirror(server: TestServer) -> None:
    server.routes["/news.example/robots.txt"] = Response(
        b"User-agent: *\nAllow: /\n\nUser-agent: aggregator\nDisallow: /private/\n",
        headers={"Content-Type": "text/plain"},
    )
    server.routes["/news.example/private/a"] = Response(b"secret")
    server.routes["/news.example/public/a"] = Response(b"public")

    async def go() -> bytes:
        async with fetcher(server) as client:
            with pytest.raises(BlockedURLError, match=r"disallowed by robots\.txt"):
                await client.get(f"{HOST}private/a")
            return (await client.get(f"{HOST}public/a")).body

    assert run(go) == b"public"
    assert server.hits("/news.example/private/a") == 0
    assert server.hits("/news.example/robots.txt") == 1
    # Turned off, robots.txt is neither read nor obeyed.
    assert get(server, f"{HOST}private/a", robots=False).body == b"secret"
    assert server.hits("/news.example/robots.txt") == 1


def test_missing_or_broken_robots_txt_allows_everything(server: TestServer) -> None:
    server.routes["/news.example/a"] = Response(b"a")
    server.routes["/other.example/robots.txt"] = Response(b"", 503)
    server.routes["/other.example/a"] = Response(b"b")
    assert get(server, f"{HOST}a").body == b"a"
    assert get(server, f"{OTHER}a", retries=0).body == b"b"
    assert server.hits("/news.example/robots.txt") == 1


def test_crawl_delay_spaces_requests(server: TestServer) -> None:
    server.routes["/news.example/robots.txt"] = Response(b"User-agent: *\nCrawl-delay: 0.4\n")
    for n in range(3):
        server.routes[f"/news.example/{n}"] = Response(b"x")

    async def go() -> None:
        async with fetcher(server, per_host=2) as client:
            await client.get(f"{HOST}0")
            await asyncio.gather(client.get(f"{HOST}1"), client.get(f"{HOST}2"))

    run(go)
    starts = sorted(t for t, path in server.started if path != "/news.example/robots.txt")
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.39, gaps


def test_honest_user_agent_and_accept_encoding_are_sent(server: TestServer) -> None:
    server.routes["/news.example/a"] = Response(b"a")
    get(server, f"{HOST}a")
    headers = dict(server.requests[-1][1])
    assert headers["User-Agent"] == "aggregator/0.1 (+https://example.org/contact)"
    assert headers["Accept-Encoding"] == "gzip, deflate"


# Conditional GET


def test_conditional_get_sends_validators_and_a_304_has_no_body(server: TestServer) -> None:
    server.routes["/news.example/feed"] = Response(
        b"<rss/>", etag='"v1"', headers={"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )

    async def go() -> tuple[Page, Page]:
        async with fetcher(server) as client:
            first = await client.get(f"{HOST}feed")
            return first, await client.get(f"{HOST}feed", validators=first.validators)

    first, second = run(go)
    assert first.status == 200 and not first.not_modified
    assert first.validators == Validators('"v1"', "Wed, 21 Oct 2015 07:28:00 GMT")
    assert second.not_modified and second.body == b""
    sent = dict(server.requests[-1][1])
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_polling_floor_from_max_age_and_rss_ttl() -> None:
    def page(headers: dict[str, str], body: bytes = b"") -> Page:
        return Page("u", "u", 200, headers, body)

    assert page({"cache-control": "public, max-age=600"}).poll_floor == 600
    assert page({}, b"<rss><channel><ttl>30</ttl></channel></rss>").poll_floor == 1800
    assert page({"cache-control": "max-age=60"}, b"<ttl>5</ttl>").poll_floor == 300
    assert page({"cache-control": "no-store, max-age=600"}).poll_floor == 0
    # A hostile floor is capped at a day.
    assert page({"cache-control": "max-age=99999999"}).poll_floor == 24 * 3600


# Retries


def _flaky(
    failures: list[Response], then: Response
) -> Callable[[BaseHTTPRequestHandler], Response]:
    answers = list(failures)

    def route(handler: BaseHTTPRequestHandler) -> Response:
        return answers.pop(0) if answers else then

    return route


def test_5xx_and_429_are_retried_then_succeed(server: TestServer) -> None:
    server.routes["/news.example/a"] = _flaky(
        [Response(b"", 503), Response(b"", 429)], Response(b"finally")
    )
    assert get(server, f"{HOST}a", retries=2).body == b"finally"
    assert server.hits("/news.example/a") == 3


def test_retries_are_capped_and_the_last_status_reported(server: TestServer) -> None:
    server.routes["/news.example/a"] = Response(b"", 500)
    error = fails(server, f"{HOST}a", retries=2)
    assert str(error) == "https://news.example/a: HTTP 500"
    assert error.status == 500 and not error.permanent
    assert server.hits("/news.example/a") == 3


def test_404_and_410_are_not_retried(server: TestServer) -> None:
    server.routes["/news.example/gone"] = Response(b"", 410)
    assert fails(server, f"{HOST}missing").permanent
    assert fails(server, f"{HOST}gone").permanent
    assert server.hits("/news.example/missing") == 1
    assert server.hits("/news.example/gone") == 1


def test_retry_after_seconds_is_obeyed(server: TestServer) -> None:
    server.routes["/news.example/a"] = _flaky(
        [Response(b"", 429, headers={"Retry-After": "1"})], Response(b"ok")
    )
    assert get(server, f"{HOST}a").body == b"ok"
    times = [t for t, path in server.started if path == "/news.example/a"]
    assert len(times) == 2 and times[1] - times[0] >= 0.99


def test_retry_after_over_the_cap_fails_at_once(server: TestServer) -> None:
    server.routes["/news.example/a"] = Response(b"", 503, headers={"Retry-After": "86400"})
    error = fails(server, f"{HOST}a", max_wait=2.0)
    assert "retry after 86400 s" in str(error) and "retry_max_wait" in str(error)
    assert server.hits("/news.example/a") == 1


def test_retry_after_http_date_and_backoff_arithmetic() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("soon", now) is None
    rng = random.Random(1)
    waits = [backoff_seconds(attempt, 1.0, 5.0, rng) for attempt in range(6)]
    for attempt, wait in enumerate(waits):
        ceiling = min(5.0, 2.0**attempt)
        assert ceiling / 2 <= wait <= ceiling


# Faults


def test_slow_response_times_out_and_is_retried(server: TestServer) -> None:
    server.routes["/news.example/slow"] = Response(b"late", delay=3)
    error = fails(server, f"{HOST}slow", timeout=0.5, retries=1)
    assert "timed out" in str(error)
    assert server.hits("/news.example/slow") == 2


def test_dripping_server_hits_the_total_timeout(server: TestServer) -> None:
    server.routes["/news.example/drip"] = Response(b"x" * 200, drip=0.05)
    error = fails(server, f"{HOST}drip", timeout=0.5, retries=0)
    assert str(error) == "https://news.example/drip: timed out after 0.5 s"


def test_connection_reset_mid_body(server: TestServer) -> None:
    server.routes["/news.example/reset"] = Response(CANTHO_PAGE, reset_after=1000)
    error = fails(server, f"{HOST}reset", retries=1)
    assert "connection reset" in str(error).lower() or "peer closed" in str(error)
    assert server.hits("/news.example/reset") == 2


def test_gzip_and_deflate_bodies_are_decoded(server: TestServer) -> None:
    server.routes["/news.example/gz"] = Response(
        gzip.compress(VTC_PAGE), headers={"Content-Encoding": "gzip"}
    )
    server.routes["/news.example/zlib"] = Response(
        zlib.compress(VTC_PAGE), headers={"Content-Encoding": "deflate"}
    )
    raw = zlib.compressobj(wbits=-15)
    server.routes["/news.example/raw"] = Response(
        raw.compress(VTC_PAGE) + raw.flush(), headers={"Content-Encoding": "deflate"}
    )
    for path in ("gz", "zlib", "raw"):
        assert get(server, f"{HOST}{path}").body == VTC_PAGE


def test_truncated_gzip_is_an_error_not_half_a_page(server: TestServer) -> None:
    body = gzip.compress(VTC_PAGE)
    server.routes["/news.example/a"] = Response(
        body[: len(body) // 2], headers={"Content-Encoding": "gzip"}
    )
    error = fails(server, f"{HOST}a")
    assert "compressed body is truncated" in str(error)


def test_body_over_the_limit(server: TestServer) -> None:
    server.routes["/news.example/big"] = Response(b"x" * 300_000)
    assert "over the limit" in str(fails(server, f"{HOST}big", max_bytes=100_000))


def test_gzip_bomb_is_stopped_by_the_decompressed_limit(server: TestServer) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    server.routes["/news.example/bomb"] = Response(bomb, headers={"Content-Encoding": "gzip"})
    error = fails(server, f"{HOST}bomb", max_bytes=1_000_000)
    assert "over the limit of 1000000 bytes once decompressed" in str(error)


# Redirects and the address guard


def test_redirects_are_followed_through_the_mirror(server: TestServer) -> None:
    server.routes["/news.example/old"] = Response(b"", 301, headers={"Location": f"{HOST}new"})
    server.routes["/news.example/new"] = Response(b"", 302, headers={"Location": "/final"})
    server.routes["/news.example/final"] = Response(b"here")
    page = get(server, f"{HOST}old")
    assert (page.requested_url, page.url, page.body) == (f"{HOST}old", f"{HOST}final", b"here")


def test_redirect_loop_and_too_many_redirects(server: TestServer) -> None:
    server.routes["/news.example/a"] = Response(b"", 302, headers={"Location": "/b"})
    server.routes["/news.example/b"] = Response(b"", 302, headers={"Location": "/a"})
    assert "redirect loop at https://news.example/a" in str(fails(server, f"{HOST}a"))
    for n in range(10):
        server.routes[f"/news.example/r{n}"] = Response(
            b"", 302, headers={"Location": f"/r{n + 1}"}
        )
    error = fails(server, f"{HOST}r0", max_redirects=3)
    assert "more than 3 redirects" in str(error)
    assert server.hits("/news.example/r4") == 0


def test_redirect_to_a_private_address_is_refused(server: TestServer) -> None:
    mirror = server.url("/news.example/")
    targets = {
        "loopback": server.url("/secret"),
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "private": "http://10.1.2.3/admin",
        "scheme": "file:///etc/passwd",
    }
    for name, target in targets.items():
        server.routes[f"/news.example/{name}"] = Response(b"", 302, headers={"Location": target})
    for name in targets:
        error = fails(
            server, f"{HOST}{name}", allow_private_networks=False, trusted=(mirror,), retries=0
        )
        assert isinstance(error, BlockedURLError)
        assert "private or reserved" in str(error) or "only http and https" in str(error)
    assert server.hits("/secret") == 0


def test_only_http_and_https() -> None:
    async def go() -> None:
        async with Fetcher(user_agent="aggregator/0.1") as client:
            await client.get("ftp://news.example/a")

    with pytest.raises(BlockedURLError, match="only http and https"):
        asyncio.run(go())


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("64:ff9b::7f00:1", False),  # NAT64 well-known prefix, 127.0.0.1
        ("64:ff9b::a01:203", False),  # NAT64, 10.1.2.3
        ("2002:7f00:1::", False),  # 6to4, 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4, 169.254.169.254 (cloud metadata)
        ("::7f00:1", False),  # IPv4-compatible, 127.0.0.1
        ("::ffff:0:7f00:1", False),  # IPv4-translated (SIIT), 127.0.0.1
        ("64:ff9b:1::808:808", False),  # NAT64 for local use only
        ("::1", False),
        ("::", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("2002:808:808::1", True),
        ("::808:808", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_ipv6_forms_embedding_ipv4_are_judged_by_the_ipv4_address(
    address: str, public: bool
) -> None:
    async def go() -> None:
        async with Fetcher(user_agent="aggregator/0.1") as client:
            await client.check_url(f"http://[{address}]/admin")

    if public:
        run(go)  # an IP literal: no DNS lookup, no request
    else:
        with pytest.raises(BlockedURLError, match="private or reserved"):
            run(go)


_MALFORMED_URLS = [
    "http://[oops/x",
    "http://news.example:99999/x",
    "https://news.example:abc/",
    "http://news.example:0/",
    "http://[v1.x]/",
    "http://news.example/a\x01b",
]


@pytest.mark.parametrize(
    ("url", "private"),
    [(url, private) for url in _MALFORMED_URLS for private in (True, False)]
    # Refused by httpx (IDNA), and by the address guard's host lookup (IDNA), before any request.
    + [("http://xn--zz.news/", True), ("http://a..b/", False)],
)
def test_malformed_url_is_refused_naming_it(url: str, private: bool) -> None:
    async def go() -> None:
        async with Fetcher(
            user_agent="aggregator/0.1", allow_private_networks=private, robots=False, retries=0
        ) as client:
            await client.get(url)

    with pytest.raises(BlockedURLError) as caught:
        run(go)
    assert caught.value.url == url
    assert str(caught.value).startswith(f"{url}: ")
    assert "not a valid" in str(caught.value) or "invalid URL" in str(caught.value)


def test_redirect_to_a_malformed_url_is_refused_naming_it_and_not_retried(
    server: TestServer,
) -> None:
    locations = {
        "port": "http://news.example:99999/x",  # refused by us
        "ipv6": "http://[oops/x",
        "ipv6-port": "http://[::1/x",  # refused by httpx as it reads the Location
        "future": "http://[v1.x]/",
        "idna": "http://xn--zz.news/",
    }
    for name, location in locations.items():
        server.routes[f"/news.example/{name}"] = Response(b"", 302, headers={"Location": location})
        error = fails(server, f"{HOST}{name}", retries=2)
        assert isinstance(error, BlockedURLError), error
        assert error.url == f"{HOST}{name}"
        assert "not a valid URL" in str(error) or "invalid URL" in str(error)
        assert server.hits(f"/news.example/{name}") == 1  # a malformed Location is not retried


# Charset: real Vietnamese text under wrong declarations


def test_utf8_vietnamese_page_served_as_latin1_is_not_mojibake(server: TestServer) -> None:
    server.routes["/news.example/a"] = Response(
        CANTHO_PAGE, headers={"Content-Type": "text/html; charset=ISO-8859-1"}
    )
    page = get(server, f"{HOST}a")
    assert page.text == CANTHO_PAGE.decode("utf-8")
    assert "Cần Thơ" in page.text


def _cp1258(text: str) -> bytes:
    """Text as Windows-1258 spells it: base letters (â, ơ, đ...) plus combining tone marks."""
    tones = "\u0300\u0301\u0303\u0309\u0323"
    spelled = []
    for char in text:
        parts = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        spelled.append(base + "".join(c for c in parts if c in tones))
    return "".join(spelled).encode("cp1258", errors="strict")


def test_legacy_vietnamese_charset_under_a_wrong_or_missing_declaration() -> None:
    # The first paragraphs of a real article, re-encoded as a legacy Windows-1258 page.
    html = CANTHO_PAGE.decode("utf-8")
    paragraphs = []
    for chunk in html.split("<p")[1:]:
        paragraph = "<p" + chunk.split("</p>")[0] + "</p>"
        try:
            _cp1258(paragraph)
        except UnicodeEncodeError:
            continue
        if "ng" in paragraph and len(paragraph) > 80:
            paragraphs.append(paragraph)
    assert len(paragraphs) >= 3
    body = "<html><body>" + "".join(paragraphs[:3]) + "</body></html>"
    legacy = _cp1258(body)
    for content_type in ("text/html; charset=utf-8", "text/html; charset=iso-8859-1", None):
        assert decode_document(legacy, content_type) == unicodedata.normalize("NFC", body)


def test_bom_and_utf16() -> None:
    text = "<html><body><p>Bản tin thời sự</p></body></html>"
    assert decode_document(text.encode("utf-16"), "text/html; charset=utf-8") == text
    assert decode_document(b"\xef\xbb\xbf" + text.encode(), "text/html; charset=latin-1") == text
