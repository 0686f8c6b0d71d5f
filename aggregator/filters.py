"""Keyword and age filters: entry text and date -> the reason to skip it, or None to keep it.

Pure. Keywords match whole words, ignoring case and Vietnamese diacritics: "dich vu cong" matches
"Dịch vụ công" and "DỊCH VỤ CÔNG", but "cong" does not match "congo".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregator.dedup import words


def fold_words(text: str) -> str:
    """Text as its folded lower-case words, space-separated with a space on each side."""
    return f" {' '.join(words(text))} "


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """One level of filtering (the global settings or one source)."""

    include: tuple[str, ...] = ()
    """Keywords of which at least one must appear (no keywords: everything passes)."""
    exclude: tuple[str, ...] = ()
    """Keywords none of which may appear."""
    max_age: timedelta | None = None
    """Entries published longer ago than this are skipped."""

    @classmethod
    def of(
        cls, include: Iterable[str], exclude: Iterable[str], max_age: timedelta | None = None
    ) -> EntryFilter:
        """A filter from keywords as written in sources.yaml."""
        return cls(tuple(include), tuple(exclude), max_age)

    def reject(
        self, title: str, summary: str, published: datetime | None, now: datetime
    ) -> str | None:
        """Why an entry is skipped, or None when it passes."""
        if self.max_age is not None and published is not None and published < now - self.max_age:
            return f"older than max_age ({_age(self.max_age)})"
        text = fold_words(f"{title}\n{summary}")
        if self.include and first_match(self.include, text) is None:
            return f"matches none of the include keywords ({', '.join(self.include)})"
        excluded = first_match(self.exclude, text)
        if excluded is not None:
            return f"matches the exclude keyword {excluded!r}"
        return None


def first_match(keywords: Sequence[str], folded_text: str) -> str | None:
    """The first keyword found on word boundaries in text made by fold_words."""
    for keyword in keywords:
        folded = fold_words(keyword)
        if folded.strip() and folded in folded_text:
            return keyword
    return None


def reject_entry(
    filters: Sequence[EntryFilter],
    title: str,
    summary: str,
    published: datetime | None,
    now: datetime,
) -> str | None:
    """Why the first filter that rejects an entry does so, or None when all let it pass."""
    for entry_filter in filters:
        reason = entry_filter.reject(title, summary, published, now)
        if reason is not None:
            return reason
    return None


def _age(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
