"""Composes the stages of a run: Source -> feed bytes -> Entries -> page -> Article -> Post -> file.

Failures are isolated per source and per entry: they are recorded in the SourceReport and the
state, and the run goes on. A failed entry is not marked seen, so the next run retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from aggregator.config import Config, Source, parse_duration
from aggregator.dedup import Fingerprint, fingerprint, same_story, to_signed
from aggregator.errors import BlockedURLError, ConfigError, FeedError, FetchError
from aggregator.events import NoEvents, Outcome, RunEvents
from aggregator.extraction import extract
from aggregator.fetch import Fetcher, Page, Validators
from aggregator.filters import EntryFilter, reject_entry
from aggregator.models import Article, Entry, Post, SourceReport
from aggregator.render import render_post, set_tags
from aggregator.robots import RobotsStore
from aggregator.sources import read_source
from aggregator.state import State, StoryRecord, path_or_memory
from aggregator.urls import canonical_url, same_site
from aggregator.workers import CallCpu, Offload, Workers, auto_workers, inline, read_page
from aggregator.write import (
    free_filename,
    place_posts,
    post_head,
    remove_stale_temps,
    stage_posts,
    write_post,
)

log = logging.getLogger(__name__)


class _Turns:
    """Lets entries fetched concurrently decide post-or-skip one at a time, in claim order, so
    that the first source listed wins a duplicate whatever the timing."""

    def __init__(self) -> None:
        self._next = 0
        self._finished: set[int] = set()
        self._waiting: dict[int, asyncio.Future[None]] = {}
        """Entry number -> what wakes it; one each, so a finish wakes only the next in line."""

    async def wait(self, number: int) -> None:
        """Return once every entry claimed before this one is finished."""
        if self._next < number:
            waiter = self._waiting[number] = asyncio.get_running_loop().create_future()
            await waiter

    def finish(self, number: int) -> None:
        """Mark an entry finished (posted, skipped or failed)."""
        self._finished.add(number)
        while self._next in self._finished:
            self._finished.discard(self._next)
            self._next += 1
            self._wake(self._next)

    def _wake(self, number: int) -> None:
        waiter = self._waiting.pop(number, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class _Story:
    """What identifies an entry's story: its canonical URLs and its text fingerprint."""

    keys: tuple[str, ...]
    fingerprint: Fingerprint
    published: datetime


@dataclass(frozen=True, slots=True)
class _Write:
    """A post decided on in its turn, its file name reserved, to be written out of turn."""

    source: Source
    entry: Entry
    report: SourceReport
    outcome: Outcome
    story: _Story
    post: Post
    """The post; only its head (what free_filename reads) when `staged`."""
    filename: str
    staged: Path | None = None
    """Its file as written before its turn (write.stage_post), to be renamed to `filename`."""


