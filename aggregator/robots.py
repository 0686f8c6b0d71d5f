"""robots.txt per origin: downloaded once, cached (bounded, with an age limit), read with protego.

A robots.txt that is missing (any 4xx) allows everything, as RFC 9309 says. One that cannot be
downloaded (5xx, network error) also allows everything, unlike RFC 9309's "disallow all": a
flaky server must not silence a source for good, and every request still obeys the per-host
limits. Crawl-delay is honoured through `crawl_delay`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

log = logging.getLogger(__name__)

MAX_ROBOTS_BYTES = 512 * 1024
"""RFC 9309 asks crawlers to read at least 500 KiB; anything past that is ignored."""
CACHE_SECONDS = 24 * 3600
CACHE_ORIGINS = 512

Download = Callable[[str], Awaitable[tuple[int, bytes] | None]]
"""robots.txt URL -> (status, body), or None when it could not be downloaded at all."""


@dataclass(frozen=True, slots=True)
class Robots:
    """The rules of one origin; `rules` is None when everything is allowed."""

    rules: Protego | None
    fetched_at: float

    def allows(self, url: str, agent: str) -> bool:
        """True when `agent` may fetch `url`."""
        return self.rules is None or bool(self.rules.can_fetch(url, agent))

    def crawl_delay(self, agent: str) -> float:
        """The Crawl-delay for `agent` in seconds (0 when none is set)."""
        if self.rules is None:
            return 0.0
        delay = self.rules.crawl_delay(agent)
        return float(delay) if delay else 0.0


def parse_robots(status: int, body: bytes) -> Protego | None:
    """The rules of a robots.txt response; None (allow all) for a 4xx or an empty file."""
    if not 200 <= status < 300:
        return None
    text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace").removeprefix("\ufeff")
    return Protego.parse(text) if text.strip() else None


def robots_url(url: str) -> str:
    """The robots.txt URL governing `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def agent_token(user_agent: str) -> str:
    """The robots.txt product token of a User-Agent: "aggregator/0.1 (...)" -> "aggregator"."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"


class RobotsCache:
    """robots.txt per origin, downloaded at most once at a time, kept a day, at most 512 origins."""

    def __init__(self, download: Download, *, max_age: float = CACHE_SECONDS):
        self._download = download
        self._max_age = max_age
        self._cache: OrderedDict[str, Robots] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Robots]] = {}

    def cached(self, url: str) -> Robots | None:
        """The rules already known for the origin of `url`, without downloading."""
        return self._cache.get(robots_url(url))

    async def for_url(self, url: str) -> Robots:
        """The rules for the origin of `url`, downloading its robots.txt when needed."""
        key = robots_url(url)
        known = self._cache.get(key)
        if known is not None and time.monotonic() - known.fetched_at < self._max_age:
            self._cache.move_to_end(key)
            return known
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Robots] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            robots = await self._load(key)
            future.set_result(robots)
        except BaseException as exc:
            future.set_exception(exc)
            # Nobody else may be waiting: mark the exception retrieved.
            future.exception()
            raise
        finally:
            del self._pending[key]
        self._cache[key] = robots
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_ORIGINS:
            self._cache.popitem(last=False)
        return robots

    async def _load(self, key: str) -> Robots:
        answer = await self._download(key)
        if answer is None:
            return Robots(None, time.monotonic())
        status, body = answer
        if status >= 500:
            log.warning("url=%s: robots.txt answered HTTP %s; allowing all", key, status)
        return Robots(parse_robots(status, body), time.monotonic())
