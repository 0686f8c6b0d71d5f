"""The embedded state file (SQLite, WAL): seen entries, posts by URL, and source health.

One State per process; every change is its own transaction, so a killed run loses at most the
entry it was working on, which the next run retries.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aggregator.errors import StateError

APPLICATION_ID = 0x41474752  # "AGGR": marks the file as ours
SCHEMA_VERSION = 1
DONE = ("posted", "gone", "duplicate")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    source     TEXT NOT NULL,
    entry_id   TEXT NOT NULL,
    url        TEXT NOT NULL,
    status     TEXT NOT NULL,          -- posted | gone | duplicate | failed
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


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What the state remembers about a source."""

    name: str
    last_run: str | None
    last_success: str | None
    last_error: str | None
    failures: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class State:
    """Access to the state file. Use as a context manager, or call close()."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
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
            self._db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                str(path), f"unreadable state file ({exc}); move it away to start afresh"
            ) from None

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

    def post_for_url(self, url: str) -> str | None:
        """The file name of the post already written for an article URL."""
        row = self._db.execute("SELECT file FROM posts WHERE url = ?", (url,)).fetchone()
        return str(row[0]) if row else None

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

    def mark_posted(self, source: str, entry_id: str, url: str, file: str) -> None:
        """Record an entry whose post was written, and the post for its URL, in one transaction."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._upsert_entry(source, entry_id, url, "posted", None, file)
            self._db.execute(
                "INSERT OR IGNORE INTO posts (url, file, source, created) VALUES (?, ?, ?, ?)",
                (url, file, source, _now()),
            )

    def mark_done(
        self, source: str, entry_id: str, url: str, status: str, error: str | None = None
    ) -> None:
        """Record an entry that needs no post: `gone` (page removed) or `duplicate`."""
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

    def source_health(self, name: str) -> SourceHealth | None:
        """What is known of a source, or None before its first run."""
        row = self._db.execute(
            "SELECT name, last_run, last_success, last_error, failures FROM sources WHERE name = ?",
            (name,),
        ).fetchone()
        return SourceHealth(*row) if row else None
