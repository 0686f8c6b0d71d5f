"""sources.yaml -> Config (Settings + Sources): the only YAML reader; errors name file and key."""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aggregator.errors import ConfigError
from aggregator.selectors import Selector, SelectorSyntaxError, parse_selector
from aggregator.urls import url_problem

DEFAULT_USER_AGENT = "aggregator/0.1 (news aggregator for a static site; +https://github.com/aggregator-news/aggregator)"
DEFAULT_TITLE = " [{topic}] {title}"
SOURCE_TYPES = ("feed", "google_alerts", "listing", "sitemap", "google_news")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _check_selector(value: str) -> str:
    try:
        parse_selector(value)
    except SelectorSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


CssSelector = Annotated[str, AfterValidator(_check_selector)]


def _check_http_url(value: str) -> str:
    if url_problem(value) is not None:  # not http(s), no host, a port out of range, http://[x/
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


HttpURL = Annotated[str, AfterValidator(_check_http_url)]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MIN_EVERY = timedelta(seconds=1)
"""Shortest polling interval accepted (seconds are for tests; real feeds want 15m or more)."""
MAX_DURATION = timedelta(days=3650)
"""Longest duration accepted: dates plus or minus it stay far inside what datetime can hold."""


def parse_duration(value: str) -> timedelta:
    """ "30s", "15m", "2h", "1h30m", "1d" -> timedelta; ValueError for anything else, and for a
    duration longer than MAX_DURATION (3650d)."""
    match = _DURATION.match(value)
    if not value or not match:
        raise ValueError(f"{value!r} is not a duration like 30s, 15m, 2h, 1h30m or 1d")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    try:
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        duration = MAX_DURATION + timedelta(days=1)  # reported as too long, below
    if duration > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than the maximum of {MAX_DURATION.days}d")
    return duration


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_interval(value: str) -> str:
    if parse_duration(value) < MIN_EVERY:
        raise ValueError(f"interval {value!r} is shorter than the minimum of 1s")
    return value


def _check_cron(value: str) -> str:
    # Imported here because the scheduler module imports this one.
    from aggregator.schedule import cron_trigger

    cron_trigger(value, ZoneInfo("UTC"))
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
Interval = Annotated[str, AfterValidator(_check_interval)]
CronExpression = Annotated[str, AfterValidator(_check_cron)]


