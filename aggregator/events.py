"""What a run reports while it works, for progress displays and structured logs.

The pipeline calls a `RunEvents` as it goes; the CLI passes one that draws progress, prints
per-entry lines or writes JSON logs. The default does nothing.
"""

from __future__ import annotations

from typing import Literal, Protocol

from aggregator.models import SourceReport

Outcome = Literal["new", "skipped", "duplicate", "filtered", "failed", "gone", "fallback"]
"""What became of one entry: `fallback` is a post made from the feed alone after retries."""


class RunEvents(Protocol):
    """Receives a run's progress; every method is called from the event loop's thread."""

    def source_started(self, source: str, url: str) -> None:
        """A source's document is being downloaded."""

    def source_listed(self, source: str, todo: int) -> None:
        """A source's entries are known; `todo` of them will be worked on."""

    def entry_done(self, source: str, url: str, outcome: Outcome, detail: str) -> None:
        """One entry is finished; `detail` is the file written or the reason."""

    def source_done(self, report: SourceReport) -> None:
        """A source is finished (or failed: `report.error`)."""


class NoEvents:
    """A `RunEvents` that ignores everything."""

    def source_started(self, source: str, url: str) -> None:
        pass

    def source_listed(self, source: str, todo: int) -> None:
        pass

    def entry_done(self, source: str, url: str, outcome: Outcome, detail: str) -> None:
        pass

    def source_done(self, report: SourceReport) -> None:
        pass
