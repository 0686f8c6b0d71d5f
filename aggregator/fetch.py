"""EDGE: the one HTTP client. URL -> Page (bytes and final URL), with limits and an address guard.

Redirects are followed here, hop by hop, so that every hop is checked: http(s) only, and no
loopback/private/link-local/reserved address unless private networks are allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from aggregator.errors import BlockedURLError, FetchError

MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5
PER_HOST = 2
TOTAL = 16
ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,*/*;q=0.8"
)


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched document: what was asked for, where it ended up, and its bytes."""

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


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class Fetcher:
    """One async HTTP client shared by a run: a global and a per-host limit on requests at once."""

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
    ):
        self.allow_private_networks = allow_private_networks
        self.mirrors = dict(mirrors or {})
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Language": "vi,en;q=0.7"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=total, max_keepalive_connections=total),
            trust_env=False,
        )
        self._total = asyncio.Semaphore(total)
        self._per_host_limit = per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host_limit)
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def check_url(self, url: str) -> None:
        """Refuse a URL that is not http(s) or whose host resolves to a non-public address."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockedURLError(url, "only http and https URLs are fetched")
        if self.allow_private_networks:
            return
        host = parts.hostname
        try:
            addresses = [host] if _is_ip(host) else await _resolve(host, parts.port)
        except OSError as exc:
            raise FetchError(url, f"cannot resolve host {host!r}: {exc}") from None
        for address in addresses:
            if not _is_public(address):
                raise BlockedURLError(
                    url,
                    f"refused: {host} is a private or reserved address ({address});"
                    " set settings.allow_private_networks: true to allow it",
                )

    def _to_mirror(self, url: str) -> str:
        for prefix, mirror in self.mirrors.items():
            if url.startswith(prefix):
                return mirror + url[len(prefix) :]
        return url

    def _from_mirror(self, url: str) -> str:
        for prefix, mirror in self.mirrors.items():
            if url.startswith(mirror):
                return prefix + url[len(mirror) :]
        return url

    async def get(self, url: str) -> Page:
        """GET a URL, following redirects; FetchError for any failure or a non-2xx status.

        A URL under a configured mirror prefix is downloaded from the mirror; the Page still
        carries the original URL, so posts and state never see the mirror.
        """
        try:
            page = await self._get(self._to_mirror(url))
        except FetchError as exc:
            raise type(exc)(
                self._from_mirror(exc.url), str(exc).split(": ", 1)[-1], status=exc.status
            ) from None
        return Page(
            url, self._from_mirror(page.url), page.status, page.headers, page.body, page.fetched_at
        )

    async def _get(self, url: str) -> Page:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            await self.check_url(current)
            host = urlsplit(current).hostname or ""
            async with self._total, self._hosts[host]:
                status, headers, body = await self._request(current)
            if status in (301, 302, 303, 307, 308) and "location" in headers:
                current = urljoin(current, headers["location"])
                continue
            if not 200 <= status < 300:
                raise FetchError(current, f"HTTP {status}", status=status)
            return Page(url, current, status, headers, body)
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")

    async def _request(self, url: str) -> tuple[int, dict[str, str], bytes]:
        try:
            async with asyncio.timeout(self.timeout * 2):
                async with self._client.stream("GET", url) as response:
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise FetchError(url, f"body of {declared} bytes is over the limit")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FetchError(url, f"body over the limit of {self.max_bytes} bytes")
                        chunks.append(chunk)
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    return response.status_code, headers, b"".join(chunks)
        except TimeoutError:
            raise FetchError(url, f"timed out after {self.timeout * 2:.0f} s") from None
        except httpx.TimeoutException as exc:
            raise FetchError(url, f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise FetchError(url, f"{type(exc).__name__}: {exc}") from None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _resolve(host: str, port: int | None) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
