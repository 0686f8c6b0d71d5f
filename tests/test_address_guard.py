"""The address guard at connection time, against the real local server on 127.0.0.1.

Host names are answered by a stand-in for the system resolver (socket.getaddrinfo, which the
event loop's getaddrinfo calls): the only thing replaced. A "public" answer is an address that
cannot reach the local server (offline, it fails to connect); "127.0.0.1" reaches it, so
`server.requests` says whether a refused host was ever connected to.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from typing import Any

import pytest

from aggregator.errors import BlockedURLError, FetchError
from aggregator.fetch import Fetcher, Page
from tests.server import Response, TestServer

HOST = "https://news.example/"
PUBLIC = "93.184.215.14"
"""A globally routable address: allowed by the guard, never the local test server."""


class Resolver:
    """Answers for made-up host names, in turn (the last answer repeats); other names go to
    the real resolver. Every lookup is counted, per name."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str] | OSError]] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._real = socket.getaddrinfo

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        with self._lock:
            turn = self.calls.get(name, 0)
            self.calls[name] = turn + 1
        if name not in self.answers:
            return self._real(host, port, *args, **kwargs)
        answers = self.answers[name]
        answer = answers[min(turn, len(answers) - 1)]
        if isinstance(answer, OSError):
            raise answer
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port), 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))
            for address in answer
        ]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    fake = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


def fetch(url: str, **options: Any) -> Page:
    """GET one URL with the guard on (unless `options` turn it off)."""
    settings: dict[str, Any] = {
        "user_agent": "aggregator/0.1 (+https://example.org/contact)",
        "host_delay": 0.0,
        "backoff": 0.01,
        "timeout": 5.0,
        "connect_timeout": 1.0,
        "robots": False,
        "rng": random.Random(5),
    }
    settings.update(options)

    async def go() -> Page:
        async with Fetcher(**settings) as client:
            return await client.get(url)

    return asyncio.run(go())


def refusal(host: str, address: str) -> str:
    return (
        f"refused: {host} is a private or reserved address ({address});"
        " set settings.allow_private_networks: true to allow it"
    )


def test_dns_rebinding_never_reaches_the_local_server(
    server: TestServer, resolver: Resolver
) -> None:
    # A hostile DNS server: a public address to the first lookup, loopback to every later one.
    # A check that resolves apart from the connection sees the public answer and lets the
    # connection (which looks the name up again) reach 127.0.0.1.
    server.routes["/secret"] = Response(b"secret")
    resolver.answers["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]
    url = f"http://rebind.test:{server.port}/secret"
    with pytest.raises(FetchError) as caught:
        fetch(url, retries=1)
    assert server.requests == []
    # The first attempt connects to the checked public address (and fails); the retry looks
    # the name up again, gets loopback, and is refused before connecting.
    assert resolver.calls["rebind.test"] == 2
    assert isinstance(caught.value, BlockedURLError)
    assert str(caught.value) == f"{url}: {refusal('rebind.test', '127.0.0.1')}"


def test_host_resolving_to_loopback_is_refused_once_naming_the_url(
    server: TestServer, resolver: Resolver
) -> None:
    server.routes["/secret"] = Response(b"secret")
    resolver.answers["evil.test"] = [["127.0.0.1"]]
    url = f"http://evil.test:{server.port}/secret"
    with pytest.raises(BlockedURLError) as caught:
        fetch(url, retries=2)
    assert caught.value.url == url
    assert str(caught.value) == f"{url}: {refusal('evil.test', '127.0.0.1')}"
    assert resolver.calls["evil.test"] == 1  # not retried
    assert server.requests == []


def test_redirect_hop_to_a_host_resolving_to_loopback_is_refused(
    server: TestServer, resolver: Resolver
) -> None:
    mirror = server.url("/news.example/")
    target = f"http://evil.test:{server.port}/secret"
    server.routes["/news.example/go"] = Response(b"", 302, headers={"Location": target})
    server.routes["/secret"] = Response(b"secret")
    resolver.answers["evil.test"] = [["127.0.0.1"]]
    with pytest.raises(BlockedURLError) as caught:
        fetch(f"{HOST}go", mirrors={HOST: mirror}, trusted=(mirror,), retries=2)
    assert caught.value.url == f"{HOST}go"
    assert str(caught.value) == (
        f"{HOST}go: redirected to {target}: {refusal('evil.test', '127.0.0.1')}"
    )
    assert server.hits("/news.example/go") == 1
    assert server.hits("/secret") == 0


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"],
)
def test_one_non_public_answer_among_public_ones_refuses_the_host(
    server: TestServer, resolver: Resolver, address: str
) -> None:
    resolver.answers["mixed.test"] = [[PUBLIC, address]]
    url = f"http://mixed.test:{server.port}/secret"
    with pytest.raises(BlockedURLError) as caught:
        fetch(url, retries=0)
    assert str(caught.value) == f"{url}: {refusal('mixed.test', address)}"
    assert server.requests == []


