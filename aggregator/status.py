"""`aggregator sources`: each configured source with its schedule and health from the state file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from aggregator.config import Config, Source, parse_duration
from aggregator.schedule import cron_trigger
from aggregator.state import State


@dataclass(frozen=True)
class SourceStatus:
    """One row of `aggregator sources`."""

    name: str
    type: str
    url: str
    schedule: str
    last_run: datetime | None
    last_success: datetime | None
    last_error: str | None
    failures: int
    """Failed runs in a row (0 after a success)."""
    entries_seen: int
    backoff_until: datetime | None
    next_poll: datetime
    """When `aggregator run` polls it next: its schedule after the last run, or the end of its
    backoff when later."""


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _schedule(config: Config, source: Source) -> str:
    if source.cron is not None:
        return f"cron {source.cron}"
    return f"every {source.every or config.settings.every}"


def _next_poll(
    config: Config, source: Source, last_run: datetime | None, now: datetime
) -> datetime:
    if source.cron is not None:
        trigger = cron_trigger(source.cron, config.settings.tz)
        fire = trigger.get_next_fire_time(None, last_run or now)
        return fire.astimezone(UTC) if fire is not None else now
    if last_run is None:
        return now
    return max(now, last_run + parse_duration(source.every or config.settings.every))


def source_statuses(
    config: Config, state: State, now: datetime | None = None
) -> list[SourceStatus]:
    """Every configured source in file order, with what the state remembers of it."""
    now = now or datetime.now(UTC)
    counts = state.entry_counts()
    rows = []
    for source in config.sources:
        health = state.source_health(source.name)
        last_run = _time(health.last_run) if health else None
        backoff = state.backoff_until(source.name)
        next_poll = _next_poll(config, source, last_run, now)
        if backoff is not None and backoff > next_poll:
            next_poll = backoff
        rows.append(
            SourceStatus(
                name=source.name,
                type=source.type,
                url=source.url,
                schedule=_schedule(config, source),
                last_run=last_run,
                last_success=_time(health.last_success) if health else None,
                last_error=health.last_error if health and health.failures else None,
                failures=health.failures if health else 0,
                entries_seen=counts.get(source.name, 0),
                backoff_until=backoff if backoff is not None and backoff > now else None,
                next_poll=next_poll,
            )
        )
    return rows


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def status_json(row: SourceStatus) -> dict[str, Any]:
    """One row as JSON (`aggregator sources --json`)."""
    return {
        "name": row.name,
        "type": row.type,
        "url": row.url,
        "schedule": row.schedule,
        "last_run": _iso(row.last_run),
        "last_success": _iso(row.last_success),
        "last_error": row.last_error,
        "failures": row.failures,
        "entries_seen": row.entries_seen,
        "backoff_until": _iso(row.backoff_until),
        "next_poll": _iso(row.next_poll),
    }


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = int((now - value).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _until(value: datetime, now: datetime) -> str:
    seconds = int((value - now).total_seconds())
    if seconds <= 0:
        return "due now"
    if seconds < 120:
        return f"in {seconds} s"
    if seconds < 7200:
        return f"in {seconds // 60} min"
    return f"in {seconds // 3600} h"


def status_table(rows: list[SourceStatus], now: datetime | None = None) -> Table:
    """The rows as a table for the terminal."""
    now = now or datetime.now(UTC)
    table = Table()
    for column in ("source", "type", "schedule", "last success", "failures", "seen", "next poll"):
        table.add_column(column, justify="right" if column in ("failures", "seen") else "left")
    table.add_column("last error", overflow="fold")
    for row in rows:
        failures = f"[red]{row.failures}[/red]" if row.failures else "0"
        table.add_row(
            row.name,
            row.type,
            row.schedule,
            _ago(row.last_success, now),
            failures,
            str(row.entries_seen),
            _until(row.next_poll, now) + (" (backing off)" if row.backoff_until else ""),
            row.last_error or "",
        )
    return table