@dataclass
class Run:
    """One pass over some sources, sharing a client, the state and the set of URLs taken."""

    config: Config
    fetcher: Fetcher
    state: State
    dry_run: bool = False
    now: datetime | None = None
    events: RunEvents = field(default_factory=NoEvents)
    workers: Offload = inline
    """Where pages are extracted and feeds parsed (Workers.run: in worker processes)."""

    def __post_init__(self) -> None:
        self._claimed: set[str] = set()
        """Canonical URLs of the entries claimed in this run."""
        self._echoes: list[Entry] = []
        self._echoes_of: dict[str, list[Entry]] = {}
        """Canonical URL -> entries of later sources that found the article claimed before."""
        self._turn: dict[int, int] = {}
        """id() of a claimed entry -> its place in claim order (ids may repeat within a feed)."""
        self._turns = _Turns()
        self._posted: dict[str, str] = {}
        """Canonical URL -> post file, for the posts of this run (dry runs write no state)."""
        self._stories: list[tuple[str, _Story]] = []
        self._sources: dict[str, Source] = {}
        self._polled: dict[str, Page] = {}
        self._incomplete: set[str] = set()
        """Sources whose extra documents (next pages, child sitemaps) did not all arrive."""
        self._updated: dict[str, str] = {}
        """Post file rewritten with a new tag -> the source whose topic it got (first one)."""
        self._writing: set[str] = set()
        """Post files decided on in this run whose write is not finished."""
        self._retag: set[str] = set()
        """Files of `_writing` given a tag while being written: written again with it."""
        self._queued: list[_Write] = []
        """Posts decided on, waiting for the writer task (`_writer`)."""
        self._writer: asyncio.Future[None] | None = None
        self._to_stage: list[tuple[Post, asyncio.Future[Path]]] = []
        """Posts to write to temporary files, waiting for the stager task (`_stager`)."""
        self._stager: asyncio.Future[None] | None = None

    async def run(self, sources: Sequence[Source]) -> list[SourceReport]:
        """Run the sources concurrently; reports in the order given.

        Entries are claimed in source order, each source once its feed is read and the sources
        before it have claimed theirs, so that an article announced by several sources is posted
        by the first one listed, whatever the timing.
        """
        reports = [SourceReport(source.name, source.url) for source in sources]
        self._sources = {source.name: source for source in sources}
        claimed = [asyncio.Event() for _ in sources]

        async def run_source(number: int, source: Source, report: SourceReport) -> None:
            todo: list[Entry] | None = None
            try:
                entries = await self._poll_source(source, report)
                if number:
                    await claimed[number - 1].wait()
                if entries is not None:
                    todo = self._claim(source, entries, report)
            finally:
                claimed[number].set()
            if todo is not None:
                await self._run_entries(source, todo, report)

        await asyncio.gather(
            *(
                run_source(number, source, report)
                for number, (source, report) in enumerate(zip(sources, reports, strict=True))
            )
        )
        while self._writer is not None and not self._writer.done():
            await self._writer
        for report in reports:
            if report.error is not None:
                self.events.source_done(report)
        if not self.dry_run:
            # Entries whose URL another source took in this run are duplicates once it is posted.
            for entry in self._echoes:
                file = self._post_for((canonical_url(entry.url), entry.url))
                if file is not None:
                    self._tag(file, self._sources[entry.source])
                    self.state.mark_done(entry.source, entry.id, entry.url, "duplicate")
            for source, report in zip(sources, reports, strict=True):
                report.updated.extend(
                    file for file, name in self._updated.items() if name == source.name
                )
                if report.deferred is None:
                    self.state.record_source(source.name, report.error)
                    self._remember_poll(source, report)
        return reports

    async def list_entries(self, source: Source, report: SourceReport) -> list[Entry] | None:
        """A source's current entries, none claimed or posted (`aggregator check`); None when
        the source failed, with the reason in `report.error`."""
        return await self._read_source(source, report)

    async def _poll_source(self, source: Source, report: SourceReport) -> list[Entry] | None:
        """`_read_source` with a conditional GET, unless the source is backing off or not due.

        A source left alone this run, or whose feed answered 304, has no entries to work on.
        """
        deferred = self._deferral(source)
        if deferred is not None:
            report.deferred = deferred
            report.problems.append(f"{source.url}: not polled: {deferred}")
            log.warning("source=%s url=%s: not polled: %s", source.name, source.url, deferred)
            return []
        cache = self.state.http_cache(source.name, source.url)
        validators = Validators(cache.etag, cache.last_modified) if cache else None
        return await self._read_source(source, report, validators)

    def _deferral(self, source: Source) -> str | None:
        """Why a source is not polled now (backing off, or its feed's polling floor), or None."""
        now = self.now or datetime.now(UTC)
        until = self.state.backoff_until(source.name)
        if until is not None and until > now:
            health = self.state.source_health(source.name)
            failures = health.failures if health else 0
            last = (health.last_error or "") if health else ""
            return (
                f"backing off until {until:%Y-%m-%d %H:%M:%S} UTC after {failures} failed"
                f" run(s) in a row (last error: {last.removeprefix(source.url + ': ')})"
            )
        cache = self.state.http_cache(source.name, source.url)
        if cache is not None and cache.not_before is not None and cache.not_before > now:
            return (
                f"not due until {cache.not_before:%Y-%m-%d %H:%M:%S} UTC"
                " (the feed's Cache-Control max-age or <ttl> asks not to poll sooner)"
            )
        return None

    def _remember_poll(self, source: Source, report: SourceReport) -> None:
        """After a polled source: its backoff, and the validators and polling floor of its feed.

        Validators are kept only when every entry worked: a failed entry must be retried next
        run, which a 304 would prevent.
        """
        now = self.now or datetime.now(UTC)
        settings = self.config.settings
        if report.error is not None:
            health = self.state.source_health(source.name)
            failures = health.failures if health else 1
            delay = min(
                settings.source_backoff * 2 ** min(failures - 1, 30), settings.source_backoff_max
            )
            if delay > 0:
                self.state.set_backoff(source.name, now + timedelta(seconds=delay))
            return
        if self.state.backoff_until(source.name) is not None:
            self.state.set_backoff(source.name, None)
        page = self._polled.get(source.name)
        if page is None:
            return
        floor = page.poll_floor
        not_before = page.fetched_at + timedelta(seconds=floor) if floor else None
        validators = page.validators
        if page.not_modified:
            cache = self.state.http_cache(source.name, source.url)
            validators = Validators(
                validators.etag or (cache.etag if cache else None),
                validators.last_modified or (cache.last_modified if cache else None),
            )
        if not report.ok or source.name in self._incomplete:
            validators = Validators()
        self.state.save_http_cache(
            source.name, source.url, validators.etag, validators.last_modified, not_before
        )

    async def _read_source(
        self, source: Source, report: SourceReport, validators: Validators | None = None
    ) -> list[Entry] | None:
        """The entries of a source's document; None (and the error reported) when it failed.

        With `validators` the request is conditional: a 304 gives no entries and no parsing.
        """
        self.events.source_started(source.name, source.url)
        started = time.monotonic()
        try:
            page = await self.fetcher.get(source.url, validators=validators)
            self._polled[source.name] = page
            if page.not_modified:
                report.not_modified = True
                return []
            documents = await read_source(
                source,
                page,
                self.fetcher.get,
                tz=self.config.settings.tz,
                now=self.now,
                max_age=self._max_age(source),
                offload=self.workers,
            )
            for problem in documents.problems:
                report.problems.append(problem)
                log.warning("source=%s url=%s: %s", source.name, source.url, problem)
            if documents.problems:
                # A listing page or child sitemap failed: no 304 next run, so it is read again.
                self._incomplete.add(source.name)
            return documents.entries
        except (FetchError, FeedError) as exc:
            hint = source_hint(source, exc)
            report.error = f"{exc}; {hint}" if hint else str(exc)
            log.error("source=%s url=%s: %s", source.name, source.url, report.error)
            return None
        except Exception as exc:  # a bug or an input nobody foresaw: this source only
            report.error = f"{source.url}: unexpected error ({type(exc).__name__}: {exc})"
            log.error("source=%s url=%s: %s", source.name, source.url, report.error, exc_info=exc)
            return None
        finally:
            report.seconds += time.monotonic() - started

    def _claim(self, source: Source, entries: list[Entry], report: SourceReport) -> list[Entry]:
        """The entries this source must work on, oldest first; the rest are counted as skipped."""
        todo: list[Entry] = []
        report.entries = len(entries)
        done = self.state.done_entries(source.name, (entry.id for entry in entries))
        for entry in entries:
            try:
                key = canonical_url(entry.url)
            except ValueError:
                report.skipped += 1
                report.problems.append(f"{entry.url!r}: not a valid URL; entry skipped")
                self.events.entry_done(source.name, entry.url, "failed", "not a valid URL")
                continue
            if entry.id in done:
                report.skipped += 1
                self.events.entry_done(source.name, entry.url, "skipped", "already handled")
            elif (reason := self._rejected(source, entry, None)) is not None:
                report.skipped += 1
                report.filtered += 1
                self.events.entry_done(source.name, entry.url, "filtered", reason)
                log.info("source=%s url=%s: filtered: %s", source.name, entry.url, reason)
            elif (file := self._post_for((key, entry.url))) is not None:
                # Posted before, or earlier in this run by a source that claimed it first.
                report.skipped += 1
                report.duplicates += 1
                self.events.entry_done(source.name, entry.url, "duplicate", "already posted")
                if not self.dry_run:
                    self._tag(file, source)
                    self.state.mark_done(source.name, entry.id, entry.url, "duplicate")
                    done.add(entry.id)  # as is_done would now say, should the id come again
            elif key in self._claimed:
                report.skipped += 1
                report.duplicates += 1
                self.events.entry_done(
                    source.name, entry.url, "duplicate", "taken by another source"
                )
                self._echoes.append(entry)
                self._echoes_of.setdefault(key, []).append(entry)
            else:
                self._claimed.add(key)
                todo.append(entry)
        # Feeds list newest first; posts are written in the order the news happened.
        todo.reverse()
        for entry in todo:
            self._turn[id(entry)] = len(self._turn)
        self.events.source_listed(source.name, len(todo))
        return todo

    async def _run_entries(self, source: Source, todo: list[Entry], report: SourceReport) -> None:
        started = time.monotonic()
        await asyncio.gather(*(self._run_entry(source, entry, report) for entry in todo))
        report.seconds += time.monotonic() - started
        self.events.source_done(report)

    async def _run_entry(self, source: Source, entry: Entry, report: SourceReport) -> None:
        turn = self._turn[id(entry)]
        write: _Write | None = None
        try:
            try:
                write = await self._decide_entry(source, entry, report, turn)
            finally:
                self._turns.finish(turn)
            if write is not None:
                # Out of turn: the next entries decide while this one's file is written.
                self._queue_write(write)
        except Exception as exc:  # a bug or an input nobody foresaw: this entry only
            self._entry_crashed(source, entry, report, exc)

    async def _decide_entry(
        self, source: Source, entry: Entry, report: SourceReport, turn: int
    ) -> _Write | None:
        """Fetch and extract an entry's page, then, in its turn, post or skip it: the post to
        write, or None."""
        if not entry.article_page:
            # An undecodable Google News link: the page behind it is Google's, not the article.
            await self._turns.wait(turn)
            return self._emit(source, entry, report)
        try:
            # Pages in claim order, as far as the limits allow (and the hosts left with the
            # most to do first: `Fetcher._requests_left`).
            article = await self.read_article(source, entry, priority=turn)
        except FetchError as exc:
            await self._turns.wait(turn)
            return self._entry_failed(source, entry, report, exc)
        self._report_missing(source, entry, article, report)
        reason = self._rejected(source, entry, article)
        if reason is not None:
            self._skip(source, entry, report, "filtered", reason)
            return None
        # Pure work done now, as pages come, rather than in turn, where it would hold up
        # every entry after this one; and the post written to a temporary file, so that the
        # entries waiting for their turn hold no page text, and the turn only renames it.
        story = self._story(entry, article)
        post = render_for(self.config, source, entry, article, self.now)
        del article
        staged = None
        if not self.dry_run:
            try:
                staged = await self._stage(post)
            except (OSError, ValueError) as exc:  # ValueError: text the file cannot encode
                self._write_failed(source, entry, report, post.filename, exc)
                return None
            post = post_head(post)
        await self._turns.wait(turn)
        return self._emit(source, entry, report, draft=(story, post), staged=staged)

    def _entry_crashed(
        self, source: Source, entry: Entry, report: SourceReport, exc: Exception
    ) -> None:
        """Record an unexpected error on one entry: it fails and is retried next run."""
        message = f"unexpected error ({type(exc).__name__}: {exc}); will retry next run"
        report.failed += 1
        report.problems.append(f"{entry.url}: {message}")
        self.events.entry_done(source.name, entry.url, "failed", message)
        log.error("source=%s url=%s: %s", source.name, entry.url, message, exc_info=exc)
        if not self.dry_run:
            try:
                self.state.mark_failed(source.name, entry.id, entry.url, message)
            except Exception as again:  # the state itself may be what failed
                log.error(
                    "source=%s url=%s: cannot record the failure: %s", source.name, entry.url, again
                )

    async def read_article(self, source: Source, entry: Entry, priority: int = 0) -> Article:
        """Fetch an entry's page and extract its Article (with the source's `article:` rules);
        FetchError when the page cannot be had."""
        page = await self.fetcher.get(entry.url, priority=priority)
        # Let the request that took this one's connection slot start before the CPU work:
        # otherwise the connections sit idle while a batch of pages is extracted.
        await asyncio.sleep(0)
        settings = self.config.settings
        call = partial(
            read_page, page.body, page.content_type, page.url, source.article, settings.tz, self.now
        )
        return await self.workers(call, page.url)

    def _report_missing(
        self, source: Source, entry: Entry, article: Article, report: SourceReport
    ) -> None:
        missing = article.missing()
        if missing:
            message = (
                f"{entry.url}: page has no article {' and no '.join(missing)};"
                " the post falls back to the feed's title, summary and date"
            )
            report.problems.append(message)
            log.warning(
                "source=%s url=%s: no article %s", source.name, entry.url, " or ".join(missing)
            )

    def _entry_failed(
        self, source: Source, entry: Entry, report: SourceReport, exc: FetchError
    ) -> _Write | None:
        """Record an entry whose page could not be fetched, in its turn: gone, retried next run,
        or posted from the feed alone (the post to write, if so)."""
        if exc.permanent:
            report.failed += 1
            report.problems.append(f"{_about(entry.url, exc)}; not posted (the page is gone)")
            self.events.entry_done(source.name, entry.url, "gone", str(exc))
            log.error("source=%s url=%s: %s (gone, not retried)", source.name, entry.url, exc)
            if not self.dry_run:
                self.state.mark_done(source.name, entry.id, entry.url, "gone", str(exc))
            return None
        if isinstance(exc, BlockedURLError):
            # Refused by robots.txt or the address guard: another run would be refused again.
            report.problems.append(f"{_about(entry.url, exc)}; posting from the feed alone")
            log.warning(
                "source=%s url=%s: %s; posting from the feed alone", source.name, entry.url, exc
            )
            return self._emit(source, entry, report, "fallback")
        attempts = (
            1
            if self.dry_run
            else self.state.mark_failed(source.name, entry.id, entry.url, str(exc))
        )
        if attempts >= self.config.settings.max_retries:
            report.problems.append(
                f"{_about(entry.url, exc)}; failed {attempts} runs in a row,"
                " posting from the feed alone"
            )
            log.warning(
                "source=%s url=%s: %s; posting from the feed alone", source.name, entry.url, exc
            )
            return self._emit(source, entry, report, "fallback")
        report.failed += 1
        report.problems.append(f"{_about(entry.url, exc)}; will retry next run")
        self.events.entry_done(source.name, entry.url, "failed", f"{exc}; will retry next run")
        log.error("source=%s url=%s: %s (will retry)", source.name, entry.url, exc)
        return None

    def _emit(
        self,
        source: Source,
        entry: Entry,
        report: SourceReport,
        outcome: Outcome = "new",
        draft: tuple[_Story, Post] | None = None,
        staged: Path | None = None,
    ) -> _Write | None:
        """Post or skip an entry, in its turn: the post to write (its name reserved), or None.
        `draft`: its story and post made from its page; without it, they are made from the
        entry alone. `staged`: the post's file, if written already."""
        story = draft[0] if draft else self._story(entry, None)
        if self._skip_duplicate(source, entry, story, report):
            if staged is not None:
                staged.unlink(missing_ok=True)
            return None
        post = draft[1] if draft else render_for(self.config, source, entry, None, self.now)
        if self.dry_run:
            report.new += 1
            report.written.append(post.filename)
            self._remember(post.filename, story)
            self.events.entry_done(source.name, entry.url, outcome, post.filename)
            return None
        # The name is reserved in the state before the write: a run killed after the write but
        # before mark_posted rewrites that same file next time, never a second one.
        filename = self.state.post_file_for_url(entry.url) or free_filename(
            self.config.posts_dir, post, self.state.url_for_post_file(post.filename)
        )
        self.state.reserve_post(source.name, entry.id, entry.url, filename)
        self._writing.add(filename)
        # Later entries are judged against this post from now on, before its file is written.
        self._remember(filename, story)
        self._tag_echoes(filename, story)
        return _Write(source, entry, report, outcome, story, post, filename, staged)

    async def _stage(self, post: Post) -> Path:
        """The post written to a temporary file (write.stage_post) by the stager task, along
        with the others rendered meanwhile: one trip to a thread for them all."""
        staged: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._to_stage.append((post, staged))
        if self._stager is None or self._stager.done():
            self._stager = asyncio.ensure_future(self._stage_queued())
        return await staged

    async def _stage_queued(self) -> None:
        while self._to_stage:
            batch, self._to_stage = self._to_stage, []
            results: Sequence[Path | Exception]
            try:
                results = await asyncio.to_thread(
                    stage_posts, self.config.posts_dir, [post for post, _ in batch]
                )
            except Exception as exc:  # a bug: these entries fail (and are retried next run)
                results = [exc] * len(batch)
            for (_, staged), result in zip(batch, results, strict=True):
                if staged.cancelled():
                    if isinstance(result, Path):
                        with contextlib.suppress(OSError):
                            result.unlink(missing_ok=True)
                elif isinstance(result, Path):
                    staged.set_result(result)
                else:
                    staged.set_exception(result)

    def _queue_write(self, write: _Write) -> None:
        """Have a decided post written by the writer task, with the others waiting then."""
        self._queued.append(write)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_queued())

    async def _write_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                await self._write_batch(batch)
            except Exception as exc:  # a bug, or the state failing: these entries only
                for write in batch:
                    self._writing.discard(write.filename)
                    self._entry_crashed(write.source, write.entry, write.report, exc)

    async def _write_batch(self, batch: list[_Write]) -> None:
        """Give posts whose names are reserved their files (the staged ones renamed, the others
        written), with the tags the state has for them, then record them as posted. The files
        are placed in a thread, all at once, while the event loop goes on fetching and deciding.
        """
        placements = []
        for write in batch:
            # Tags that later sources gave it: in this run (`_tag` while it was pending) or in a
            # killed one that recorded them before the file was written.
            self._retag.discard(write.filename)
            content = None if write.staged is not None else write.post.content
            placements.append(
                (write.filename, write.staged, content, self.state.tags(write.filename))
            )
        results = await asyncio.to_thread(place_posts, self.config.posts_dir, placements)
        written: list[_Write] = []
        for write, result in zip(batch, results, strict=True):
            self._writing.discard(write.filename)
            if isinstance(result, Exception):
                self._write_failed(write.source, write.entry, write.report, write.filename, result)
                continue
            if write.filename in self._retag:  # tagged while being placed
                self._retag.discard(write.filename)
                self._sync_tags(write.filename, None)
            written.append(write)
        self.state.mark_posted_many(
            [
                (write.source.name, write.entry.id, write.entry.url, write.filename, _record(write))
                for write in written
            ]
        )
        for write in written:
            entry, report = write.entry, write.report
            report.new += 1
            report.written.append(write.filename)
            self.events.entry_done(write.source.name, entry.url, write.outcome, write.filename)
            log.info("source=%s url=%s: wrote %s", write.source.name, entry.url, write.filename)

    def _write_failed(
        self, source: Source, entry: Entry, report: SourceReport, filename: str, exc: Exception
    ) -> None:
        self._posted = {key: file for key, file in self._posted.items() if file != filename}
        report.failed += 1
        report.problems.append(f"{entry.url}: cannot write {filename}: {exc}")
        self.events.entry_done(source.name, entry.url, "failed", f"cannot write: {exc}")
        log.error("source=%s url=%s: cannot write post: %s", source.name, entry.url, exc)

    # Filters and deduplication

    def _max_age(self, source: Source) -> timedelta | None:
        value = source.max_age or self.config.settings.max_age
        return parse_duration(value) if value else None

    def _rejected(self, source: Source, entry: Entry, article: Article | None) -> str | None:
        """Why the filters skip an entry (judged on the page too once it is read), or None."""
        settings = self.config.settings
        filters = [
            EntryFilter.of(settings.include, settings.exclude),
            EntryFilter.of(source.include, source.exclude, self._max_age(source)),
        ]
        title = entry.title or (article.title if article else None) or ""
        summary = entry.summary or (article.summary if article else None) or ""
        published = entry.published or (article.published if article else None)
        if article is None and not title and not summary:
            # A listing link without text: its keywords are judged on the page.
            filters = [EntryFilter(max_age=f.max_age) for f in filters]
        return reject_entry(filters, title, summary, published, self.now or datetime.now(UTC))

    def _story(self, entry: Entry, article: Article | None) -> _Story:
        keys = article_keys(entry.url, article)
        # The page's headline is whole where a feed's may be cut ("..."): it identifies better.
        title = (article.title if article else None) or entry.title
        text = article.text if article is not None and article.blocks else entry.summary
        published = (
            (article.published if article else None)
            or entry.published
            or self.now
            or datetime.now(UTC)
        )
        return _Story(keys, fingerprint(title, text), published)

    def _post_for(self, keys: Sequence[str]) -> str | None:
        for key in keys:
            if key in self._posted:
                return self._posted[key]
        return self.state.post_for_keys(keys)

    def _remember(self, file: str, story: _Story) -> None:
        for key in story.keys:
            self._posted.setdefault(key, file)
        self._stories.append((file, story))

    def _near_duplicate(self, story: _Story) -> tuple[str, str] | None:
        """(post file, reason) of an earlier post of the same story within the window."""
        settings = self.config.settings
        window = parse_duration(settings.near_duplicate_window)
        if not window:
            return None
        start, end = story.published - window, story.published + window
        distance = settings.near_duplicate_distance
        # Stored fingerprints are compared as they are (signed): thousands may be in the window.
        for stored in self.state.fingerprints_between(start, end):
            reason = same_story(story.fingerprint, stored, distance)
            if reason is not None:
                return stored.file, reason
        for file, other in self._stories:
            if start <= other.published <= end:
                reason = same_story(story.fingerprint, other.fingerprint, distance)
                if reason is not None:
                    return file, reason
        return None

    def _skip_duplicate(
        self, source: Source, entry: Entry, story: _Story, report: SourceReport
    ) -> bool:
        """Skip (and record) an entry whose article or story is already posted."""
        file = self._post_for((*story.keys, entry.url))
        if file is not None:
            reason = f"same article as {file}"
        else:
            near = self._near_duplicate(story)
            if near is None:
                return False
            file, reason = near[0], f"near-duplicate of {near[0]} ({near[1]})"
        for key in story.keys:
            self._posted.setdefault(key, file)
        if not self.dry_run:
            self.state.add_post_keys(file, story.keys)
            self._tag(file, source)
            self._tag_echoes(file, story)
        self._skip(source, entry, report, "duplicate", reason)  # marked done after the tags
        return True

    def _tag_echoes(self, file: str, story: _Story) -> None:
        # Now, not at the end of the run: tags then follow the order of the sources.
        for key in story.keys:
            for echo in self._echoes_of.pop(key, []):
                self._tag(file, self._sources[echo.source])

    def _skip(
        self,
        source: Source,
        entry: Entry,
        report: SourceReport,
        outcome: Outcome,
        reason: str,
    ) -> None:
        report.skipped += 1
        if outcome == "duplicate":
            report.duplicates += 1
        else:
            report.filtered += 1
        self.events.entry_done(source.name, entry.url, outcome, reason)
        log.info("source=%s url=%s: skipped: %s", source.name, entry.url, reason)
        if not self.dry_run:
            status = "duplicate" if outcome == "duplicate" else "filtered"
            self.state.mark_done(source.name, entry.id, entry.url, status, reason)

    def _tag(self, file: str, source: Source) -> None:
        """Add the source's topic to the `tags:` of a post another source made; atomically."""
        if not source.topic or self.dry_run:
            return
        # A topic already recorded may still be missing from the file (a run killed between the
        # two), so the file is always brought in line with the state: the entry is marked done
        # only after this, and a rerun comes back here.
        self.state.add_tag(file, source.topic)
        if file in self._writing:
            self._retag.add(file)  # `_write_batch` writes it with the state's tags
            return
        self._sync_tags(file, source)

    def _sync_tags(self, file: str, source: Source | None) -> None:
        """Bring a post's `tags:` in line with the state; `source`: the one whose topic it got
        (its report lists the file as updated), None for a post of this run."""
        tags = self.state.tags(file)
        name = source.name if source else "-"
        try:
            content = (self.config.posts_dir / file).read_text(encoding="utf-8")
            updated = set_tags(content, tags)
            if updated != content:
                now = self.now or datetime.now(UTC)
                write_post(self.config.posts_dir, Post(file, updated, "", now), file)
                if source is not None:
                    self._updated.setdefault(file, source.name)
        except (OSError, ValueError) as exc:
            log.warning("source=%s post=%s: cannot add tag: %s", name, file, exc)
            return
        log.info("source=%s post=%s: tags now %s", name, file, tags)


