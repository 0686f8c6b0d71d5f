"""Post -> file in the posts directory, atomically (temporary file, then rename), idempotently."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

from aggregator.models import Post

WriteOutcome = Literal["created", "updated", "unchanged"]
TEMP_PREFIX = ".tmp-"


def post_path(posts_dir: Path, filename: str) -> Path:
    """The file for a post name; ValueError for a name that would leave the directory."""
    if not filename or filename != Path(filename).name or filename.startswith("."):
        raise ValueError(f"unsafe post file name {filename!r}")
    return posts_dir / filename


def write_post(posts_dir: Path, post: Post, filename: str | None = None) -> WriteOutcome:
    """Write the post (under `filename` when given, else its own); never touch an identical file."""
    path = post_path(posts_dir, filename or post.filename)
    data = post.content.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return "unchanged"
        outcome: WriteOutcome = "updated"
    except FileNotFoundError:
        outcome = "created"
    posts_dir.mkdir(parents=True, exist_ok=True)
    temp = posts_dir / f"{TEMP_PREFIX}{os.getpid()}-{path.name}"
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return outcome
