"""The embedded state file (SQLite, WAL): seen entries, posts by URL, and source health.

One State per process; every change is its own transaction, so a killed run loses at most the
entry it was working on, which the next run retries.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aggregator.errors import StateError

APPLICATION_ID = 0x41474752  # "AGGR": marks the file as ours
SCHEMA_VERSION = 1
DONE = ("posted", "gone", "duplicate", "filtered")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    source     TEXT NOT NULL,
    entry_id   TEXT NOT NULL,
    url        TEXT NOT NULL,
    status     TEXT NOT NULL,          -- posted | gone | duplicate | filtered | failed | writing
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    post       TEXT,                   -- file name of the post written for it
    first_seen TEXT NOT NULL,
    updated    TEXT NOT NULL,
    PRIMARY KEY (source, entry_id)
);
CREATE INDEX IF NOT EXISTS entries_url ON entries (url);
CREATE TABLE IF NOT EXISTS posts (
    url     TEXT PRIMARY KEY,
    file    TEXT NOT NULL,
    source  TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    name         TEXT PRIMARY KEY,
    last_run     TEXT,
    last_success TEXT,
    last_error   TEXT,
    failures     INTEGER NOT NULL DEFAULT 0
);
"""
# Created when missing on every open, so state files made before these tables gain them.
_FETCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS http_cache (
    source        TEXT NOT NULL,       -- per source: two sources may poll one URL
    url           TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    not_before    TEXT,                -- poll no sooner (Cache-Control max-age, RSS <ttl>)
    updated       TEXT NOT NULL,
    PRIMARY KEY (source, url)
);
CREATE TABLE IF NOT EXISTS source_backoff (
    name  TEXT PRIMARY KEY,
    until TEXT NOT NULL                -- a failing source is not polled before this time
);
"""


# Created when missing on every open: the keys, fingerprints and topics of posted stories.
_STORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS post_keys (
    key  TEXT PRIMARY KEY,             -- canonical URL (aggregator.urls) of the post's article
    file TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    file      TEXT PRIMARY KEY,
    simhash   INTEGER,                 -- 64-bit SimHash of title and text, stored signed
    title     TEXT,                    -- normalized title (aggregator.dedup.title_key)
    published TEXT NOT NULL            -- UTC ISO time, for the near-duplicate window
);
CREATE INDEX IF NOT EXISTS fingerprints_published ON fingerprints (published);
CREATE TABLE IF NOT EXISTS post_topics (
    file     TEXT NOT NULL,
    topic    TEXT NOT NULL,
    position INTEGER NOT NULL,         -- 0: the topic of the source that posted it
    PRIMARY KEY (file, topic)
);
"""

# Created when missing on every open: robots.txt per origin, kept across runs (aggregator.robots).
_ROBOTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS robots_txt (
    origin     TEXT PRIMARY KEY,       -- scheme://host[:port]: robots.txt governs one origin
    status     INTEGER,                -- HTTP status; NULL when it could not be downloaded
    body       BLOB NOT NULL,          -- the file (2xx only, at most 512 KiB), else empty
    fetched_at TEXT NOT NULL           -- UTC ISO time of the download
);
"""

# Looking up who owns a post file name (once per post written) without scanning every row.
_POST_FILE_INDEXES = """
CREATE INDEX IF NOT EXISTS posts_file ON posts (file);
CREATE INDEX IF NOT EXISTS entries_post ON entries (post);
"""


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """What identifies a posted story beyond its URL, stored with the post."""

    keys: tuple[str, ...] = ()
    """Canonical URLs the article is known under."""
    simhash: int | None = None
    """SimHash of its title and text, as a signed 64-bit integer."""
    title: str | None = None
    """Normalized title."""
    published: datetime | None = None
    topic: str | None = None
    """The topic of the source that posted it."""


@dataclass(frozen=True, slots=True)
class StoredFingerprint:
    """A posted story's fingerprint, for near-duplicate checks."""

    file: str
    simhash: int | None
    title: str | None


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What the state remembers about a source."""

    name: str
    last_run: str | None
    last_success: str | None
    last_error: str | None
    failures: int


@dataclass(frozen=True, slots=True)
class HttpCache:
    """What the state remembers of a URL's last full response."""

    etag: str | None
    last_modified: str | None
    not_before: datetime | None
    """The URL is not polled again before this time (None: no floor)."""