def _check_template(value: str) -> str:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"bad title template {value!r}: {exc}") from None
    unknown = fields - {"topic", "title"}
    if unknown:
        raise ValueError(
            f"title template may use {{topic}} and {{title}} only, not {sorted(unknown)}"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class ArticleRules(_Strict):
    """Per-site CSS selectors for article pages; each set field overrides generic extraction."""

    title: CssSelector | None = None
    lead: CssSelector | None = None
    body: CssSelector | None = None
    date: CssSelector | None = None
    image: CssSelector | None = None
    author: CssSelector | None = None
    remove: list[CssSelector] = Field(default_factory=list)

    def selector(self, name: str) -> Selector | None:
        """The parsed selector for a field, or None when the field is not set."""
        value = getattr(self, name)
        return parse_selector(value) if value else None


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


def _check_keyword(value: str) -> str:
    if not re.search(r"\w", value):
        raise ValueError(f"keyword {value!r} has no letter or digit")
    return value


Keyword = Annotated[str, AfterValidator(_check_keyword)]


class ListingRules(_Strict):
    """How to read a listing (category or home) page: CSS selectors with ::text / ::attr(x)."""

    link: CssSelector
    """The article links (their href unless ::attr names another attribute)."""
    item: CssSelector | None = None
    """One element per article; link, title, date and image are then looked up inside it."""
    title: CssSelector | None = None
    date: CssSelector | None = None
    image: CssSelector | None = None
    include: Annotated[str, AfterValidator(_check_regex)] | None = None
    """Regular expression a link's path (or whole URL) must match."""
    next: CssSelector | None = None
    """The next page's link (default: rel="next" and common pagination links)."""
    pages: int = Field(default=1, ge=1, le=20)
    """Listing pages read per run, following "next page" links."""
    other_sites: bool = False
    """Keep links to other sites (by default only the listing's own site)."""


class Settings(_Strict):
    """The `settings:` block. Paths are relative to the configuration file."""

    posts_dir: str = "posts"
    state: str = ".aggregator/state.sqlite3"
    timezone: str = "Asia/Ho_Chi_Minh"
    title: Annotated[str, AfterValidator(_check_template)] = DEFAULT_TITLE
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_networks: bool = False
    mirrors: dict[HttpURL, HttpURL] = Field(default_factory=dict)
    """URL prefix -> prefix of a local mirror to download from instead; posts keep the original."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds allowed for one request, from connecting to the last byte."""
    connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds allowed to open a connection (at most `timeout`)."""
    max_connections: int = Field(default=16, ge=1)
    """Requests in flight at once, over all hosts."""
    per_host_connections: int = Field(default=2, ge=1)
    """Requests in flight at once to one host (feeds and articles together)."""
    host_delay: float = Field(default=0.5, ge=0)
    """Seconds between the starts of two requests to one host (robots.txt Crawl-delay raises it)."""
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    """Largest body accepted, both as downloaded and once decompressed."""
    max_redirects: int = Field(default=5, ge=0)
    """Redirects followed for one URL."""
    request_retries: int = Field(default=2, ge=0)
    """Retries within a run after a timeout, connection error, 408, 429 or 5xx."""
    retry_backoff: float = Field(default=1.0, ge=0)
    """Seconds before the first retry; doubled for each next one, with jitter."""
    retry_max_wait: float = Field(default=30.0, ge=0)
    """Longest wait before a retry; a Retry-After asking for more fails the URL for this run."""
    robots_txt: bool = True
    """Obey each host's robots.txt (rules and Crawl-delay)."""
    source_backoff: float = Field(default=600.0, ge=0)
    """Seconds a source whose feed failed is left alone; doubled per failure in a row (0: off)."""
    source_backoff_max: float = Field(default=6 * 3600.0, ge=0)
    """Longest a failing source is left alone; it is never given up."""
    max_retries: int = Field(default=3, ge=1)
    """Runs in a row an article may fail to download before a post is made from the feed alone."""
    include: list[Keyword] = Field(default_factory=list)
    """Every source: keep only entries whose title or summary has one of these keywords."""
    exclude: list[Keyword] = Field(default_factory=list)
    """Every source: skip entries whose title or summary has one of these keywords."""
    max_age: Duration | None = None
    """Every source: skip entries published longer ago than this (a source's own wins)."""
    near_duplicate_window: Duration = "3d"
    """Skip a story whose text is nearly that of a post published within this time ("0s": off)."""
    near_duplicate_distance: int = Field(default=6, ge=0, le=16)
    """SimHash bits (of 64) in which two texts of one story may differ."""
    every: Interval = "1h"
    """`aggregator run`: how often a source without its own `every:` or `cron:` is fetched."""
    jitter: Duration = "1m"
    """`aggregator run`: random delay up to this (at most half the interval) added to each run."""
    workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = "auto"
    """Processes that extract pages while the main one fetches: "auto" (one per CPU besides the
    main one, at most 4; none with a single CPU) or a number (0: extract in the main process)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


class Source(_Strict):
    """One entry of `sources:`."""

    name: str
    type: Literal["feed", "google_alerts", "listing", "sitemap", "google_news"]
    url: HttpURL
    topic: str | None = None
    categories: list[str] = Field(default_factory=list)
    article: ArticleRules | None = None
    listing: ListingRules | None = None
    """Required for (and only for) type `listing`."""
    include: list[Keyword] = Field(default_factory=list)
    """Keep only entries whose title or summary has one of these keywords."""
    exclude: list[Keyword] = Field(default_factory=list)
    """Skip entries whose title or summary has one of these keywords."""
    max_age: Duration | None = None
    """Skip entries published longer ago than this (overrides settings.max_age)."""
    every: Interval | None = None
    """`aggregator run`: fetch this source at this interval (default settings.every)."""
    cron: CronExpression | None = None
    """`aggregator run`: fetch this source at these times (crontab syntax, settings.timezone)."""

    @model_validator(mode="after")
    def _listing_block(self) -> Source:
        if self.type == "listing" and self.listing is None:
            raise ValueError("type 'listing' needs a 'listing:' block with at least 'link'")
        if self.type != "listing" and self.listing is not None:
            raise ValueError(f"'listing:' is only for type 'listing', not {self.type!r}")
        return self

    @model_validator(mode="after")
    def _one_schedule(self) -> Source:
        if self.every is not None and self.cron is not None:
            raise ValueError("give either 'every' or 'cron', not both")
        return self

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a slug (lower-case letters, digits, '-' and '_')")
        return value

    @field_validator("categories")
    @classmethod
    def _category_words(cls, value: list[str]) -> list[str]:
        for category in value:
            if not category.strip() or any(ch.isspace() for ch in category):
                raise ValueError(
                    f"category {category!r} must be one word (Jekyll splits on spaces)"
                )
        return value


class _File(_Strict):
    settings: Settings = Field(default_factory=Settings)
    sources: list[Source] = Field(default_factory=list)


@dataclass(frozen=True)
class Config:
    """A validated configuration with its paths resolved."""

    path: Path
    settings: Settings
    sources: tuple[Source, ...]

    @functools.cached_property
    def posts_dir(self) -> Path:
        """Where posts are written (resolved once: each post asks)."""
        return (self.path.parent / self.settings.posts_dir).resolve()

    @property
    def state_path(self) -> Path:
        """The SQLite state file."""
        return (self.path.parent / self.settings.state).resolve()

    def select(self, names: list[str]) -> tuple[Source, ...]:
        """The sources with these names, in file order; ConfigError for an unknown name."""
        if not names:
            return self.sources
        known = {s.name for s in self.sources}
        for name in names:
            if name not in known:
                raise ConfigError(
                    str(self.path), f"no source named {name!r} (known: {', '.join(sorted(known))})"
                )
        return tuple(s for s in self.sources if s.name in names)


def default_config(path: Path) -> Config:
    """The configuration used when no file exists: default settings and no sources."""
    return Config(path.resolve(), Settings(), ())


def parse_config(text: str, path: Path) -> Config:
    """Validate the YAML text of a configuration file; ConfigError names file, source and key."""
    where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(where, f"not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(where, "the top level must be a mapping with 'settings' and 'sources'")
    try:
        model = _File.model_validate(data)
    except ValidationError as exc:
        raise _config_error(where, data, exc) from None
    seen: dict[str, int] = {}
    for number, source in enumerate(model.sources, start=1):
        if source.name in seen:
            raise ConfigError(
                where,
                f"duplicate name: source #{number} is named like source #{seen[source.name]}",
                source=source.name,
                key="name",
            )
        seen[source.name] = number
    return Config(path.resolve(), model.settings, tuple(model.sources))


def load_config(path: Path) -> Config:
    """Read and validate a configuration file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from None
    return parse_config(text, path)


def _config_error(where: str, data: dict[str, Any], exc: ValidationError) -> ConfigError:
    error = exc.errors()[0]
    loc = list(error["loc"])
    source: str | None = None
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        raw = data.get("sources") or []
        entry = raw[loc[1]] if loc[1] < len(raw) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        source = str(name) if name is not None else f"#{loc[1] + 1}"
        loc = loc[2:]
    key = ".".join(str(part) for part in loc) or None
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "literal_error" and key == "type":
        message = f"unknown source type {error.get('input')!r} (one of: {', '.join(SOURCE_TYPES)})"
    if len(exc.errors()) > 1:
        message += f" (and {len(exc.errors()) - 1} more problem(s))"
    return ConfigError(where, message, source=source, key=key)
