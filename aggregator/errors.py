"""The exception tree. Only the pipeline and the CLI catch these; anything else is a bug.

AggregatorError
 +-- ConfigError(ValueError)    sources.yaml is unreadable or invalid (names file, source, key)
 +-- FetchError                 a URL could not be fetched (url, status when there was a response)
 |    +-- BlockedURLError       the URL is refused before any request (scheme, private address)
 +-- FeedError                  a downloaded feed could not be parsed (url)
 +-- StateError                 the state file is unreadable, corrupt or not ours (path)
 +-- LockedError                another run holds the lock next to the state file (path, holder)
 +-- PublishError               git could not commit or push the posts (repository, command)
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class of every error aggregator raises on purpose."""

    def __reduce__(self) -> tuple[object, ...]:
        # Raised in worker processes and pickled back: rebuilt as it is, not through __init__.
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(
    cls: type[AggregatorError], args: tuple[object, ...], state: dict[str, object]
) -> AggregatorError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(AggregatorError, ValueError):
    """Raised when the configuration file cannot be read or is invalid."""

    def __init__(
        self, path: str, message: str, *, source: str | None = None, key: str | None = None
    ):
        self.path = path
        self.source = source
        self.key = key
        where = path
        if source:
            where += f": source {source!r}"
        if key:
            where += f": key {key!r}"
        super().__init__(f"{where}: {message}")


class FetchError(AggregatorError):
    """Raised when a URL cannot be fetched: network failure, timeout, or an HTTP error status."""

    def __init__(self, url: str, message: str, *, status: int | None = None):
        self.url = url
        self.status = status
        super().__init__(f"{url}: {message}")

    @property
    def permanent(self) -> bool:
        """True when retrying cannot help (the resource is gone or forbidden for good)."""
        return self.status in (404, 410)


class BlockedURLError(FetchError):
    """Raised when a URL is refused before any request: not http(s), or a private address."""


class FeedError(AggregatorError):
    """Raised when a downloaded document is not a feed that can be parsed."""

    def __init__(self, url: str, message: str):
        self.url = url
        super().__init__(f"{url}: {message}")


class StateError(AggregatorError):
    """Raised when the state file cannot be opened or is not an aggregator state file."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


class LockedError(AggregatorError):
    """Raised when another run holds the lock next to the state file."""

    def __init__(self, path: str, holder: str):
        self.path = path
        self.holder = holder
        super().__init__(f"{path}: another aggregator run holds the lock ({holder})")


class PublishError(AggregatorError):
    """Raised when git cannot commit or push the posts a run wrote."""

    def __init__(self, repo: str, message: str):
        self.repo = repo
        super().__init__(f"{repo}: {message}")