def _record(write: _Write) -> StoryRecord:
    """What the state keeps of a written post's story."""
    story = write.story
    simhash = story.fingerprint.simhash
    return StoryRecord(
        story.keys,
        None if simhash is None else to_signed(simhash),
        story.fingerprint.title,
        story.published,
        write.source.topic,
    )


def source_hint(source: Source, exc: FetchError | FeedError) -> str | None:
    """What the operator can do about a source whose document failed, or None (try later)."""
    where = f"source {source.name!r} in sources.yaml"
    if isinstance(exc, BlockedURLError):
        return None  # its message says why and which setting allows it
    if isinstance(exc, FetchError):
        if exc.status in (404, 410):
            return f"the address is gone: fix `url` of {where}"
        if exc.status in (401, 403):
            return f"the site refuses us: check `url` of {where} and settings.user_agent"
        return None  # network trouble or a busy server: the next run tries again
    if "an HTML page" in str(exc):
        if source.type == "listing":
            return None
        return f"a web page, not a feed: fix `url` of {where}, or read the page as `type: listing`"
    return f"check `url` and `type` of {where}"


def article_keys(url: str, article: Article | None) -> tuple[str, ...]:
    """The canonical URLs an article is known by: `url`'s, then the page's final URL and its own
    canonical link, when they stay on `url`'s site."""
    keys = [canonical_url(url)]
    if article is not None:
        for other in (article.url, article.canonical):
            if other and same_site(other, url) and (key := canonical_url(other)) not in keys:
                keys.append(key)
    return tuple(keys)


