"""Command line: argument parsing, exit codes and output; calls the pipeline.

Exit codes: 0 everything worked; 1 some source or entry failed (the rest was written);
2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aggregator import __version__
from aggregator.config import Config, default_config, load_config
from aggregator.errors import AggregatorError, ConfigError, FetchError, StateError
from aggregator.models import SourceReport
from aggregator.pipeline import fetch_sources, post_url

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Fetch news feeds and alerts and write Markdown posts for a Jekyll site.",
    )
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser(
        "fetch", help="one pass over the sources (for cron and one-off runs)"
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
    return parser


def _config(path: Path, *, required: bool) -> Config:
    if not required and not path.exists():
        return default_config(path)
    return load_config(path)


def _source_line(report: SourceReport, dry_run: bool) -> str:
    if report.error:
        return f"{report.source}: failed: {report.error}"
    verb = "would write" if dry_run else "new"
    line = f"{report.source}: {report.new} {verb}, {report.skipped} skipped, {report.failed} failed"
    return line


def _run_fetch(args: argparse.Namespace) -> int:
    config = _config(args.config, required=True)
    sources = config.select(args.source)
    if not sources:
        print(f"{config.path}: no sources configured", file=sys.stderr)
        return EXIT_CONFIG
    reports = asyncio.run(fetch_sources(config, sources, dry_run=args.dry_run))
    for report in reports:
        print(_source_line(report, args.dry_run))
        for problem in report.problems:
            print(f"  {problem}")
        if args.dry_run:
            for name in report.written:
                print(f"  {name}")
    new = sum(r.new for r in reports)
    skipped = sum(r.skipped for r in reports)
    failed_entries = sum(r.failed for r in reports)
    failed_sources = sum(1 for r in reports if r.error)
    verb = "would write" if args.dry_run else "new"
    print(
        f"total: {new} {verb}, {skipped} skipped, {failed_entries} failed entries,"
        f" {failed_sources} of {len(reports)} sources failed"
    )
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED


def _run_post(args: argparse.Namespace) -> int:
    config = _config(args.config, required=False)
    post, article, outcome = asyncio.run(
        post_url(config, args.url, topic=args.topic, categories=args.category, stdout=args.stdout)
    )
    if args.stdout:
        sys.stdout.write(post.content)
    else:
        print(f"{outcome}: {config.posts_dir / post.filename}")
    missing = [n for n, v in (("text", article.blocks), ("date", article.published)) if not v]
    if missing:
        print(
            f"{args.url}: warning: page has no article {' and no '.join(missing)}", file=sys.stderr
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The CLI prints its own per-source lines; logs would repeat them.
    logging.getLogger("aggregator").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        if args.command == "fetch":
            return _run_fetch(args)
        return _run_post(args)
    except ConfigError as exc:
        print(f"aggregator: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StateError as exc:
        print(f"aggregator: state error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
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
