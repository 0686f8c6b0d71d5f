"""aggregator.urls `join_url` and `url_problem`: malformed links give None or a reason, never
the ValueError urllib raises on them."""

from __future__ import annotations

import pytest

from aggregator.urls import join_url, url_problem

HOSTILE = [
    "http://[oops/x",  # urlsplit: Invalid IPv6 URL
    "http://[::1/x",
    "http://e.com:99999/x",  # .port: Port out of range 0-65535
    "https://e.com:abc/",  # .port: Port could not be cast to integer
    "http://e.com:0/",
    "http://[v1.x]/",  # accepted by urllib, refused by httpx
    "http://e.com/a\x01b",
    "javascript:alert(1)",
    "mailto:a@e.com",
    "http:///path-only",
]


@pytest.mark.parametrize("href", HOSTILE)
def test_join_url_gives_none_for_anything_but_a_valid_http_url(href: str) -> None:
    assert join_url("https://e.com/news/", href) is None
    assert url_problem(href) is not None


@pytest.mark.parametrize("base", ["http://[oops/", "http://e.com:99999/", "ftp://e.com/"])
def test_join_url_with_a_bad_base_gives_none_for_relative_links(base: str) -> None:
    assert join_url(base, "/a-b-c.html") is None


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("a-b-c.html", "https://e.com/news/a-b-c.html"),
        (" /x.html ", "https://e.com/x.html"),
        ("//cdn.e.com/i.jpg", "https://cdn.e.com/i.jpg"),
        ("http://e.com:8080/x", "http://e.com:8080/x"),
        ("http://[2001:db8::1]/x", "http://[2001:db8::1]/x"),
        ("https://báo.vn/tin?id=1#top", "https://báo.vn/tin?id=1#top"),
    ],
)
def test_join_url_resolves_valid_links(href: str, expected: str) -> None:
    assert join_url("https://e.com/news/", href) == expected
    assert url_problem(expected) is None


def test_url_problem_names_the_reason() -> None:
    assert url_problem("ftp://e.com/") == "only http and https URLs are fetched"
    assert url_problem("http://e.com:99999/") == "not a valid URL (Port out of range 0-65535)"
    assert url_problem("http://[oops/") == "not a valid URL (Invalid IPv6 URL)"
