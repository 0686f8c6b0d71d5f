"""The state keeps the stored fingerprints of the near-duplicate window in memory (each new post is
checked against all of them): what it answers must be what a fresh read of the file answers, as
posts are added, replaced, and the window moves."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.state import State, StoryRecord

START = datetime(2026, 1, 5, 12, tzinfo=UTC)


def test_fingerprints_in_memory_match_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    rng = random.Random(5)
    with State(path) as state:
        for n in range(40):
            state.mark_posted(
                "s",
                f"e{n}",
                f"https://a.example/{n}",
                f"post-{n}.md",
                StoryRecord(
                    (f"https://a.example/{n}",),
                    rng.getrandbits(64) - 2**63,
                    f"title {n}",
                    START + timedelta(hours=rng.randint(-100, 100)),
                ),
            )
        checked = 0
        for step in range(60):
            middle = START + timedelta(hours=rng.randint(-150, 150))
            start, end = middle - timedelta(hours=30), middle + timedelta(hours=30)
            held = state.fingerprints_between(start, end)
            with State(path) as fresh:
                assert held == fresh.fingerprints_between(start, end)
            checked += len(held)
            # A new post, or one posted again (its fingerprint replaced), maybe with no title.
            n = rng.choice([40 + step, rng.randrange(40)])
            state.mark_posted(
                "s",
                f"e{n}-{step}",
                f"https://a.example/{n}/{step}",
                f"post-{n}.md",
                StoryRecord(
                    (f"https://a.example/{n}/{step}",),
                    rng.choice([None, rng.getrandbits(64) - 2**63]),
                    rng.choice([None, f"title {n} again"]),
                    middle + timedelta(hours=rng.randint(-40, 40)),
                ),
            )
    assert checked > 100
