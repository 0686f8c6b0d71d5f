"""EDGE: the one HTTP client. URL -> Page (bytes, final URL, headers), politely and within limits.

- Limits: a global and a per-host number of requests at once, a minimum delay between requests
  to one host (raised by robots.txt Crawl-delay), connect and total timeouts, a maximum body
  size counted both as downloaded and as decompressed (gzip bombs), at most N redirects.
- Politeness: robots.txt per origin (see aggregator.robots), an honest User-Agent, conditional
  GET (If-None-Match / If-Modified-Since from the Validators the caller passes in).
- Faults: timeouts, connection errors, 408, 429 and 5xx are retried with capped exponential
  backoff and jitter; Retry-After (seconds or HTTP date) is obeyed up to the same cap.
- Address guard: redirects are followed here, hop by hop, so that every hop is checked: http(s)
  only, and no loopback/private/link-local/multicast/reserved address unless allowed. An IP
  address in a URL is refused at once; a host name is resolved and checked when a connection
  is opened, on the addresses actually connected to (aggregator.connections.GuardedBackend),
  so a DNS answer cannot change between the check and the connection.

Mirrors: a URL under a configured prefix is downloaded from the mirror, but everything else
(robots.txt, the per-host limit, the URLs in pages and errors) behaves as for the original URL.
The address guard checks the URL actually requested (the mirror's), except under `trusted`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpcore
import httpx

from aggregator.charset import decode_document
from aggregator.connections import (
    POOL_KEY,
    BlockedAddressError,
    GuardedBackend,
    PoolPerHost,
    Slots,
    UnresolvableHostError,
    is_ip_address,
    is_public_address,
    origin_of,
    public_addresses,
)
from aggregator.errors import BlockedURLError, FetchError
from aggregator.robots import MAX_ROBOTS_BYTES, RobotsCache, RobotsStore, agent_token
from aggregator.streams import AsyncioBackend
from aggregator.urls import join_url, url_problem

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5
PER_HOST = 2
TOTAL = 16
HOST_DELAY = 0.5
RETRIES = 2
BACKOFF = 1.0
MAX_WAIT = 30.0
CONNECT_TIMEOUT = 10.0
HOSTS_KEPT = 256
"""Idle per-host slots are dropped once more than this many hosts are known."""
ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,*/*;q=0.8"
)
REDIRECTS = (301, 302, 303, 307, 308)
_RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 520, 521, 522, 523, 524})
_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>", re.IGNORECASE)
TTL_BYTES = 64 * 1024
MAX_POLL_FLOOR = 24 * 3600
"""A hostile max-age or <ttl> can delay polling by a day at most."""
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Validators:
    """What a previous response said about its version, to be sent back in a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        """The conditional request headers."""
        sent = {}
        if self.etag:
            sent["If-None-Match"] = self.etag
        if self.last_modified:
            sent["If-Modified-Since"] = self.last_modified
        return sent


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched document: what was asked for, where it ended up, and its bytes.

    A status of 304 (`not_modified`) means the validators sent still hold: the body is empty.
    """

    requested_url: str
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def content_type(self) -> str | None:
        """The Content-Type header, if any."""
        return self.headers.get("content-type")

    @property
    def text(self) -> str:
        """The body decoded from its charset (header, BOM, prolog, <meta>, or detected)."""
        return decode_document(self.body, self.content_type)

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional GET."""
        return self.status == 304

    @property
    def validators(self) -> Validators:
        """The ETag and Last-Modified of this response, to send back next time."""
        return Validators(self.headers.get("etag"), self.headers.get("last-modified"))

    @property
    def max_age(self) -> int | None:
        """Seconds the response says it stays fresh (Cache-Control max-age), if it says."""
        control = self.headers.get("cache-control", "")
        if "no-store" in control.lower():
            return None
        match = _MAX_AGE.search(control)
        return int(match.group(1)) if match else None

    @property
    def poll_floor(self) -> int:
        """Seconds before this URL should be polled again: Cache-Control max-age or RSS <ttl>
        (minutes), whichever is longer, at most a day; 0 when the response sets no floor."""
        ttl = _TTL.search(self.body[:TTL_BYTES]) if self.body else None
        floor = max(self.max_age or 0, int(ttl.group(1)) * 60 if ttl else 0)
        return min(floor, MAX_POLL_FLOOR)


