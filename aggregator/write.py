"""Post -> file in the posts directory, atomically (temporary file, then rename), idempotently.

A killed writer leaves at most a `.tmp-<pid>-*` file (Jekyll ignores dot files), never a
truncated post; remove_stale_temps() clears those a dead process left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Literal

from aggregator.models import Post
from aggregator.render import set_tags, unique_filename

WriteOutcome = Literal["created", "updated", "unchanged"]
TEMP_PREFIX = ".tmp-"
MAX_NAME_BYTES = 255
"""Longest file name most file systems accept (ext4, APFS, NTFS in UTF-16 units)."""
_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d{{1,9}})-")
# The first body line of a post links its article: `[title](url)`, maybe after `{% raw %}`.
_LINKED_URL = re.compile(r"^---\n.*?\n---\n(?:\{% raw %\}\n)?\[[^\n]*\]\((\S+)\)\n", re.DOTALL)
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
# Names Windows refuses whatever the extension (a site may be built or checked out there).
_RESERVED = re.compile(r"^(?:con|prn|aux|nul|com\d|lpt\d)(?:\.|$)", re.IGNORECASE)


def post_path(posts_dir: Path, filename: str) -> Path:
    """The file for a post name; ValueError for a name that is not one plain file name inside
    the directory (separators, `..`, dot files, unprintable characters, reserved names, more
    than 255 bytes)."""
    if (
        not filename
        or filename != Path(filename).name
        or filename.startswith(".")
        or filename.endswith((".", " "))
        or _UNSAFE_CHARS.search(filename)
        or _RESERVED.match(filename)
        or len(filename.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES
        or not filename.isprintable()  # controls, surrogates, invisible format characters
    ):
        raise ValueError(f"unsafe post file name {filename!r}")
    return posts_dir / filename


def linked_url(content: str) -> str | None:
    """The article URL a post's first body line links to (as written, escaped), or None."""
    match = _LINKED_URL.match(content)
    return match.group(1) if match else None


def free_filename(posts_dir: Path, post: Post, owner: str | None) -> str:
    """The name to write a post under: its own name when free for its article, else that name
    with a hash of the article URL, so another article's post is never overwritten.

    `owner` is the article URL the state has for the name (None: unknown to the state); a file
    the state does not know is the same article's when its first line links the same URL.
    """
    name = post.filename
    if owner is not None:
        return name if owner == post.url else unique_filename(name, post.url)
    try:
        existing = post_path(posts_dir, name).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return name
    except OSError:
        return unique_filename(name, post.url)
    mine = linked_url(post.content)
    if mine is not None and linked_url(existing) == mine:
        return name
    return unique_filename(name, post.url)


def write_post(posts_dir: Path, post: Post, filename: str | None = None) -> WriteOutcome:
    """Write the post (under `filename` when given, else its own); never touch an identical file."""
    outcome = _write_file(post_path(posts_dir, filename or post.filename), post.content)
    if outcome != "unchanged":
        _sync_directory(posts_dir)
    return outcome


def stage_post(posts_dir: Path, post: Post) -> Path:
    """Write a post to a new temporary file in the posts directory (durably; Jekyll ignores it)
    and return its path, for `place_posts` to give it its name once it is decided on."""
    return _write_temp(posts_dir, post.content.encode("utf-8"))


def stage_posts(posts_dir: Path, posts: list[Post]) -> list[Path | Exception]:
    """stage_post for each post: its temporary file, or the error that stopped it (one post's
    error is its own: the others are staged all the same)."""
    staged: list[Path | Exception] = []
    for post in posts:
        try:
            staged.append(stage_post(posts_dir, post))
        except Exception as exc:
            staged.append(exc)
    return staged


def post_head(post: Post) -> Post:
    """The post cut after the line linking its article: what `free_filename` reads of it."""
    match = _LINKED_URL.match(post.content)
    return replace(post, content=post.content[: match.end()] if match else "")


def place_posts(
    posts_dir: Path, posts: list[tuple[str, Path | None, str | None, list[str]]]
) -> list[WriteOutcome | OSError | ValueError]:
    """Give posts their names: for each (name, staged file, content, tags), the staged file
    renamed to the name, or `content` written there (the staged file removed); with `tags`, the
    post's `tags:` set to them. As write_post does, an identical file is left untouched. One
    sync of the directory for all. Returns what became of each, or the error that stopped it
    (its staged file removed)."""
    results: list[WriteOutcome | OSError | ValueError] = []
    for filename, staged, content, tags in posts:
        try:
            path = post_path(posts_dir, filename)
            if tags:
                if content is None and staged is not None:
                    content = staged.read_text(encoding="utf-8")
                content = set_tags(content or "", tags)
            if content is not None:
                results.append(_write_file(path, content))
            elif staged is not None:
                results.append(_place_file(path, staged))
            else:
                raise ValueError(f"nothing to write for {filename!r}")
        except (OSError, ValueError) as exc:
            results.append(exc)
        finally:
            if staged is not None:
                with contextlib.suppress(FileNotFoundError):
                    staged.unlink()
    if any(result in ("created", "updated") for result in results):
        _sync_directory(posts_dir)
    return results


def _place_file(path: Path, staged: Path) -> WriteOutcome:
    """Rename a staged (synced) file to `path`, unless `path` has its content already."""
    try:
        if path.read_bytes() == staged.read_bytes():
            return "unchanged"
        outcome: WriteOutcome = "updated"
    except FileNotFoundError:
        outcome = "created"
    staged.replace(path)
    return outcome


def _write_temp(directory: Path, data: bytes) -> Path:
    """A new temporary file in `directory` holding `data`, synced to disk; none on failure."""
    directory.mkdir(parents=True, exist_ok=True)
    # The temporary name does not grow with the post's name, so it stays within 255 bytes too.
    temp = directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}.md"
    try:
        with temp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return temp


def _write_file(path: Path, content: str) -> WriteOutcome:
    """Replace a file's content atomically and durably (the directory entry aside), unless it
    has that content already."""
    data = content.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return "unchanged"
        outcome: WriteOutcome = "updated"
    except FileNotFoundError:
        outcome = "created"
    temp = _write_temp(path.parent, data)
    try:
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return outcome


def _sync_directory(directory: Path) -> None:
    # The rename is durable once the directory entry is on disk (a power cut, not just a kill).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and Windows) cannot sync a directory
    finally:
        os.close(fd)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    except OSError:
        return False
    return True


def remove_stale_temps(posts_dir: Path) -> list[str]:
    """Delete the temporary files that writers no longer running left in the posts directory;
    returns their names. Files of live processes (a concurrent run) are left alone."""
    removed: list[str] = []
    try:
        paths = sorted(posts_dir.iterdir())
    except FileNotFoundError:
        return removed
    for path in paths:
        match = _TEMP_NAME.match(path.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed
