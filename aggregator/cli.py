"""Command line: argument parsing, exit codes and output; calls the pipeline.

Exit codes: 0 everything worked; 1 some source or entry failed (the rest was written), or
--commit/--push failed; 2 configuration or usage error; 3 `fetch` found another run holding the
lock next to the state file (it exits at once, having done nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from aggregator import __version__, console
from aggregator.check import check_json, check_lines, check_sources
from aggregator.config import Config, Source, default_config, load_config
from aggregator.errors import (
    AggregatorError,
    ConfigError,
    FetchError,
    LockedError,
    PublishError,
    StateError,
)
from aggregator.events import RunEvents
from aggregator.lock import hold_lock, lock_path
from aggregator.models import SourceReport
from aggregator.pipeline import fetch_sources, post_url
from aggregator.publish import publish_posts
from aggregator.state import State, path_or_memory
from aggregator.workers import CallCpu

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_LOCKED = 3


def _publish_options() -> argparse.ArgumentParser:
    """--posts-dir/--commit/--push, shared by `fetch` and `run`."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--posts-dir",
        type=Path,
        metavar="DIR",
        help="write posts here instead of settings.posts_dir (e.g. ../site/_posts)",
    )
    options.add_argument(
        "--commit",
        action="store_true",
        help="git commit exactly the posts each run wrote (posts dir must be in a git work tree)",
    )
    options.add_argument("--push", action="store_true", help="--commit, then git push")
    return options


def _output_options() -> argparse.ArgumentParser:
    """-q/-v/--report/--log-format, shared by the commands that run sources."""
    options = argparse.ArgumentParser(add_help=False)
    loudness = options.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q", "--quiet", action="store_true", help="print errors only (for cron: silent when ok)"
    )
    loudness.add_argument("-v", "--verbose", action="store_true", help="a line per entry")
    options.add_argument(
        "--report", type=Path, metavar="FILE.json", help="also write the run report as JSON"
    )
    options.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per event on stderr, for log collectors",
    )
    return options


