"""Composes the stages of a run: Source -> feed bytes -> Entries -> page -> Article -> Post -> file.

Failures are isolated per source and per entry: they are recorded in the SourceReport and the
state, and the run goes on. A failed entry is not marked seen, so the next run retries it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aggregator.config import Config, Source
from aggregator.errors import AggregatorError, FeedError, FetchError
from aggregator.extraction import extract
from aggregator.fetch import Fetcher, Page
from aggregator.models import Article, Entry, Post, SourceReport
from aggregator.render import render_post
from aggregator.sources import PARSERS
from aggregator.state import State
from aggregator.write import write_post

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One pass over some sources, sharing a client, the state and the set of URLs taken."""

    config: Config
    fetcher: Fetcher
    state: State
    dry_run: bool = False
    now: datetime | None = None

    def __post_init__(self) -> None:
        self._claimed: set[str] = set()
        self._echoes: list[Entry] = []

    async def run(self, sources: Sequence[Source]) -> list[SourceReport]:
        """Run the sources concurrently; reports in the order given.

        All feeds are read first, then entries are claimed in source order, so that an article
        announced by several sources is posted by the first one listed, whatever the timing.
        """
        reports = [SourceReport(source.name, source.url) for source in sources]
        feeds = await asyncio.gather(
            *(self._read_source(s, r) for s, r in zip(sources, reports, strict=True))
        )
        work = [
            self._run_entries(source, self._claim(source, entries, report), report)
            for source, entries, report in zip(sources, feeds, reports, strict=True)
            if entries is not None
        ]
        await asyncio.gather(*work)
        if not self.dry_run:
            # Entries whose URL another source took in this run are duplicates once it is posted.
            for entry in self._echoes:
                if self.state.post_for_url(entry.url) is not None:
                    self.state.mark_done(entry.source, entry.id, entry.url, "duplicate")
            for source, report in zip(sources, reports, strict=True):
                self.state.record_source(source.name, report.error)
        return reports

    async def _read_source(self, source: Source, report: SourceReport) -> list[Entry] | None:
        """The entries of a source's document; None (and the error reported) when it failed."""
        try:
            page = await self.fetcher.get(source.url)
            return PARSERS[source.type](page.body, page.url, source.name)
        except (FetchError, FeedError) as exc:
            report.error = str(exc)
            log.error("source=%s url=%s: %s", source.name, source.url, exc)
            return None

    def _claim(self, source: Source, entries: list[Entry], report: SourceReport) -> list[Entry]:
        """The entries this source must work on, oldest first; the rest are counted as skipped."""
        todo: list[Entry] = []
        for entry in entries:
            if self.state.is_done(source.name, entry.id):
                report.skipped += 1
            elif entry.url in self._claimed:
                report.skipped += 1
                self._echoes.append(entry)
            elif self.state.post_for_url(entry.url) is not None:
                report.skipped += 1
                if not self.dry_run:
                    self.state.mark_done(source.name, entry.id, entry.url, "duplicate")
            else:
                self._claimed.add(entry.url)
                todo.append(entry)
        # Feeds list newest first; posts are written in the order the news happened.
        todo.reverse()
        return todo

    async def _run_entries(self, source: Source, todo: list[Entry], report: SourceReport) -> None:
        await asyncio.gather(*(self._run_entry(source, entry, report) for entry in todo))

    async def _run_entry(self, source: Source, entry: Entry, report: SourceReport) -> None:
        try:
            page = await self.fetcher.get(entry.url)
        except FetchError as exc:
            self._entry_failed(source, entry, report, exc)
            return
        article = self._extract(source, entry, page, report)
        self._emit(source, entry, article, report)

    def _extract(self, source: Source, entry: Entry, page: Page, report: SourceReport) -> Article:
        article = extract(
            page.body, page.url, source.article, tz=self.config.settings.tz, now=self.now
        )
        missing = [
            name
            for name, value in (("text", article.blocks), ("date", article.published))
            if not value
        ]
        if missing:
            message = (
                f"{entry.url}: page has no article {' and no '.join(missing)};"
                " the post falls back to the feed's title, summary and date"
            )
            report.problems.append(message)
            log.warning(
                "source=%s url=%s: no article %s", source.name, entry.url, " or ".join(missing)
            )
        return article

    def _entry_failed(
        self, source: Source, entry: Entry, report: SourceReport, exc: FetchError
    ) -> None:
        if exc.permanent:
            report.failed += 1
            report.problems.append(f"{entry.url}: {exc}; not posted (the page is gone)")
            log.error("source=%s url=%s: %s (gone, not retried)", source.name, entry.url, exc)
            if not self.dry_run:
                self.state.mark_done(source.name, entry.id, entry.url, "gone", str(exc))
            return
        attempts = (
            1
            if self.dry_run
            else self.state.mark_failed(source.name, entry.id, entry.url, str(exc))
        )
        if attempts >= self.config.settings.max_retries:
            report.problems.append(
                f"{entry.url}: {exc}; failed {attempts} runs in a row, posting from the feed alone"
            )
            log.warning(
                "source=%s url=%s: %s; posting from the feed alone", source.name, entry.url, exc
            )
            self._emit(source, entry, None, report)
            return
        report.failed += 1
        report.problems.append(f"{entry.url}: {exc}; will retry next run")
        log.error("source=%s url=%s: %s (will retry)", source.name, entry.url, exc)

    def _emit(
        self, source: Source, entry: Entry, article: Article | None, report: SourceReport
    ) -> None:
        post = render_for(self.config, source, entry, article, self.now)
        if self.dry_run:
            report.new += 1
            report.written.append(post.filename)
            return
        try:
            write_post(self.config.posts_dir, post)
        except (OSError, ValueError) as exc:
            report.failed += 1
            report.problems.append(f"{entry.url}: cannot write {post.filename}: {exc}")
            log.error("source=%s url=%s: cannot write post: %s", source.name, entry.url, exc)
            return
        self.state.mark_posted(source.name, entry.id, entry.url, post.filename)
        report.new += 1
        report.written.append(post.filename)
        log.info("source=%s url=%s: wrote %s", source.name, entry.url, post.filename)


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


def open_fetcher(config: Config) -> Fetcher:
    """The HTTP client configured by `settings`."""
    settings = config.settings
    return Fetcher(
        user_agent=settings.user_agent,
        timeout=settings.timeout,
        allow_private_networks=settings.allow_private_networks,
        mirrors=settings.mirrors,
    )


async def fetch_sources(
    config: Config, sources: Sequence[Source], *, dry_run: bool = False, now: datetime | None = None
) -> list[SourceReport]:
    """One pass over the given sources: the `aggregator fetch` job."""
    with State(config.state_path) as state:
        async with open_fetcher(config) as fetcher:
            return await Run(config, fetcher, state, dry_run, now).run(sources)


async def post_url(
    config: Config,
    url: str,
    *,
    topic: str | None,
    categories: list[str],
    stdout: bool,
    now: datetime | None = None,
) -> tuple[Post, Article, str | None]:
    """One post from one article URL, written unless `stdout`: (post, article, write outcome)."""
    async with open_fetcher(config) as fetcher:
        page = await fetcher.get(url)
    article = extract(page.body, page.url, tz=config.settings.tz, now=now)
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
    with State(config.state_path) as state:
        existing = state.post_for_url(page.url)
        outcome = write_post(config.posts_dir, post, existing)
        state.record_post(page.url, existing or post.filename, "post")
    return post, article, outcome


__all__ = ["AggregatorError", "Run", "fetch_sources", "post_url"]
