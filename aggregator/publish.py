"""Publishing: commit (and push) exactly the posts a run wrote, in the git repository holding them.

Takes the posts folder and the run's reports (their `written` file names) and runs git; nothing
else in the repository is staged, committed or reset, and nothing is committed when no post is
new. Returns what was committed and pushed.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aggregator.errors import PublishError
from aggregator.models import SourceReport

log = logging.getLogger(__name__)

GIT_TIMEOUT = 300.0
"""Seconds allowed for one git command (a push over a slow link included)."""


@dataclass(frozen=True, slots=True)
class Published:
    """What `publish_posts` did."""

    repo: Path
    commit: str | None
    """The new commit's hash, or None when no post was new."""
    files: tuple[str, ...]
    """The committed files, relative to the repository."""
    message: str
    pushed: bool


def commit_message(counts: dict[str, int], updated: int = 0) -> str:
    """The commit subject: the number of new posts with the count of each source, largest
    first, then the number of posts updated (tags added)."""
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    per_source = ", ".join(f"{source} {count}" for source, count in ordered)
    noun = "post" if total == 1 else "posts"
    parts = [f"{total} new {noun} ({per_source})"] if total else []
    if updated:
        parts.append(f"{updated} updated")
    return "aggregator: " + ", ".join(parts)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_LITERAL_PATHSPECS": "1", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise PublishError(str(repo), "git is not installed") from None
    except subprocess.TimeoutExpired:
        raise PublishError(str(repo), f"git {args[0]} took over {GIT_TIMEOUT:.0f}s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        reason = "; ".join(detail[-3:]) or f"exit code {done.returncode}"
        raise PublishError(str(repo), f"git {args[0]} failed: {reason}")
    return done.stdout


def find_repo(posts_dir: Path) -> Path:
    """The top folder of the git work tree holding `posts_dir`; PublishError when there is none."""
    folder = posts_dir.resolve()
    while not folder.exists():
        folder = folder.parent
    try:
        top = _git(folder, "rev-parse", "--show-toplevel").strip()
    except PublishError:
        raise PublishError(
            str(posts_dir), "posts folder is not inside a git work tree (--commit needs one)"
        ) from None
    return Path(top).resolve()


def _ahead(repo: Path) -> bool:
    """True when the branch has commits its upstream lacks (or has no upstream to compare)."""
    try:
        return int(_git(repo, "rev-list", "--count", "@{upstream}..HEAD").strip()) > 0
    except PublishError:
        return True


def publish_posts(
    posts_dir: Path, reports: Sequence[SourceReport], *, push: bool = False
) -> Published:
    """Commit the posts the reports list as written or updated (when any changed), then push
    if asked.

    Only those files are staged and committed (`git commit --only`), so changes the operator
    made elsewhere in the repository, staged or not, stay as they were. With `push`, commits
    that an earlier run could not push go out too.
    """
    repo = find_repo(posts_dir)
    folder = posts_dir.resolve()
    source_of: dict[str, str] = {}
    for report in reports:
        for name in report.written:
            source_of[(folder / name).relative_to(repo).as_posix()] = report.source
    # A post both written and tagged in this run counts as new.
    updated = {
        (folder / name).relative_to(repo).as_posix() for r in reports for name in r.updated
    } - set(source_of)
    for report in reports:
        for name in report.updated:
            source_of.setdefault((folder / name).relative_to(repo).as_posix(), report.source)
    commit: str | None = None
    files: tuple[str, ...] = ()
    message = ""
    if source_of:
        paths = sorted(source_of)
        _git(repo, "add", "--", *paths)
        staged = _git(repo, "diff", "--cached", "--name-only", "-z", "--", *paths)
        files = tuple(sorted(name for name in staged.split("\0") if name))
    if files:
        counts: dict[str, int] = {}
        for name in files:
            if name not in updated:
                counts[source_of[name]] = counts.get(source_of[name], 0) + 1
        message = commit_message(counts, sum(1 for name in files if name in updated))
        body = "\n".join(files)
        _git(repo, "commit", "--only", "--quiet", "-m", message, "-m", body, "--", *files)
        commit = _git(repo, "rev-parse", "HEAD").strip()
        log.info("repo=%s: committed %s: %s", repo, commit[:12], message)
    pushed = False
    if push and (commit is not None or _ahead(repo)):
        _git(repo, "push", "--quiet")
        pushed = True
        log.info("repo=%s: pushed", repo)
    return Published(repo, commit, files, message, pushed)