def _parser() -> argparse.ArgumentParser:
    output = _output_options()
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Fetch news feeds and alerts and write Markdown posts for a Jekyll site.",
    )
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    publish = _publish_options()
    fetch = commands.add_parser(
        "fetch",
        help="one pass over the sources (for cron and one-off runs)",
        parents=[output, publish],
    )
    fetch.add_argument(
        "--config", type=Path, default=Path("sources.yaml"), help="default: ./sources.yaml"
    )
    fetch.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="only this source (repeatable)",
    )
    fetch.add_argument(
        "--dry-run", action="store_true", help="fetch and extract, but write no post and no state"
    )

    run = commands.add_parser(
        "run",
        help="the scheduler daemon: each source on its `every:` or `cron:` (stop: SIGTERM)",
        parents=[publish],
    )
    run.add_argument(
        "--config", type=Path, default=Path("sources.yaml"), help="default: ./sources.yaml"
    )
    run.add_argument(
        "--source", action="append", default=[], metavar="NAME", help="only this source"
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per event on stderr, for log collectors",
    )

    post = commands.add_parser("post", help="make one post from one article URL")
    post.add_argument("url", metavar="URL")
    post.add_argument(
        "--config", type=Path, default=Path("sources.yaml"), help="default: ./sources.yaml"
    )
    post.add_argument("--topic", help="topic shown in the title, as a source's `topic:`")
    post.add_argument(
        "--category", action="append", default=[], metavar="C", help="post category (repeatable)"
    )
    post.add_argument("--stdout", action="store_true", help="print the post instead of writing it")

    listing = commands.add_parser(
        "sources", help="list the sources with their schedule and health (from the state file)"
    )
    listing.add_argument(
        "--config", type=Path, default=Path("sources.yaml"), help="default: ./sources.yaml"
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")

    check = commands.add_parser(
        "check", help="read sources and extract one article each, writing nothing"
    )
    check.add_argument("names", nargs="*", metavar="NAME", help="default: every source")
    check.add_argument(
        "--config", type=Path, default=Path("sources.yaml"), help="default: ./sources.yaml"
    )
    check.add_argument(
        "--entries", type=int, default=3, metavar="N", help="entries shown per source (default 3)"
    )
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    return parser


def _config(path: Path, *, required: bool) -> Config:
    if not required and not path.exists():
        return default_config(path)
    return load_config(path)


def _run_config(args: argparse.Namespace) -> Config:
    """The configuration of `fetch` or `run`, with --posts-dir applied."""
    config = _config(args.config, required=True)
    if args.posts_dir is not None:
        settings = config.settings.model_copy(update={"posts_dir": str(args.posts_dir.resolve())})
        config = dataclasses.replace(config, settings=settings)
    return config


def _locked_fetch(args: argparse.Namespace) -> int:
    """`fetch` under the lock next to the state file (LockedError when another run has it)."""
    if args.dry_run and (args.commit or args.push):
        print("aggregator: --commit and --push cannot go with --dry-run", file=sys.stderr)
        return EXIT_CONFIG
    config = _run_config(args)
    if args.dry_run:  # writes nothing, so it needs no lock (and creates no lock file)
        return _run_fetch(args, config)
    with hold_lock(lock_path(config.state_path)):
        return _run_fetch(args, config)


def _publish(args: argparse.Namespace, config: Config, reports: list[SourceReport]) -> bool:
    """--commit/--push after a fetch: print what was committed; False when git failed."""
    if not (args.commit or args.push) or args.dry_run:
        return True
    try:
        published = publish_posts(config.posts_dir, reports, push=args.push)
    except PublishError as exc:
        print(f"aggregator: cannot publish: {exc}", file=sys.stderr)
        return False
    if _verbosity(args) > console.QUIET:
        if published.commit:
            print(f"committed {published.commit[:12]} in {published.repo}: {published.message}")
        else:
            print(f"nothing new to commit in {published.repo}")
        if published.pushed:
            print(f"pushed {published.repo}")
    return True


def _selected(config: Config, names: list[str]) -> tuple[Source, ...]:
    """The sources named (all when none is); ConfigError when there are none."""
    sources = config.select(names)
    if not sources:
        raise ConfigError(str(config.path), "no sources configured; add one under `sources:`")
    return sources


def _run_daemon(args: argparse.Namespace) -> int:
    config = _run_config(args)
    sources = _selected(config, args.source)
    # The daemon has no summary to print: its log line per run is the output.
    json_logs = args.log_format == "json"
    if not json_logs:
        for handler in logging.getLogger("aggregator").handlers:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
    for name in ("aggregator.schedule", "aggregator.publish"):
        logging.getLogger(name).setLevel(logging.INFO)
    # Imported here: apscheduler is for `run` alone, and every other command starts faster.
    from aggregator.schedule import Daemon

    daemon = Daemon(
        config,
        sources,
        commit=args.commit or args.push,
        push=args.push,
        events=console.JsonEvents(sys.stderr) if json_logs else None,
    )
    return asyncio.run(daemon.serve())


def _verbosity(args: argparse.Namespace) -> int:
    if getattr(args, "quiet", False):
        return console.QUIET
    return console.VERBOSE if getattr(args, "verbose", False) else console.NORMAL


def _events(args: argparse.Namespace, terminal: Console) -> list[RunEvents]:
    """The live displays for a run: JSON events, per-entry lines, or progress on a terminal."""
    verbosity = _verbosity(args)
    if args.log_format == "json":
        return [console.JsonEvents(sys.stderr, verbosity)]
    shown: list[RunEvents] = []
    if verbosity >= console.VERBOSE:
        shown.append(console.EntryLines(terminal))
    return shown


def _run_fetch(args: argparse.Namespace, config: Config) -> int:
    sources = _selected(config, args.source)
    started = datetime.now(UTC)
    verbosity = _verbosity(args)
    terminal = Console(file=sys.stderr)
    events = _events(args, Console(file=sys.stdout))
    live = (
        args.log_format == "text" and verbosity > console.QUIET and console.is_terminal(sys.stderr)
    )
    cpu = CallCpu()
    if live:
        with console.LiveProgress.on(terminal) as progress:
            reports = asyncio.run(
                fetch_sources(
                    config,
                    sources,
                    dry_run=args.dry_run,
                    events=console.FanOut([*events, progress]),
                    cpu=cpu,
                )
            )
    else:
        fan = console.FanOut(events) if events else None
        reports = asyncio.run(
            fetch_sources(config, sources, dry_run=args.dry_run, events=fan, cpu=cpu)
        )
    code = EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
    code = code if _publish(args, config, reports) else EXIT_FAILED
    console.print_summary(reports, dry_run=args.dry_run, verbosity=verbosity, out=sys.stdout)
    if args.report is not None:
        report = console.run_report(
            reports,
            command="fetch",
            started=started,
            finished=datetime.now(UTC),
            dry_run=args.dry_run,
            exit_code=code,
            cpu=cpu,
        )
        console.write_json(args.report, report)
    return code


def _run_sources(args: argparse.Namespace) -> int:
    # Imported here, as for `run`: it needs apscheduler's triggers for the next runs.
    from aggregator.status import source_statuses, status_json, status_table

    config = _config(args.config, required=True)
    with State(path_or_memory(config.state_path)) as state:
        rows = source_statuses(config, state)
    if args.json:
        print(json.dumps([status_json(row) for row in rows], ensure_ascii=False, indent=2))
    elif rows:
        # Piped, rich would squeeze the table into 80 columns.
        width = None if console.is_terminal(sys.stdout) else 200
        Console(file=sys.stdout, width=width).print(status_table(rows))
    else:
        print(f"{config.path}: no sources configured; add one under `sources:`")
    return EXIT_OK


def _run_check(args: argparse.Namespace) -> int:
    config = _config(args.config, required=True)
    sources = _selected(config, args.names)
    results = asyncio.run(check_sources(config, sources))
    if args.json:
        data = [check_json(r, entries=args.entries) for r in results]
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for result in results:
            lines = check_lines(result, entries=args.entries, tz=config.settings.tz)
            print("\n".join(lines))
        broken = [r.source.name for r in results if not r.ok]
        print(
            f"checked {len(results)} sources: "
            + (f"{len(broken)} broken ({', '.join(broken)})" if broken else "all ok")
        )
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _run_post(args: argparse.Namespace, config: Config) -> int:
    post, article, written = asyncio.run(
        post_url(config, args.url, topic=args.topic, categories=args.category, stdout=args.stdout)
    )
    if written is None:
        sys.stdout.write(post.content)
    else:
        outcome, file = written
        print(f"{outcome}: {config.posts_dir / file}")
    missing = article.missing()
    if missing:
        print(
            f"{args.url}: warning: page has no article {' and no '.join(missing)}", file=sys.stderr
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    console.setup_logging(getattr(args, "log_format", "text"), _verbosity(args))
    try:
        if args.command == "fetch":
            return _locked_fetch(args)
        if args.command == "run":
            return _run_daemon(args)
        if args.command == "check":
            return _run_check(args)
        if args.command == "sources":
            return _run_sources(args)
        config = _config(args.config, required=False)
        if args.stdout:
            return _run_post(args, config)
        # Writing a post and recording it must not interleave with a `fetch` or the daemon.
        with hold_lock(lock_path(config.state_path)):
            return _run_post(args, config)
    except ConfigError as exc:
        print(f"aggregator: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StateError as exc:
        print(f"aggregator: state error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except LockedError as exc:
        print(f"aggregator: not started: {exc}; try again when it ends", file=sys.stderr)
        return EXIT_LOCKED
    except FetchError as exc:
        print(f"aggregator: cannot fetch {exc}", file=sys.stderr)
        return EXIT_FAILED
    except AggregatorError as exc:
        print(f"aggregator: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("aggregator: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