def _about(url: str, exc: Exception) -> str:
    """An error message that names `url` once (fetch errors already start with their URL)."""
    message = str(exc)
    return message if message.startswith(url) else f"{url}: {message}"


def render_for(
    config: Config, source: Source, entry: Entry, article: Article | None, now: datetime | None
) -> Post:
    """The post for an entry, with the source's topic and categories and the configured layout."""
    settings = config.settings
    return render_post(
        entry,
        article,
        topic=source.topic,
        categories=source.categories,
        title_template=settings.title,
        tz=settings.tz,
        fallback_date=now or datetime.now(UTC),
    )


def open_fetcher(config: Config, robots_store: RobotsStore | None = None) -> Fetcher:
    """The HTTP client configured by `settings`; robots.txt files are kept in `robots_store`
    (the state) across runs when given."""
    settings = config.settings
    return Fetcher(
        user_agent=settings.user_agent,
        timeout=settings.timeout,
        allow_private_networks=settings.allow_private_networks,
        mirrors=settings.mirrors,
        connect_timeout=settings.connect_timeout,
        total=settings.max_connections,
        per_host=settings.per_host_connections,
        host_delay=settings.host_delay,
        max_bytes=settings.max_body_bytes,
        max_redirects=settings.max_redirects,
        retries=settings.request_retries,
        backoff=settings.retry_backoff,
        max_wait=settings.retry_max_wait,
        robots=settings.robots_txt,
        robots_store=robots_store,
    )