class _Retryable(FetchError):
    """A failure worth another attempt: timeout, connection error, 408/429/5xx."""

    def __init__(
        self, url: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(url, message, status=status)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """The wait before retry number `attempt` (0-based): base * 2^attempt, capped, with jitter."""
    return float(min(cap, base * 2.0**attempt) * rng.uniform(0.5, 1.0))


class _Decoder:
    """Content-Encoding gzip/deflate/identity -> bytes, refusing more than `limit` bytes out."""

    def __init__(self, url: str, encoding: str, limit: int):
        self.url = url
        self.limit = limit
        self.size = 0
        encoding = encoding.strip().lower()
        self._zlib: zlib._Decompress | None = None
        self._deflate = False
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._deflate = True
        elif encoding not in ("", "identity"):
            raise FetchError(url, f"unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes) -> bytes:
        if self._deflate and self._zlib is None:
            # "deflate" is zlib-wrapped by the standard, raw deflate by many servers.
            raw = not data or (data[0] & 0x0F) != 8
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        if self._zlib is None:
            return self._count(data)
        out: list[bytes] = []
        try:
            while data:
                # Bounded output per call, so a bomb never expands past the limit in memory.
                chunk = self._zlib.decompress(data, self.limit - self.size + 1)
                out.append(self._count(chunk))
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(self.url, f"corrupt compressed body ({exc})") from None
        return b"".join(out)

    def finish(self) -> bytes:
        if self._zlib is None:
            return b""
        if not self._zlib.eof:
            raise FetchError(self.url, "compressed body is truncated")
        return self._count(self._zlib.flush())

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.limit:
            raise FetchError(
                self.url, f"body over the limit of {self.limit} bytes once decompressed"
            )
        return data


@dataclass
class _Host:
    """The requests in flight to one host and when the next one may start."""

    slots: asyncio.Semaphore
    next_start: float = 0.0
    last_start: float = float("-inf")
    """When the last request to the host really started (after the global limit let it)."""
    users: int = 0


class Fetcher:
    """One async HTTP client shared by a run (or a daemon): limits, politeness, retries."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        allow_private_networks: bool = False,
        max_bytes: int = MAX_BODY_BYTES,
        per_host: int = PER_HOST,
        total: int = TOTAL,
        mirrors: dict[str, str] | None = None,
        host_delay: float = HOST_DELAY,
        max_redirects: int = MAX_REDIRECTS,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        max_wait: float = MAX_WAIT,
        robots: bool = True,
        connect_timeout: float = CONNECT_TIMEOUT,
        rng: random.Random | None = None,
        trusted: tuple[str, ...] = (),
        robots_store: RobotsStore | None = None,
    ):
        """`trusted`: URL prefixes (as requested, after mirroring) the address guard lets through,
        such as a local mirror, while every other hop stays guarded. `robots_store` (the state)
        keeps robots.txt files across runs; without it they are kept for this Fetcher only."""
        self.allow_private_networks = allow_private_networks
        self.mirrors = dict(mirrors or {})
        self.trusted = trusted
        self._trusted_origins = frozenset(origin_of(prefix) for prefix in trusted)
        """The (host, port) pairs of the trusted prefixes: connections to them are not checked."""
        backend = (
            AsyncioBackend()
            if allow_private_networks
            else GuardedBackend(AsyncioBackend(), trusted=self._trusted_origins)
        )
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.host_delay = host_delay
        self.max_redirects = max_redirects
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.agent = agent_token(user_agent)
        self._rng = rng or random.Random()
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": user_agent,
                "Accept": ACCEPT,
                "Accept-Language": "vi,en;q=0.7",
                # Decoded here, not by httpx, to count decompressed bytes and see truncation.
                "Accept-Encoding": "gzip, deflate",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, connect_timeout)),
            follow_redirects=False,
            # One pool per host; idle ones kept up to about HOSTS_KEPT idle sockets in all.
            transport=PoolPerHost(
                per_host=per_host,
                idle_pools=max(1, HOSTS_KEPT // per_host),
                trust_env=False,
                network_backend=backend,
            ),
            trust_env=False,
        )
        self._total = Slots(total, size=self._requests_left)
        self._per_host_limit = per_host
        self._hosts: dict[str, _Host] = {}
        self._robots = RobotsCache(self._download_robots, store=robots_store) if robots else None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def hosts_known(self) -> int:
        """How many per-host slots are held (bounded: idle hosts are dropped)."""
        return len(self._hosts)

    async def check_url(self, url: str) -> None:
        """Refuse, without a DNS lookup, a URL that is not a valid http(s) URL, whose host is a
        non-public IP address, or whose host name cannot be IDNA-encoded. The addresses a host
        name resolves to are checked as each connection is opened (GuardedBackend)."""
        problem = url_problem(url)
        if problem is not None:
            raise BlockedURLError(url, problem)
        if self.allow_private_networks:
            return
        host = urlsplit(url).hostname or ""
        if is_ip_address(host):
            if not is_public_address(host):
                raise BlockedURLError(url, _refusal(host, host))
            return
        try:
            host.encode("idna")
        except UnicodeError as exc:  # "a..b", labels over 63 characters
            raise BlockedURLError(url, f"not a valid host name {host!r} ({exc})") from None

    def _to_mirror(self, url: str) -> tuple[str, bool]:
        for prefix, mirror in self.mirrors.items():
            if url.startswith(prefix):
                return mirror + url[len(prefix) :], True
        return url, False

    def _from_mirror(self, url: str) -> str:
        for prefix, mirror in self.mirrors.items():
            if url.startswith(mirror):
                return prefix + url[len(mirror) :]
        return url

    async def get(
        self, url: str, *, validators: Validators | None = None, priority: int | None = None
    ) -> Page:
        """GET a URL: FetchError for any failure or a status other than 2xx or 304.

        Redirects are followed; transient failures are retried. With `validators`, the request
        is conditional and a 304 comes back as a Page with `not_modified` and no body. A URL
        under a mirror prefix is downloaded from the mirror, but the Page carries the original.
        `priority` orders the requests waiting for one of the global slots: None for a
        source's documents, which go first, else an article's claim order (see
        `_requests_left`).
        """
        headers = validators.headers() if validators else {}
        for attempt in range(self.retries + 1):
            try:
                return await self._follow(url, headers, priority)
            except _Retryable as exc:
                if attempt == self.retries:
                    raise FetchError(exc.url, _reason(exc), status=exc.status) from None
                wait = backoff_seconds(attempt, self.backoff, self.max_wait, self._rng)
                if exc.retry_after is not None:
                    if exc.retry_after > self.max_wait:
                        raise FetchError(
                            exc.url,
                            f"{_reason(exc)}; the server asks to retry after"
                            f" {exc.retry_after:.0f} s, more than settings.retry_max_wait",
                            status=exc.status,
                        ) from None
                    wait = max(wait, exc.retry_after)
                log.info("url=%s: %s; retrying in %.1f s", url, _reason(exc), wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _follow(self, url: str, headers: dict[str, str], priority: int | None) -> Page:
        current = url
        seen: set[str] = set()
        for _ in range(self.max_redirects + 1):
            if current in seen:
                raise FetchError(url, f"redirect loop at {current}")
            seen.add(current)
            try:
                page = await self._hop(url, current, headers, priority)
            except FetchError as exc:
                raise exc if current == url else _relabel(exc, url) from None
            if isinstance(page, Page):
                return page
            # Relative to the original URL, as the site meant it, not to the mirror.
            target = join_url(current, page)
            if target is None:
                reason = url_problem(page) or "not a valid URL"
                raise BlockedURLError(url, f"redirected to {page!r}: {reason}")
            current = self._from_mirror(target)
        raise FetchError(url, f"more than {self.max_redirects} redirects (last: {current})")

    async def _hop(
        self, url: str, current: str, headers: dict[str, str], priority: int | None
    ) -> Page | str:
        """One request of a redirect chain: the Page, or the Location to go to next."""
        await self._guard(current)
        if self._robots is not None:
            robots = await self._robots.for_url(current)
            if not robots.allows(current, self.agent):
                raise BlockedURLError(current, "disallowed by robots.txt")
        status, response_headers, body, _ = await self._fetch_once(
            current, headers, self.max_bytes, guarded=True, priority=priority
        )
        if status in REDIRECTS and "location" in response_headers:
            return response_headers["location"]
        if status == 304 and headers:
            return Page(url, current, status, response_headers, b"")
        if not 200 <= status < 300:
            message = f"HTTP {status}"
            if status in _RETRIED_STATUS:
                retry_after = retry_after_seconds(response_headers.get("retry-after"))
                raise _Retryable(current, message, status=status, retry_after=retry_after)
            raise FetchError(current, message, status=status)
        return Page(url, current, status, response_headers, body)

    async def _guard(self, url: str) -> None:
        """The address guard, applied to the URL actually requested (the mirror's, if any)."""
        target, mirrored = self._to_mirror(url)
        trusted = bool(self.trusted) and target.startswith(self.trusted)
        if mirrored or trusted:
            # check_url judges the URL requested; the one asked for must be sound as well.
            problem = url_problem(url)
            if problem is not None:
                raise BlockedURLError(url, problem)
        if trusted:
            return
        await self.check_url(target)
        if self.allow_private_networks or not self._trusted_origins:
            return
        try:
            host, port = origin_of(target)
        except (httpx.InvalidURL, UnicodeError):
            return  # refused by httpx as the request is made
        if (host, port) not in self._trusted_origins:
            return
        # Connections to a trusted mirror's host and port are not checked, so a URL there
        # outside the trusted prefixes is checked here, by a lookup of its own.
        try:
            await public_addresses(host, port, self.timeout)
        except BlockedAddressError as exc:
            raise BlockedURLError(url, _refusal(exc.host, exc.address)) from None
        except UnresolvableHostError as exc:
            raise FetchError(url, str(exc)) from None
        except httpcore.ConnectTimeout as exc:
            raise _Retryable(url, str(exc)) from None

    async def _fetch_once(
        self,
        url: str,
        headers: dict[str, str],
        limit: int,
        *,
        guarded: bool = False,
        priority: int | None = None,
    ) -> tuple[int, dict[str, str], bytes, str]:
        """One request within the host's and the global limits: status, headers, body, URL asked."""
        if not guarded:
            await self._guard(url)
        target, _ = self._to_mirror(url)
        host = urlsplit(url).hostname or ""
        await self._acquire(host, url)
        try:
            await self._take_spaced_slot(host, url, priority)
            try:
                status, response_headers, body = await self._request(url, target, headers, limit)
            finally:
                self._total.release()
        finally:
            self._release(host)
        return status, response_headers, body, target

    def _delay(self, url: str) -> float:
        """Seconds between the starts of two requests to the URL's host."""
        delay = self.host_delay
        if self._robots is not None:
            robots = self._robots.cached(url)
            if robots is not None:
                delay = max(delay, min(robots.crawl_delay(self.agent), self.max_wait))
        return delay

    async def _take_spaced_slot(self, host: str, url: str, priority: int | None) -> None:
        """Take a global slot at a moment `_delay` after the host's last real start.

        Starts are planned when the host's slot is taken (`_acquire`); a wait for the global
        limit after that can bunch them up again, and this puts the gap back. The gap is waited
        out without a global slot: held, it would idle while other hosts' requests could use it
        (with claim-order priorities, the slots would all go to the few hosts taken first).
        """
        slot = self._hosts[host]
        delay = self._delay(url)
        while True:
            wait = slot.last_start + delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            # A source's documents first, as they bring the work (see _requests_left).
            await self._total.acquire(priority or 0, None if priority is None else host)
            if slot.last_start + delay <= time.monotonic():
                break
            # Another request to the host started while this one waited for the slot.
            self._total.release()
        slot.last_start = time.monotonic()
        # Later plans (and forgetting the host when idle) count from this real start.
        slot.next_start = max(slot.next_start, slot.last_start + delay)

    def _requests_left(self, host: str) -> int:
        """The requests to a host waiting or in flight: the global slots go to the host with the
        most left (then to the lowest claim order).

        Each host is held to its own pace (per-host limit and delay), so the run ends when its
        busiest host does: serving that host whenever its pace allows, and the others in
        between, keeps enough hosts busy to fill the slots until the end. In claim order alone,
        the last seconds would be left to a few hosts, each waiting out its delay, with the
        slots idle.
        """
        slot = self._hosts.get(host)
        return slot.users if slot else 0

    async def _acquire(self, host: str, url: str) -> None:
        slot = self._hosts.get(host)
        if slot is None:
            if len(self._hosts) >= HOSTS_KEPT:
                self._forget_idle_hosts()
            slot = self._hosts[host] = _Host(asyncio.Semaphore(self._per_host_limit))
        slot.users += 1
        self._total.resized(host)
        try:
            await slot.slots.acquire()
        except BaseException:
            slot.users -= 1
            self._total.resized(host)
            raise
        delay = self._delay(url)
        now = time.monotonic()
        start = max(now, slot.next_start)
        slot.next_start = start + delay
        if start > now:
            try:
                await asyncio.sleep(start - now)
            except BaseException:
                self._release(host)
                raise

    def _release(self, host: str) -> None:
        slot = self._hosts[host]
        slot.slots.release()
        slot.users -= 1
        self._total.resized(host)
        if slot.users == 0 and slot.next_start <= time.monotonic():
            del self._hosts[host]

    def _forget_idle_hosts(self) -> None:
        now = time.monotonic()
        for host in [h for h, s in self._hosts.items() if s.users == 0 and s.next_start <= now]:
            del self._hosts[host]

    async def _request(
        self, url: str, target: str, headers: dict[str, str], limit: int
    ) -> tuple[int, dict[str, str], bytes]:
        """One GET of `target` (errors name `url`, the original): status, headers and body."""
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream(
                    "GET", target, headers=headers, extensions={POOL_KEY: urlsplit(url).hostname}
                ) as response:
                    status = response.status_code
                    response_headers = {k.lower(): v for k, v in response.headers.items()}
                    if not 200 <= status < 300:
                        # Error pages, redirects and 304s are not read: nothing in them is used.
                        return status, response_headers, b""
                    declared = response_headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise FetchError(url, f"body of {declared} bytes is over the limit")
                    decoder = _Decoder(url, response_headers.get("content-encoding", ""), limit)
                    chunks: list[bytes] = []
                    downloaded = 0
                    async for chunk in response.aiter_raw():
                        downloaded += len(chunk)
                        if downloaded > limit:
                            raise FetchError(url, f"body over the limit of {limit} bytes")
                        chunks.append(decoder.feed(chunk))
                    chunks.append(decoder.finish())
                    return status, response_headers, b"".join(chunks)
        except TimeoutError:
            raise _Retryable(url, f"timed out after {self.timeout:g} s") from None
        except httpx.TimeoutException as exc:
            raise _Retryable(url, f"timed out ({_describe(exc)})") from None
        except httpx.RemoteProtocolError as exc:
            # httpx reads the Location of every redirect: a malformed one will not mend on retry.
            if str(exc).startswith("Invalid URL in location header"):
                raise BlockedURLError(url, f"redirected to an invalid URL ({exc})") from None
            raise _Retryable(url, _describe(exc)) from None
        except httpx.TransportError as exc:
            raise _Retryable(url, _describe(exc)) from None
        except httpx.HTTPError as exc:
            raise FetchError(url, _describe(exc)) from None
        except (httpx.InvalidURL, UnicodeError) as exc:
            # URLs urllib accepts but httpx does not: "http://[v1.x]/", an IDNA-invalid host.
            raise BlockedURLError(url, f"invalid URL or redirect location ({exc})") from None
        except BlockedAddressError as exc:
            # Raised by the guard as the connection was about to be opened: nothing was sent.
            raise BlockedURLError(url, _refusal(exc.host, exc.address)) from None
        except UnresolvableHostError as exc:
            raise FetchError(url, str(exc)) from None

    async def _download_robots(self, url: str) -> tuple[int, bytes] | None:
        current = url
        try:
            for _ in range(self.max_redirects + 1):
                status, headers, body, _ = await self._fetch_once(current, {}, MAX_ROBOTS_BYTES * 2)
                if status in REDIRECTS and "location" in headers:
                    target = join_url(current, headers["location"])
                    if target is None:
                        raise BlockedURLError(current, "redirected to an invalid URL")
                    current = self._from_mirror(target)
                    continue
                return status, body
        except FetchError as exc:
            log.warning("url=%s: robots.txt not available (%s); allowing all", url, exc)
        return None


_PLAIN = {
    "ReadError": "connection broken while reading the response",
    "WriteError": "connection broken while sending the request",
    "ConnectError": "cannot connect",
    "RemoteProtocolError": "the server broke the HTTP protocol",
}


def _describe(exc: httpx.HTTPError) -> str:
    """A readable reason: a plain phrase for the error's class, with httpx's text (or its
    cause's) when there is one."""
    name = type(exc).__name__
    text = str(exc) or str(exc.__cause__ or exc.__context__ or "")
    detail = f"{name}: {text}" if text else name
    return f"{_PLAIN[name]} ({detail})" if name in _PLAIN else detail


def _relabel(exc: FetchError, url: str) -> FetchError:
    """The error of a redirect hop, told about the URL that was asked for."""
    reason = f"redirected to {exc.url}: {_reason(exc)}"
    if isinstance(exc, _Retryable):
        return _Retryable(url, reason, status=exc.status, retry_after=exc.retry_after)
    return type(exc)(url, reason, status=exc.status)


def _reason(exc: FetchError) -> str:
    return str(exc).removeprefix(f"{exc.url}: ")


def _refusal(host: str, address: str) -> str:
    return (
        f"refused: {host} is a private or reserved address ({address});"
        " set settings.allow_private_networks: true to allow it"
    )
