"""sources.yaml -> Config (Settings + Sources): the only YAML reader; errors name file and key."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from aggregator.errors import ConfigError
from aggregator.selectors import Selector, SelectorSyntaxError, parse_selector

DEFAULT_USER_AGENT = "aggregator/0.1 (news aggregator for a static site; +https://github.com/aggregator-news/aggregator)"
DEFAULT_TITLE = " [{topic}] {title}"
SOURCE_TYPES = ("feed", "google_alerts")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _check_selector(value: str) -> str:
    try:
        parse_selector(value)
    except SelectorSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


CssSelector = Annotated[str, AfterValidator(_check_selector)]


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


HttpURL = Annotated[str, AfterValidator(_check_http_url)]


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
    max_retries: int = Field(default=3, ge=1)
    """Runs in a row an article may fail to download before a post is made from the feed alone."""

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
    type: Literal["feed", "google_alerts"]
    url: HttpURL
    topic: str | None = None
    categories: list[str] = Field(default_factory=list)
    article: ArticleRules | None = None

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

    @property
    def posts_dir(self) -> Path:
        """Where posts are written."""
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