def open_workers(config: Config) -> Workers:
    """The worker processes configured by `settings.workers` (started on first use)."""
    workers = config.settings.workers
    return Workers(auto_workers() if workers == "auto" else workers)


async def fetch_sources(
    config: Config,
    sources: Sequence[Source],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    events: RunEvents | None = None,
    cpu: CallCpu | None = None,
) -> list[SourceReport]:
    """One pass over the given sources: the `aggregator fetch` job. `cpu`, when given, gets the
    CPU spent reading documents (pages extracted, feeds parsed), in workers or here."""
    if config.posts_dir.exists() and not config.posts_dir.is_dir():
        raise ConfigError(str(config.path), f"{config.posts_dir} is not a folder", key="posts_dir")
    if not dry_run:
        remove_stale_temps(config.posts_dir)  # left by a killed run
    # A dry run reads the state to know what is new, but must not create one.
    path = path_or_memory(config.state_path) if dry_run else config.state_path
    with State(path) as state:
        # A dry run leaves the state as it was: robots.txt is read afresh, not stored.
        async with (
            open_fetcher(config, None if dry_run else state) as fetcher,
            open_workers(config) as workers,
        ):
            run = Run(config, fetcher, state, dry_run, now, events or NoEvents(), workers.run)
            try:
                return await run.run(sources)
            finally:
                if cpu is not None:
                    cpu.update(workers.cpu)