@dataclass(frozen=True, slots=True)
class StoredRobots:
    """A robots.txt download as kept in the state: its status (None when it could not be
    downloaded at all), its body (empty unless 2xx) and when it was downloaded."""

    status: int | None
    body: bytes
    fetched_at: datetime


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def path_or_memory(path: Path) -> Path:
    """`path` when the state file exists, else an in-memory database: reading the state (a dry
    run, `aggregator sources`) must not create one."""
    return path if path.exists() else Path(":memory:")


class State:
    """Access to the state file. Use as a context manager, or call close()."""

    def __init__(self, path: Path):
        self.path = path
        self._window: tuple[str, str] | None = None
        """The published range (as stored) whose fingerprints are held in memory: checking each
        new post against thousands of stored ones must not read them all from SQLite each time."""
        self._published: list[str] = []
        self._fingerprints: list[StoredFingerprint] = []
        """The fingerprints of `_window` in the order of `fingerprints_between`, and their dates."""
        self._fingerprinted: set[str] = set()
        """The files of `_fingerprints` (a file not among them needs no scan to be replaced)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise StateError(str(path), f"cannot open the state file ({exc})") from None
        try:
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id != APPLICATION_ID and (app_id != 0 or tables):
                raise StateError(
                    str(path), "not an aggregator state file; move it away or set settings.state"
                )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if tables == 0:
                self._db.executescript(
                    f"BEGIN; {_SCHEMA} PRAGMA application_id={APPLICATION_ID};"
                    f" PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
                )
            known = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
            if not {"http_cache", "source_backoff"} <= known:
                self._db.executescript(f"BEGIN; {_FETCH_SCHEMA} COMMIT;")
            if not {"post_keys", "fingerprints", "post_topics"} <= known:
                self._db.executescript(f"BEGIN; {_STORY_SCHEMA} COMMIT;")
            if "robots_txt" not in known:
                self._db.executescript(f"BEGIN; {_ROBOTS_SCHEMA} COMMIT;")
            if not {"posts_file", "entries_post"} <= known:
                self._db.executescript(f"BEGIN; {_POST_FILE_INDEXES} COMMIT;")
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateError(
                str(path), f"unreadable state file ({exc}); move it away to start afresh"
            ) from None
        except StateError:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Entries

    def entry_status(self, source: str, entry_id: str) -> tuple[str, int] | None:
        """(status, attempts) of an entry already met, or None for a new one."""
        row = self._db.execute(
            "SELECT status, attempts FROM entries WHERE source = ? AND entry_id = ?",
            (source, entry_id),
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def is_done(self, source: str, entry_id: str) -> bool:
        """True when the entry needs no more work (posted, gone or a duplicate)."""
        status = self.entry_status(source, entry_id)
        return status is not None and status[0] in DONE

    def done_entries(self, source: str, entry_ids: Iterable[str]) -> set[str]:
        """The ids among `entry_ids` of entries that need no more work (see is_done): a feed's
        entries looked up at once rather than one query each."""
        ids = list(dict.fromkeys(entry_ids))
        done: set[str] = set()
        # Few enough ids per query for any SQLite's limit on parameters (999 before 3.32).
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._db.execute(
                "SELECT entry_id FROM entries WHERE source = ? AND entry_id IN"
                f" ({', '.join('?' * len(chunk))}) AND status IN ({', '.join('?' * len(DONE))})",
                (source, *chunk, *DONE),
            )
            done.update(str(row[0]) for row in rows)
        return done

    def post_for_url(self, url: str) -> str | None:
        """The file name of the post already written for an article URL."""
        row = self._db.execute("SELECT file FROM posts WHERE url = ?", (url,)).fetchone()
        return str(row[0]) if row else None

    def post_origin(self, file: str) -> str | None:
        """The source that wrote a post file ("post" for `aggregator post`), or None."""
        row = self._db.execute("SELECT source FROM posts WHERE file = ?", (file,)).fetchone()
        return str(row[0]) if row else None

    def post_file_for_url(self, url: str) -> str | None:
        """The file name written, or about to be written (reserve_post), for an article URL."""
        row = self._db.execute(
            "SELECT file FROM posts WHERE url = ?"
            " UNION ALL SELECT post FROM entries WHERE url = ? AND post IS NOT NULL LIMIT 1",
            (url, url),
        ).fetchone()
        return str(row[0]) if row else None

    def url_for_post_file(self, file: str) -> str | None:
        """The article URL a post file name was written, or reserved, for."""
        row = self._db.execute(
            "SELECT url FROM posts WHERE file = ?"
            " UNION ALL SELECT url FROM entries WHERE post = ? LIMIT 1",
            (file, file),
        ).fetchone()
        return str(row[0]) if row else None

    def reserve_post(self, source: str, entry_id: str, url: str, file: str) -> None:
        """Record the file name an entry's post is about to be written under (status `writing`),
        so that a run killed between the write and mark_posted rewrites that file, not another."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._upsert_entry(source, entry_id, url, "writing", None, file)

    def _upsert_entry(
        self, source: str, entry_id: str, url: str, status: str, error: str | None, post: str | None
    ) -> None:
        now = _now()
        self._db.execute(
            """INSERT INTO entries (source, entry_id, url, status, attempts, last_error, post,
                                    first_seen, updated)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (source, entry_id) DO UPDATE SET
                 url = excluded.url, status = excluded.status,
                 attempts = entries.attempts + excluded.attempts,
                 last_error = excluded.last_error, post = coalesce(excluded.post, entries.post),
                 updated = excluded.updated""",
            (source, entry_id, url, status, 1 if status == "failed" else 0, error, post, now, now),
        )

    def mark_posted(
        self, source: str, entry_id: str, url: str, file: str, story: StoryRecord | None = None
    ) -> None:
        """Record an entry whose post was written, and the post for its URL (with its keys,
        fingerprint and topic when given), in one transaction."""
        self.mark_posted_many([(source, entry_id, url, file, story)])

    def mark_posted_many(
        self, posted: Sequence[tuple[str, str, str, str, StoryRecord | None]]
    ) -> None:
        """mark_posted for each (source, entry id, url, file, story), in one transaction."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            now = _now()
            for source, entry_id, url, file, story in posted:
                self._upsert_entry(source, entry_id, url, "posted", None, file)
                self._db.execute(
                    "INSERT OR IGNORE INTO posts (url, file, source, created) VALUES (?, ?, ?, ?)",
                    (url, file, source, now),
                )
                if story is not None:
                    self._record_story(file, story)
        for _, _, _, file, story in posted:
            if story is not None and story.published is not None:
                self._remember_fingerprint(file, story)

    def _remember_fingerprint(self, file: str, story: StoryRecord) -> None:
        """Bring the fingerprints held in memory in line with one just stored (or replaced)."""
        if self._window is None or story.published is None:
            return
        if story.simhash is None and not story.title:
            return  # not stored (see _record_story)
        if file in self._fingerprinted:
            for index, stored in enumerate(self._fingerprints):
                if stored.file == file:
                    del self._fingerprints[index], self._published[index]
                    break
        published = _utc(story.published)
        if self._window[0] <= published <= self._window[1]:
            # After the equal dates, as SQLite orders a replaced row (a new rowid).
            index = bisect.bisect_right(self._published, published)
            self._published.insert(index, published)
            self._fingerprints.insert(index, StoredFingerprint(file, story.simhash, story.title))
            self._fingerprinted.add(file)

    def _record_story(self, file: str, story: StoryRecord) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO post_keys (key, file) VALUES (?, ?)",
            [(key, file) for key in story.keys],
        )
        if story.published is not None and (story.simhash is not None or story.title):
            self._db.execute(
                "INSERT OR REPLACE INTO fingerprints (file, simhash, title, published)"
                " VALUES (?, ?, ?, ?)",
                (file, story.simhash, story.title, _utc(story.published)),
            )
        if story.topic:
            self._db.execute(
                "INSERT OR IGNORE INTO post_topics (file, topic, position) VALUES (?, ?, 0)",
                (file, story.topic),
            )

    def post_for_keys(self, keys: Iterable[str]) -> str | None:
        """The file of the post known under any of these canonical URLs (or plain URLs): the
        first key's, if known, else the next one's."""
        keys = list(keys)
        if not keys:
            return None
        # One query for all the keys (a run asks for every entry): ranked by key, then table.
        wanted = ", ".join("(?, ?)" for _ in keys)
        row = self._db.execute(
            f"WITH wanted (key, rank) AS (VALUES {wanted})"
            " SELECT file FROM ("
            "  SELECT wanted.rank, 0 AS source, post_keys.file FROM wanted"
            "   JOIN post_keys ON post_keys.key = wanted.key"
            "  UNION ALL SELECT wanted.rank, 1, posts.file FROM wanted"
            "   JOIN posts ON posts.url = wanted.key"
            " ) ORDER BY rank, source LIMIT 1",
            [value for rank, key in enumerate(keys) for value in (key, rank)],
        ).fetchone()
        return None if row is None else str(row[0])

    def add_post_keys(self, file: str, keys: Iterable[str]) -> None:
        """Remember more canonical URLs for a post (a duplicate found under another URL)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO post_keys (key, file) VALUES (?, ?)",
                [(key, file) for key in keys],
            )

    def fingerprints_between(self, start: datetime, end: datetime) -> list[StoredFingerprint]:
        """Fingerprints of the posts published from `start` to `end`, oldest first."""
        first, last = _utc(start), _utc(end)
        if self._window is None or first < self._window[0] or last > self._window[1]:
            if self._window is not None:
                # Widened by a whole span on the side missed: the posts of a run come in date
                # order, and each new date would otherwise read everything again.
                low, high = self._window
                first = _utc(start - (end - start)) if first < low else low
                last = _utc(end + (end - start)) if last > high else high
            rows = self._db.execute(
                "SELECT published, file, simhash, title FROM fingerprints"
                " WHERE published BETWEEN ? AND ? ORDER BY published",
                (first, last),
            ).fetchall()
            self._window = (first, last)
            self._published = [str(row[0]) for row in rows]
            self._fingerprints = [
                StoredFingerprint(str(f), h if h is None else int(h), t) for _, f, h, t in rows
            ]
            self._fingerprinted = {stored.file for stored in self._fingerprints}
        first, last = _utc(start), _utc(end)
        return self._fingerprints[
            bisect.bisect_left(self._published, first) : bisect.bisect_right(self._published, last)
        ]

    def add_tag(self, file: str, topic: str) -> list[str] | None:
        """Record a later source's topic for a post: its tags (the later topics, in order) when
        the topic is new to the post, else None."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            known = self._db.execute(
                "SELECT 1 FROM post_topics WHERE file = ? AND topic = ?", (file, topic)
            ).fetchone()
            if known is not None:
                return None
            self._db.execute(
                "INSERT INTO post_topics (file, topic, position) VALUES (?, ?,"
                " (SELECT coalesce(max(position), 0) + 1 FROM post_topics WHERE file = ?))",
                (file, topic, file),
            )
        return self.tags(file)

    def tags(self, file: str) -> list[str]:
        """The topics of the sources that found a post after the one that posted it."""
        rows = self._db.execute(
            "SELECT topic FROM post_topics WHERE file = ? AND position > 0 ORDER BY position",
            (file,),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def mark_done(
        self, source: str, entry_id: str, url: str, status: str, error: str | None = None
    ) -> None:
        """Record an entry that needs no post: `gone` (page removed), `duplicate`, or `filtered`
        (left out by the source's include/exclude keywords or max_age)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._upsert_entry(source, entry_id, url, status, error, None)

    def mark_failed(self, source: str, entry_id: str, url: str, error: str) -> int:
        """Record a failed attempt (retried next run); returns the attempts so far."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._upsert_entry(source, entry_id, url, "failed", error, None)
        status = self.entry_status(source, entry_id)
        return status[1] if status else 1

    def record_post(self, url: str, file: str, source: str) -> None:
        """Remember a post written outside a source run (`aggregator post`)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO posts (url, file, source, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE SET file = excluded.file",
                (url, file, source, _now()),
            )

    # Sources

    def record_source(self, name: str, error: str | None) -> None:
        """Record the outcome of one run of a source."""
        now = _now()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if error is None:
                self._db.execute(
                    """INSERT INTO sources (name, last_run, last_success, failures)
                       VALUES (?, ?, ?, 0)
                       ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run,
                         last_success = excluded.last_success, failures = 0""",
                    (name, now, now),
                )
            else:
                self._db.execute(
                    """INSERT INTO sources (name, last_run, last_error, failures)
                       VALUES (?, ?, ?, 1)
                       ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run,
                         last_error = excluded.last_error, failures = sources.failures + 1""",
                    (name, now, error),
                )

    def entry_counts(self) -> dict[str, int]:
        """Source name -> entries met so far (posted, gone, duplicate or failing)."""
        rows = self._db.execute("SELECT source, count(*) FROM entries GROUP BY source")
        return {str(name): int(count) for name, count in rows}

    def source_health(self, name: str) -> SourceHealth | None:
        """What is known of a source, or None before its first run."""
        row = self._db.execute(
            "SELECT name, last_run, last_success, last_error, failures FROM sources WHERE name = ?",
            (name,),
        ).fetchone()
        return SourceHealth(*row) if row else None

    # Fetching: HTTP validators per URL, and source backoff across runs

    def http_cache(self, source: str, url: str) -> HttpCache | None:
        """What the last full response for a URL said about its version and freshness, as
        seen by one source (another source polling the same URL must see its changes too)."""
        row = self._db.execute(
            "SELECT etag, last_modified, not_before FROM http_cache WHERE source = ? AND url = ?",
            (source, url),
        ).fetchone()
        if row is None:
            return None
        not_before = datetime.fromisoformat(row[2]) if row[2] else None
        return HttpCache(row[0], row[1], not_before)

    def save_http_cache(
        self,
        source: str,
        url: str,
        etag: str | None,
        last_modified: str | None,
        not_before: datetime | None,
    ) -> None:
        """Remember a source's validators for a URL (None: send none next time) and its
        polling floor."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                """INSERT INTO http_cache (source, url, etag, last_modified, not_before, updated)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (source, url) DO UPDATE SET etag = excluded.etag,
                     last_modified = excluded.last_modified, not_before = excluded.not_before,
                     updated = excluded.updated""",
                (
                    source,
                    url,
                    etag,
                    last_modified,
                    not_before.isoformat(timespec="seconds") if not_before else None,
                    _now(),
                ),
            )

    def backoff_until(self, name: str) -> datetime | None:
        """When a failing source may be polled again, or None when it is not backing off."""
        row = self._db.execute(
            "SELECT until FROM source_backoff WHERE name = ?", (name,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def set_backoff(self, name: str, until: datetime | None) -> None:
        """Leave a source alone until a time; None ends its backoff."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if until is None:
                self._db.execute("DELETE FROM source_backoff WHERE name = ?", (name,))
            else:
                self._db.execute(
                    "INSERT INTO source_backoff (name, until) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET until = excluded.until",
                    (name, until.isoformat(timespec="seconds")),
                )

    # robots.txt per origin, kept across runs

    def robots_txt(self, origin: str) -> StoredRobots | None:
        """The last robots.txt downloaded for an origin ("https://host"), or None."""
        row = self._db.execute(
            "SELECT status, body, fetched_at FROM robots_txt WHERE origin = ?", (origin,)
        ).fetchone()
        if row is None:
            return None
        return StoredRobots(
            None if row[0] is None else int(row[0]), bytes(row[1]), datetime.fromisoformat(row[2])
        )

    def save_robots_txt(self, origin: str, robots: StoredRobots) -> None:
        """Remember the robots.txt just downloaded for an origin."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO robots_txt (origin, status, body, fetched_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (origin) DO UPDATE SET status = excluded.status,"
                " body = excluded.body, fetched_at = excluded.fetched_at",
                (origin, robots.status, robots.body, _utc(robots.fetched_at)),
            )
