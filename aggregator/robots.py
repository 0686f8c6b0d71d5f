"""robots.txt per origin: downloaded once a day, cached (bounded), read with protego.

A robots.txt that is missing (any 4xx) allows everything, as RFC 9309 says. One that cannot be
downloaded (5xx, network error) also allows everything, unlike RFC 9309's "disallow all": a
flaky server must not silence a source for good, and every request still obeys the per-host
limits; that answer is kept an hour only, so the real file is read soon, and a copy read
before, even older than a day, is obeyed instead when there is one. Crawl-delay is honoured
through `crawl_delay`.

With a `RobotsStore` (the state file), each download is saved and a later run (a cron job, the
daemon's next poll) reuses it while it is fresh instead of asking the host again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from protego import Protego

from aggregator.state import StoredRobots

log = logging.getLogger(__name__)

MAX_ROBOTS_BYTES = 512 * 1024
"""RFC 9309 asks crawlers to read at least 500 KiB; anything past that is ignored."""
CACHE_SECONDS = 24 * 3600
FAILED_CACHE_SECONDS = 3600
"""A robots.txt that could not be downloaded (5xx, network error) is taken as "allow all" for
this long at most, then asked for again."""
CACHE_ORIGINS = 512

Download = Callable[[str], Awaitable[tuple[int, bytes] | None]]
"""robots.txt URL -> (status, body), or None when it could not be downloaded at all."""


class RobotsStore(Protocol):
    """Where downloaded robots.txt files are kept across runs (aggregator.state.State)."""

    def robots_txt(self, origin: str) -> StoredRobots | None:
        """The last download for an origin ("https://host"), or None."""

    def save_robots_txt(self, origin: str, robots: StoredRobots) -> None:
        """Keep a download for an origin."""


@dataclass(frozen=True, slots=True)
class Robots:
    """The rules of one origin; `rules` is None when everything is allowed."""

    rules: Protego | None
    fetched_at: datetime
    failed: bool = False
    """The file could not be downloaded (5xx, network error): everything is allowed for now."""

    @classmethod
    def of(cls, stored: StoredRobots) -> Robots:
        """The rules of a download (as kept in the state)."""
        if stored.status is None:
            return cls(None, stored.fetched_at, failed=True)
        return cls(
            parse_robots(stored.status, stored.body), stored.fetched_at, stored.status >= 500
        )

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


def robots_origin(url: str) -> str:
    """The origin a robots.txt URL governs: "https://host/robots.txt" -> "https://host"."""
    return url.removesuffix("/robots.txt")


class RobotsCache:
    """robots.txt per origin, downloaded at most once at a time, kept a day (an hour when it
    could not be downloaded), at most 512 origins in memory; kept across runs in `store`."""

    def __init__(
        self,
        download: Download,
        *,
        max_age: float = CACHE_SECONDS,
        store: RobotsStore | None = None,
    ):
        self._download = download
        self._max_age = max_age
        self._store = store
        self._cache: OrderedDict[str, Robots] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Robots]] = {}

    def _fresh(self, robots: Robots) -> bool:
        limit = min(self._max_age, FAILED_CACHE_SECONDS) if robots.failed else self._max_age
        age = (datetime.now(UTC) - robots.fetched_at).total_seconds()
        # A time in the future (the clock was moved back) is not trusted either.
        return 0 <= age < limit

    def cached(self, url: str) -> Robots | None:
        """The rules already known for the origin of `url`, without downloading."""
        return self._cache.get(robots_url(url))

    async def for_url(self, url: str) -> Robots:
        """The rules for the origin of `url`, downloading its robots.txt when needed."""
        key = robots_url(url)
        known = self._cache.get(key)
        if known is not None and self._fresh(known):
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
        """The stored copy while it is fresh, else a new download (then stored)."""
        origin = robots_origin(key)
        stale: Robots | None = None
        if self._store is not None:
            stored = self._store.robots_txt(origin)
            if stored is not None:
                robots = Robots.of(stored)
                if self._fresh(robots):
                    return robots
                stale = None if robots.failed else robots
        answer = await self._download(key)
        now = datetime.now(UTC)
        if answer is None:
            stored = StoredRobots(None, b"", now)
        else:
            status, body = answer
            stored = StoredRobots(
                status, body[:MAX_ROBOTS_BYTES] if 200 <= status < 300 else b"", now
            )
        robots = Robots.of(stored)
        if robots.failed and stale is not None:
            # RFC 9309 allows an old copy while the file is unreachable: its rules are safer
            # than none. It stays stored as it was, so the next run asks again.
            log.warning("url=%s: robots.txt not available; obeying the copy read before", key)
            return Robots(stale.rules, now, failed=True)
        if stored.status is not None and stored.status >= 500:
            log.warning("url=%s: robots.txt answered HTTP %s; allowing all", key, stored.status)
        if self._store is not None:
            self._store.save_robots_txt(origin, stored)
        return robots
