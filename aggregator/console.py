"""What a run shows the operator: live progress, per-entry lines, JSON logs, the summary and the
JSON run report. Everything here writes to streams or files; the pipeline only calls `RunEvents`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from aggregator.events import Outcome
from aggregator.models import SourceReport

if TYPE_CHECKING:
    from aggregator.workers import CallCpu

REPORT_VERSION = 1

QUIET, NORMAL, VERBOSE = -1, 0, 1


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_ABOUT = re.compile(r"^(?:(?P<event>[a-z_]+) )?source=(?P<source>\S+)(?: url=(?P<url>\S+))?: ")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log record: time, level, event, source, url, message, error.

    Our log messages start with "[event ]source=NAME[ url=URL]: " (see pipeline.py and
    schedule.py); those fields are lifted out so that monitoring can group by them.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        data: dict[str, Any] = {"time": _stamp(), "level": record.levelname.lower(), "event": "log"}
        about = _ABOUT.match(message)
        if about:
            data.update({k: v for k, v in about.groupdict().items() if v is not None})
            message = message[about.end() :]
        data["message"] = message
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(log_format: str, verbosity: int) -> None:
    """Route the `aggregator` loggers: silent in text mode (the CLI prints its own lines), one
    JSON object per line on stderr in json mode."""
    root = logging.getLogger("aggregator")
    root.handlers.clear()
    root.propagate = False
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if log_format != "json":
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        # Run problems reach the summary; only what nothing else reports is logged.
        root.setLevel(logging.CRITICAL)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root.addHandler(handler)
    root.setLevel(logging.ERROR if verbosity <= QUIET else logging.WARNING)
    # The pipeline's own records repeat what the JSON events already say.
    logging.getLogger("aggregator.pipeline").setLevel(logging.CRITICAL)


@dataclass
class JsonEvents:
    """`RunEvents` as JSON lines: one object per source start, entry and source end."""

    stream: TextIO
    verbosity: int = NORMAL

    def _write(self, **data: Any) -> None:
        self.stream.write(json.dumps({"time": _stamp(), **data}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def source_started(self, source: str, url: str) -> None:
        if self.verbosity > QUIET:
            self._write(level="info", event="source_started", source=source, url=url)

    def source_listed(self, source: str, todo: int) -> None:
        if self.verbosity > QUIET:
            self._write(level="info", event="source_listed", source=source, todo=todo)

    def entry_done(self, source: str, url: str, outcome: Outcome, detail: str) -> None:
        level = "error" if outcome in ("failed", "gone") else "info"
        if level == "info" and self.verbosity <= QUIET:
            return
        if outcome in ("skipped", "duplicate", "filtered") and self.verbosity < VERBOSE:
            return
        key = "error" if level == "error" else "detail"
        self._write(level=level, event=f"entry_{outcome}", source=source, url=url, **{key: detail})

    def source_done(self, report: SourceReport) -> None:
        if report.error is not None:
            self._write(
                level="error",
                event="source_failed",
                source=report.source,
                url=report.url,
                error=report.error,
            )
        elif self.verbosity > QUIET:
            self._write(level="info", event="source_done", **report_counts(report))


@dataclass
class EntryLines:
    """`RunEvents` as one printed line per entry (`-v`)."""

    console: Console

    def source_started(self, source: str, url: str) -> None:
        pass

    def source_listed(self, source: str, todo: int) -> None:
        pass

    def entry_done(self, source: str, url: str, outcome: Outcome, detail: str) -> None:
        self.console.print(
            f"{source}: {outcome}: {url} ({detail})", markup=False, highlight=False, soft_wrap=True
        )

    def source_done(self, report: SourceReport) -> None:
        pass


@dataclass
class LiveProgress:
    """`RunEvents` drawn as a rich progress display: one bar per source and one overall."""

    progress: Progress
    _tasks: dict[str, TaskID] = field(default_factory=dict)
    _overall: TaskID | None = None

    @classmethod
    def on(cls, console: Console) -> LiveProgress:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=True,
        )
        return cls(progress)

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        self._overall = self.progress.add_task("all sources", total=0, status="")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def source_started(self, source: str, url: str) -> None:
        self._tasks[source] = self.progress.add_task(source, total=None, status="reading")
        if self._overall is not None:
            self.progress.update(self._overall, total=len(self._tasks), status="")

    def source_listed(self, source: str, todo: int) -> None:
        self.progress.update(self._tasks[source], total=todo, status="fetching")

    def entry_done(self, source: str, url: str, outcome: Outcome, detail: str) -> None:
        if outcome not in ("skipped", "duplicate", "filtered"):
            self.progress.advance(self._tasks[source])

    def source_done(self, report: SourceReport) -> None:
        task = self._tasks.get(report.source)
        if task is not None:
            status = "failed" if report.error else f"{report.new} new"
            self.progress.update(task, status=status)
            total = self.progress.tasks[task].total
            self.progress.update(task, completed=total or 0, total=total or 0)
        if self._overall is not None:
            self.progress.advance(self._overall)


@dataclass
class FanOut:
    """Several `RunEvents` as one."""

    targets: Sequence[Any]

    def source_started(self, source: str, url: str) -> None:
        for target in self.targets:
            target.source_started(source, url)

    def source_listed(self, source: str, todo: int) -> None:
        for target in self.targets:
            target.source_listed(source, todo)

    def entry_done(self, source: str, url: str, outcome: Outcome, detail: str) -> None:
        for target in self.targets:
            target.entry_done(source, url, outcome, detail)

    def source_done(self, report: SourceReport) -> None:
        for target in self.targets:
            target.source_done(report)


def is_terminal(stream: TextIO) -> bool:
    """True when `stream` is an interactive terminal that can draw progress."""
    return stream.isatty() and os.environ.get("TERM", "") not in ("dumb", "unknown")


def report_counts(report: SourceReport) -> dict[str, Any]:
    """The numbers of one source's run, as in the JSON report."""
    return {
        "source": report.source,
        "url": report.url,
        "ok": report.ok,
        "error": report.error,
        "entries": report.entries,
        "new": report.new,
        "skipped": report.skipped,
        "duplicates": report.duplicates,
        "filtered": report.filtered,
        "failed": report.failed,
        "seconds": round(report.seconds, 3),
    }