async def post_url(
    config: Config,
    url: str,
    *,
    topic: str | None,
    categories: list[str],
    stdout: bool,
    now: datetime | None = None,
) -> tuple[Post, Article, tuple[str, str] | None]:
    """One post from one article URL, written unless `stdout`: (post, article, and what was
    written: (outcome, file name), or None)."""
    async with open_fetcher(config) as fetcher:
        page = await fetcher.get(url)
    article = extract(page.text, page.url, tz=config.settings.tz, now=now)
    entry = Entry(
        source="post",
        id=page.url,
        url=page.url,
        title=article.title or "",
        published=article.published,
    )
    source = Source(name="post", type="feed", url=page.url, topic=topic, categories=categories)
    post = render_for(config, source, entry, article, now)
    if stdout:
        return post, article, None
    # The article may be posted already under the URL asked for, the one redirected to, or the
    # page's own canonical link: every form is looked up, and remembered for later runs.
    keys = list(dict.fromkeys((canonical_url(url), *article_keys(page.url, article))))
    with State(config.state_path) as state:
        known = state.post_for_keys([*keys, url, page.url])
        if known is not None and state.post_origin(known) not in (None, "post"):
            # A source's post also carries its entry's title and summary: it stays as it is.
            return post, article, ("exists", known)
        existing = known or free_filename(
            config.posts_dir, post, state.url_for_post_file(post.filename)
        )
        outcome = write_post(config.posts_dir, post, existing)
        state.record_post(page.url, existing, "post")
        state.add_post_keys(existing, keys)
    return post, article, (outcome, existing)


__all__ = ["Run", "fetch_sources", "post_url"]