def test_allow_private_networks_turns_the_guard_off(server: TestServer, resolver: Resolver) -> None:
    server.routes["/secret"] = Response(b"secret")
    resolver.answers["evil.test"] = [["127.0.0.1"]]
    page = fetch(f"http://evil.test:{server.port}/secret", allow_private_networks=True)
    assert page.body == b"secret"


def test_trusted_mirror_named_by_host_name_is_reached_and_only_under_its_prefix(
    server: TestServer, resolver: Resolver
) -> None:
    resolver.answers["mirror.test"] = [["127.0.0.1"]]
    mirror = f"http://mirror.test:{server.port}/news.example/"
    outside = f"http://mirror.test:{server.port}/secret"
    server.routes["/news.example/page"] = Response(b"page")
    server.routes["/news.example/away"] = Response(b"", 302, headers={"Location": outside})
    server.routes["/secret"] = Response(b"secret")
    options: dict[str, Any] = {"mirrors": {HOST: mirror}, "trusted": (mirror,), "retries": 0}
    assert fetch(f"{HOST}page", **options).body == b"page"
    with pytest.raises(BlockedURLError) as caught:
        fetch(f"{HOST}away", **options)
    assert refusal("mirror.test", "127.0.0.1") in str(caught.value)
    assert server.hits("/secret") == 0


def test_unresolvable_host_is_a_clear_error_and_not_retried(resolver: Resolver) -> None:
    resolver.answers["nowhere.test"] = [socket.gaierror(socket.EAI_NONAME, "Name not known")]
    url = "http://nowhere.test/a"
    with pytest.raises(FetchError) as caught:
        fetch(url, retries=2)
    assert not isinstance(caught.value, BlockedURLError)
    assert str(caught.value).startswith(f"{url}: cannot resolve host 'nowhere.test'")
    assert resolver.calls["nowhere.test"] == 1


def test_ip_address_in_the_url_is_refused_without_a_lookup_or_connection(
    server: TestServer, resolver: Resolver
) -> None:
    server.routes["/secret"] = Response(b"secret")
    url = server.url("/secret")
    with pytest.raises(BlockedURLError) as caught:
        fetch(url, retries=2)
    assert str(caught.value) == f"{url}: {refusal('127.0.0.1', '127.0.0.1')}"
    assert resolver.calls == {}
    assert server.requests == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "localhost"])
def test_other_spellings_of_loopback_are_refused_when_connecting(
    server: TestServer, resolver: Resolver, host: str
) -> None:
    # Not IP addresses to the URL check: the system resolver turns them into 127.0.0.1.
    server.routes["/secret"] = Response(b"secret")
    url = f"http://{host}:{server.port}/secret"
    with pytest.raises(BlockedURLError, match="is a private or reserved address"):
        fetch(url, retries=0)
    assert server.requests == []