def totals(reports: Sequence[SourceReport]) -> dict[str, int]:
    """Sums over all sources."""
    return {
        "new": sum(r.new for r in reports),
        "skipped": sum(r.skipped for r in reports),
        "duplicates": sum(r.duplicates for r in reports),
        "filtered": sum(r.filtered for r in reports),
        "failed": sum(r.failed for r in reports),
        "sources": len(reports),
        "sources_failed": sum(1 for r in reports if r.error),
    }


def source_line(report: SourceReport, dry_run: bool) -> str:
    """One line of the plain summary: `name: 2 new, 1 skipped, 0 failed (…)`."""
    if report.error:
        return f"{report.source}: failed: {report.error}"
    verb = "would write" if dry_run else "new"
    return (
        f"{report.source}: {report.new} {verb}, {report.skipped} skipped, {report.failed} failed"
        f" ({report.duplicates} duplicate, {report.filtered} filtered, {report.seconds:.1f} s)"
    )


def total_line(reports: Sequence[SourceReport], dry_run: bool) -> str:
    """The last line of every summary."""
    sums = totals(reports)
    verb = "would write" if dry_run else "new"
    return (
        f"total: {sums['new']} {verb}, {sums['skipped']} skipped, {sums['failed']} failed entries,"
        f" {sums['sources_failed']} of {sums['sources']} sources failed"
    )


def summary_table(reports: Sequence[SourceReport], dry_run: bool) -> Table:
    """The end-of-run table shown on a terminal."""
    table = Table(title="would write" if dry_run else None)
    for column in ("source", "new", "duplicate", "filtered", "skipped", "failed", "time"):
        table.add_column(column, justify="left" if column == "source" else "right")
    table.add_column("status")
    for r in reports:
        status = (
            f"[red]failed: {r.error}[/red]"
            if r.error
            else ("ok" if r.ok else "[yellow]some failed")
        )
        table.add_row(
            r.source,
            str(r.new),
            str(r.duplicates),
            str(r.filtered),
            str(r.skipped),
            str(r.failed),
            f"{r.seconds:.1f} s",
            status,
        )
    return table


def print_summary(
    reports: Sequence[SourceReport], *, dry_run: bool, verbosity: int, out: TextIO
) -> None:
    """The end of a run: a table on a terminal, plain lines otherwise; `-q` keeps only failures."""
    if verbosity <= QUIET:
        for report in reports:
            if not report.ok:
                out.write(source_line(report, dry_run) + "\n")
                out.writelines(f"  {problem}\n" for problem in report.problems)
        return
    if is_terminal(out):
        console = Console(file=out)
        console.print(summary_table(reports, dry_run))
        for report in reports:
            for problem in report.problems:
                console.print(
                    f"{report.source}: {problem}", markup=False, highlight=False, soft_wrap=True
                )
            if dry_run:
                for name in report.written:
                    console.print(
                        f"{report.source}: {name}", markup=False, highlight=False, soft_wrap=True
                    )
    else:
        for report in reports:
            out.write(source_line(report, dry_run) + "\n")
            out.writelines(f"  {problem}\n" for problem in report.problems)
            if dry_run:
                out.writelines(f"  {name}\n" for name in report.written)
    out.write(total_line(reports, dry_run) + "\n")


def run_report(
    reports: Sequence[SourceReport],
    *,
    command: str,
    started: datetime,
    finished: datetime,
    dry_run: bool,
    exit_code: int,
    cpu: CallCpu | None = None,
) -> dict[str, Any]:
    """The JSON run report (schema in the README, `version` bumped on incompatible changes);
    `cpu`: what reading the documents took."""
    return {
        "version": REPORT_VERSION,
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - started).total_seconds(), 3),
        "dry_run": dry_run,
        "exit_code": exit_code,
        "totals": totals(reports),
        "sources": [
            {**report_counts(r), "problems": list(r.problems), "written": list(r.written)}
            for r in reports
        ],
        "reading": {
            name: {"calls": cpu.calls[name], "cpu_seconds": round(seconds, 3)}
            for name, seconds in cpu.seconds.items()
        }
        if cpu is not None
        else {},
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` to `path` atomically (a monitor never reads half a report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{path.name}")
    temp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    temp.replace(path)
