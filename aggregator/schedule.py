"""The `aggregator run` daemon: each source fetched on its own interval or cron times.

EDGE: the only module that imports apscheduler. Every run is a call of the same pipeline as
`aggregator fetch` (`fetch_sources`), under the same lock, one run at a time, so the daemon's
sources never clash with each other nor with a `fetch` started from cron. Takes a Config and
its sources; `Daemon.serve()` returns the exit code after SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.config import Config, Source, parse_duration
from aggregator.errors import AggregatorError
from aggregator.events import RunEvents
from aggregator.lock import lock_path, wait_for_lock
from aggregator.models import SourceReport
from aggregator.pipeline import fetch_sources
from aggregator.publish import Published, publish_posts

log = logging.getLogger(__name__)

CRON_MISFIRE_GRACE = timedelta(hours=1)
"""How late a cron run may start (after a suspend or a long run) before it is skipped."""


def cron_trigger(expression: str, tz: tzinfo, jitter: timedelta | None = None) -> CronTrigger:
    """The trigger of a five-field crontab expression; ValueError names what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expression!r} is not a crontab expression (minute hour day month day-of-week)"
        )
    minute, hour, day, month, day_of_week = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=day_of_week,
            timezone=tz,
            jitter=int(jitter.total_seconds()) if jitter else None,
        )
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not a crontab expression ({exc})") from None


@dataclass(frozen=True)
class Plan:
    """When one source runs: its trigger, its misfire grace time and its first run."""

    trigger: BaseTrigger
    misfire_grace: timedelta
    first_run: datetime | None
    """Interval sources start at once (spread by the jitter); cron sources wait for their time."""
    describe: str


def plan_source(config: Config, source: Source, now: datetime) -> Plan:
    """The schedule of a source: its `cron:`, else its `every:`, else `settings.every`.

    Jitter is `settings.jitter`, at most half the interval. A late run still starts if it is
    less than one interval late (cron: an hour); missed runs are coalesced into one.
    """
    settings = config.settings
    jitter = parse_duration(settings.jitter)
    if source.cron is not None:
        # Jitter is at most half the gap between two fire times, as for intervals.
        plain = cron_trigger(source.cron, settings.tz)
        first = plain.get_next_fire_time(None, now)
        then = plain.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        if first is not None and then is not None:
            jitter = min(jitter, (then - first) / 2)
        trigger = cron_trigger(source.cron, settings.tz, jitter)
        return Plan(trigger, CRON_MISFIRE_GRACE, None, f"cron {source.cron!r}")
    every = parse_duration(source.every or settings.every)
    jitter = min(jitter, every / 2)
    trigger = IntervalTrigger(
        seconds=every.total_seconds(),
        start_date=now,
        timezone=settings.tz,
        jitter=int(jitter.total_seconds()) or None,
    )
    first = now + jitter * random.random()
    return Plan(trigger, every, first, f"every {source.every or settings.every}")


def run_line(reports: Sequence[SourceReport], published: Published | None, seconds: float) -> str:
    """The one log line that sums up a run."""
    report = reports[0]
    if report.error:
        text = f"failed: {report.error}"
    else:
        text = f"{report.new} new, {report.skipped} skipped, {report.failed} failed"
    text += f" in {seconds:.1f}s"
    if published is not None and published.commit:
        text += f"; committed {published.commit[:12]}"
    if published is not None and published.pushed:
        text += ", pushed"
    return text


@dataclass
class Daemon:
    """Runs sources on their schedules until SIGTERM or SIGINT."""

    config: Config
    sources: Sequence[Source]
    commit: bool = False
    push: bool = False
    events: RunEvents | None = None
    """Receives each run's progress (`--log-format json` writes it as JSON lines)."""
    _serial: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _running: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _stopping: bool = field(default=False, init=False)
    _scheduler: AsyncIOScheduler | None = field(default=None, init=False)

    async def run_source(self, source: Source) -> None:
        """One scheduled run of a source: lock, pipeline, commit, one log line."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            async with self._serial:
                if self._stopping:
                    return
                async with wait_for_lock(lock_path(self.config.state_path)):
                    # A stop may have come while a cron `fetch` held the lock.
                    if not self._stopping:
                        await self._run_locked(source)
        except asyncio.CancelledError:
            # Only a second signal cancels; each post is written and recorded atomically.
            log.warning(
                "run source=%s: cancelled; the posts written so far are kept (not committed)",
                source.name,
            )
        finally:
            if task is not None:
                self._running.discard(task)

    async def _run_locked(self, source: Source) -> None:
        started = time.monotonic()
        try:
            reports = await fetch_sources(self.config, [source], events=self.events)
        except AggregatorError as exc:
            log.error("run source=%s: failed: %s%s", source.name, exc, self._next(source))
            return
        published: Published | None = None
        problem = ""
        if self.commit or self.push:
            try:
                published = await asyncio.to_thread(
                    publish_posts, self.config.posts_dir, reports, push=self.push
                )
            except AggregatorError as exc:
                problem = f"; publishing failed: {exc}"
        line = run_line(reports, published, time.monotonic() - started) + problem
        ok = reports[0].ok and not problem
        log.log(
            logging.INFO if ok else logging.WARNING,
            "run source=%s: %s%s",
            source.name,
            line,
            self._next(source),
        )
        for message in reports[0].problems:
            log.warning("source=%s: %s", source.name, message)

    def _next(self, source: Source) -> str:
        job = self._scheduler.get_job(source.name) if self._scheduler else None
        when = getattr(job, "next_run_time", None) if job else None
        return f"; next run {when:%Y-%m-%d %H:%M:%S %z}" if when else ""

    async def serve(self) -> int:
        """Schedule every source and run until a signal; returns the exit code (0)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(signum: signal.Signals) -> None:
            if not stop.is_set():
                log.info("received %s: stopping after the run in progress", signum.name)
                stop.set()
                return
            log.warning("received %s again: cancelling the run in progress", signum.name)
            for task in list(self._running):
                task.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        settings = self.config.settings
        scheduler = AsyncIOScheduler(
            event_loop=loop,
            timezone=settings.tz,
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._scheduler = scheduler
        now = datetime.now(settings.tz)
        for source in self.sources:
            plan = plan_source(self.config, source, now)
            scheduler.add_job(
                self.run_source,
                plan.trigger,
                args=[source],
                id=source.name,
                name=source.name,
                misfire_grace_time=int(plan.misfire_grace.total_seconds()),
                **({"next_run_time": plan.first_run} if plan.first_run else {}),
            )
            log.info("scheduled source=%s: %s", source.name, plan.describe)
        scheduler.start()
        log.info(
            "daemon started: %d sources, state %s, posts %s",
            len(self.sources),
            self.config.state_path,
            self.config.posts_dir,
        )
        try:
            await stop.wait()
        finally:
            self._stopping = True
            # pause, not shutdown: shutting down the asyncio executor cancels running jobs.
            scheduler.pause()
            await asyncio.sleep(0)
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            scheduler.shutdown(wait=False)
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        log.info("daemon stopped")
        return 0
