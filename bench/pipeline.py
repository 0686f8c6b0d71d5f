"""Pipeline benchmark: N sources x M articles on a local server with a latency per request.

Runs the real CLI (`python -m aggregator fetch`) twice against tests/server.py: a first run that
writes every post, then a second where every feed answers 304. Prints wall time against the
lower bound set by the per-host limit, the start-up time and the latency; CPU per article split
into start-up, extraction and the rest (ours: feed parsing, fingerprints and rendering timed
in-process, and the remainder); peak RSS; the most requests the server saw at once per host; and
a naive sequential fetch loop (one request at a time) as the baseline.

Articles are the real saved pages of tests/data/articles (Vietnamese papers), served under
made-up URLs, so the near-duplicate check is turned off (it would rightly merge the copies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: sys.path[0] is bench/
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from aggregator.config import Settings  # noqa: E402
from aggregator.dedup import fingerprint  # noqa: E402
from aggregator.extraction import extract  # noqa: E402
from aggregator.fetch import Fetcher, Page  # noqa: E402
from aggregator.render import render_post  # noqa: E402
from aggregator.sources.feed import parse_feed  # noqa: E402
from aggregator.write import place_posts, stage_post  # noqa: E402
from tests.conftest import article_pages  # noqa: E402
from tests.server import Response, TestServer  # noqa: E402

RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTTP_SAMPLE = 1000
"""Article GETs timed by http_cpu."""


@dataclass
class Child:
    """One CLI run as the OS saw it."""

    wall: float
    cpu: float
    """CPU seconds (user + system) of the CLI's own process."""
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    worker_cpu: float = 0.0
    """CPU seconds of its descendants (the worker processes and their forkserver)."""
    worker_rss_mb: float = 0.0
    """The largest resident size seen of one descendant."""
    system: float = 0.0
    """The part of `cpu` spent in the kernel (system time)."""
    reading: dict[str, float] = field(default_factory=dict)
    """CPU seconds spent reading documents, by what read them (the run report's `reading`)."""

    @property
    def all_cpu(self) -> float:
        return self.cpu + self.worker_cpu


class Descendants:
    """CPU and memory of a process's descendants, polled from /proc while it runs (Linux).

    The CLI's worker processes are children of multiprocessing's forkserver, which the CLI does
    not wait for, so the CLI's own rusage leaves them out. Their counters are read every 0.1 s
    (the process list scanned every 0.5 s for new ones); the last 0.1 s before one exits can
    be missed.
    """

    TICK = os.sysconf("SC_CLK_TCK")
    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, root: int):
        self.root = root
        self.cpu: dict[int, float] = {}
        self.rss: dict[int, int] = {}
        self._known: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """(CPU seconds, largest RSS in MB of one descendant)."""
        self._stop.set()
        self._thread.join()
        return sum(self.cpu.values()), max(self.rss.values(), default=0) / 1024 / 1024

    @staticmethod
    def _stat(pid: int) -> list[bytes] | None:
        try:
            data = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return None
        return data.rsplit(b")", 1)[1].split()

    def _scan(self) -> None:
        parents = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (fields := self._stat(int(entry.name))) is not None:
                parents[int(entry.name)] = int(fields[1])
        family = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in family and pid not in family:
                    family.add(pid)
                    grew = True
        self._known |= family - {self.root}

    def _watch(self) -> None:
        polls = 0
        while not self._stop.wait(0.1):
            if polls % 5 == 0:
                self._scan()
            polls += 1
            for pid in list(self._known):
                fields = self._stat(pid)
                if fields is None:
                    self._known.discard(pid)
                    continue
                # utime and stime are fields 14 and 15 of stat; 2 is the state, rss is 24.
                self.cpu[pid] = max(
                    self.cpu.get(pid, 0.0), (int(fields[11]) + int(fields[12])) / self.TICK
                )
                self.rss[pid] = max(self.rss.get(pid, 0), int(fields[21]) * self.PAGE)


def run_child(args: list[str], cwd: Path) -> Child:
    """Run a command, measuring wall time, CPU (user + system) and peak RSS of that process, and
    the CPU and peak RSS of its descendants."""
    out = cwd / ".bench-stdout"
    err = cwd / ".bench-stderr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with out.open("w") as stdout, err.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, stdout=stdout, stderr=stderr, env=env)
        family = Descendants(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        worker_cpu, worker_rss = family.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Child(
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        process.returncode,
        out.read_text(),
        err.read_text(),
        worker_cpu,
        worker_rss,
        usage.ru_stime,
    )


def host(i: int) -> str:
    return f"s{i:04d}.bench.example"


def feed_xml(i: int, articles: int) -> bytes:
    items = "".join(
        f"<item><title>Tin {i}-{j}: bài viết thử nghiệm số {j}</title>"
        f"<link>https://{host(i)}/bai-viet-{i}-{j}.html</link>"
        f"<guid>https://{host(i)}/bai-viet-{i}-{j}.html</guid>"
        f"<pubDate>Mon, 05 Jan 2026 {j % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
        f"<description>Tóm tắt bài {j} của nguồn {i}.</description></item>"
        for j in range(articles)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Nguồn {i}</title><link>https://{host(i)}/</link>{items}</channel></rss>"
    ).encode()


def serve_site(server: TestServer, sources: int, articles: int, latency: float) -> list[bytes]:
    """Routes for every feed, robots.txt and article; returns the article bodies, in order."""
    pages = list(article_pages().values())
    bodies = []
    for i in range(sources):
        server.routes[f"/{host(i)}/robots.txt"] = Response(b"", 404, delay=latency)
        server.routes[f"/{host(i)}/rss.xml"] = Response(
            feed_xml(i, articles), headers=RSS_TYPE, delay=latency, etag=f'"feed-{i}-v1"'
        )
        for j in range(articles):
            body = pages[(i * articles + j) % len(pages)]
            server.routes[f"/{host(i)}/bai-viet-{i}-{j}.html"] = Response(body, delay=latency)
            # The same page without latency, for timing the HTTP client alone (http_cpu).
            server.routes[f"/fast/{host(i)}/bai-viet-{i}-{j}.html"] = Response(body)
            bodies.append(body)
    return bodies


def http_cpu(server: TestServer, sources: int, articles: int, args: argparse.Namespace) -> float:
    """CPU seconds of one GET through `Fetcher` (the event loop's thread only, not the server's):
    the run's article pages fetched again in-process, without latency, with the run's limits."""
    urls = [
        f"https://{host(i)}/bai-viet-{i}-{j}.html" for i in range(sources) for j in range(articles)
    ][:HTTP_SAMPLE]
    mirrors = {f"https://{host(i)}/": server.url(f"/fast/{host(i)}/") for i in range(sources)}

    async def fetch_all() -> float:
        async with Fetcher(
            user_agent="aggregator-bench/0.1",
            allow_private_networks=True,
            mirrors=mirrors,
            host_delay=0,
            per_host=args.per_host,
            total=args.max_connections,
            robots=False,
        ) as client:
            await asyncio.gather(*(client.get(url) for url in urls[:50]))  # connections open
            started = time.thread_time()
            await asyncio.gather(*(client.get(url, priority=k) for k, url in enumerate(urls)))
            return time.thread_time() - started

    return asyncio.run(fetch_all()) / max(1, len(urls))


def write_config(folder: Path, server: TestServer, sources: int, args: argparse.Namespace) -> None:
    mirrors = "".join(
        f'    "https://{host(i)}/": "{server.url("/" + host(i) + "/")}"\n' for i in range(sources)
    )
    entries = "".join(
        f"  - name: s{i:04d}\n    type: feed\n    url: https://{host(i)}/rss.xml\n"
        for i in range(sources)
    )
    (folder / "sources.yaml").write_text(
        "settings:\n"
        "  allow_private_networks: true\n"
        f"  per_host_connections: {args.per_host}\n"
        f"  max_connections: {args.max_connections}\n"
        f"  host_delay: {args.host_delay}\n"
        f"  workers: {args.workers}\n"
        '  near_duplicate_window: "0s"\n'
        f"  mirrors:\n{mirrors}sources:\n{entries}",
        encoding="utf-8",
    )


def lower_bound(
    sources: int, articles: int, latency: float, per_host: int, total: int, delay: float
) -> float:
    """Seconds no client obeying the limits can beat (start-up excluded).

    Per host: robots.txt, then the feed, then the articles `per_host` at a time and `delay`
    apart; over all hosts: every request through `total` connections.
    """
    step = max(latency, delay)
    first_article = 2 * step
    last_start = max((articles - 1) * delay, ((articles - 1) // per_host) * latency)
    per_host_bound = first_article + (last_start + latency if articles else 0.0)
    requests = sources * (articles + 2)
    global_bound = math.ceil(requests / total) * latency
    return max(per_host_bound, global_bound)


def extraction_cpu(bodies: list[bytes]) -> float:
    """CPU seconds `extract` takes on the run's pages, decoding included: each page once, in the
    run's order, as the other stages are measured."""
    started = time.process_time()
    for body in bodies:
        page = Page("https://x.example/a.html", "https://x.example/a.html", 200, {}, body)
        extract(page.text, page.url)
    return time.process_time() - started


def stages_cpu(sources: int, articles: int, bodies: list[bytes], folder: Path) -> dict[str, float]:
    """CPU seconds of the other stages of run 1, redone in-process on the same feeds and pages:
    parsing the feeds, fingerprinting each article (dedup), rendering each post, and writing the
    post files as the run does (each to a synced temporary file, then renamed in batches of 50
    with one directory sync), in a folder beside the run's, on the same file system."""
    settings = Settings()
    now = datetime.now(UTC)
    started = time.process_time()
    feeds = [
        parse_feed(feed_xml(i, articles), f"https://{host(i)}/rss.xml", f"s{i:04d}")
        for i in range(sources)
    ]
    feeds_cpu = time.process_time() - started
    pages = {}
    for body in bodies:
        if id(body) not in pages:
            pages[id(body)] = extract(body, "https://x.example/a.html")
    fingerprint_cpu = render_cpu = 0.0
    posts = []
    for entry, body in zip((e for feed in feeds for e in feed), bodies, strict=False):
        article = pages[id(body)]
        started = time.process_time()
        fingerprint(article.title or entry.title, article.text)
        fingerprint_cpu += time.process_time() - started
        started = time.process_time()
        post = render_post(
            entry,
            article,
            topic=None,
            categories=[],
            title_template=settings.title,
            tz=settings.tz,
            fallback_date=now,
        )
        render_cpu += time.process_time() - started
        posts.append(post)
    posts_dir = folder / "posts"
    started = time.process_time()
    for first in range(0, len(posts), 50):
        batch = posts[first : first + 50]
        staged = [stage_post(posts_dir, post) for post in batch]
        place_posts(
            posts_dir, [(p.filename, f, None, []) for p, f in zip(batch, staged, strict=True)]
        )
    files_cpu = time.process_time() - started
    return {
        "feeds": feeds_cpu,
        "fingerprints": fingerprint_cpu,
        "rendering": render_cpu,
        "post files (write, fsync, rename)": files_cpu,
    }


def naive_baseline(server: TestServer, sources: int, articles: int) -> float:
    """Wall seconds of a plain loop: one request at a time, feed then each article, extracted."""
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for i in range(sources):
            feed = client.get(server.url(f"/{host(i)}/rss.xml"))
            for entry in parse_feed(feed.content, f"https://{host(i)}/rss.xml", "naive"):
                path = entry.url.split("://", 1)[1]
                page = client.get(server.url("/" + path))
                extract(page.content, entry.url)
    return time.perf_counter() - started


def total_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("total:")]
    return lines[-1] if lines else "(no total line)"


def count(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=100, help="N sources (default 100)")
    parser.add_argument("--articles", type=int, default=20, help="M articles each (default 20)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    defaults = Settings()
    parser.add_argument(
        "--per-host",
        type=int,
        default=defaults.per_host_connections,
        help=f"settings.per_host_connections (default {defaults.per_host_connections})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help=f"settings.max_connections (default {defaults.max_connections};"
        " 0: sources x per-host, so that the hosts set the bound)",
    )
    parser.add_argument(
        "--host-delay",
        type=float,
        default=defaults.host_delay,
        help=f"settings.host_delay (default {defaults.host_delay:g})",
    )
    parser.add_argument(
        "--workers",
        default=defaults.workers,
        help=f"settings.workers (default {defaults.workers}: auto or a number, 0: none)",
    )
    parser.add_argument(
        "--baseline-sources",
        type=int,
        default=2,
        help="sources the naive loop fetches; its time is scaled to all N (0: skip)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="run 1 this many times, each from a new project; the CPU split is of the run that"
        " took least CPU (default 3)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the project folder")
    parser.add_argument("--profile", type=Path, help="run 1 under cProfile, stats to this file")
    parser.add_argument(
        "--wrap",
        default="",
        help="run 1 under this command, e.g. 'py-spy record -o run1.svg --'"
        " or 'strace -c -f -o run1.strace'",
    )
    parser.add_argument(
        "--profile-rerun", type=Path, help="run 2 (all 304) under cProfile, stats to this file"
    )
    args = parser.parse_args(argv)
    if args.max_connections <= 0:
        args.max_connections = max(1, args.sources * args.per_host)
    n, m = args.sources, args.articles

    server = TestServer()
    bodies = serve_site(server, n, m, args.latency)
    server.start()
    # Nothing is deleted until the end: ext4 skips inodes freed in the last minutes when it
    # allocates new ones, so files deleted just before a run make each post's file dearer to
    # create (up to 0.7 ms of CPU instead of 0.02 on this machine).
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    folder = root / "project-1"
    folder.mkdir()
    try:
        write_config(folder, server, n, args)
        command = [sys.executable, "-m", "aggregator"]
        startup = min(
            (run_child([*command, "--version"], folder) for _ in range(3)), key=lambda c: c.wall
        )

        profile = ["-m", "cProfile", "-o", str(args.profile.resolve())] if args.profile else []
        firsts: list[Child] = []
        first_max = 0
        for attempt in range(max(1, args.repeat)):
            if attempt:  # each run 1 starts from a new project: no state, no posts
                folder = root / f"project-{attempt + 1}"
                folder.mkdir()
                write_config(folder, server, n, args)
            before = len(server.requests)
            server.max_in_flight.clear()
            report = folder / ".bench-report.json"
            run = run_child(
                [
                    *shlex.split(args.wrap),
                    sys.executable,
                    *profile,
                    "-m",
                    "aggregator",
                    "fetch",
                    "--report",
                    str(report),
                ],
                folder,
            )
            if report.exists():
                run.reading = {
                    name: float(item["cpu_seconds"])
                    for name, item in json.loads(report.read_text(encoding="utf-8"))[
                        "reading"
                    ].items()
                }
            firsts.append(run)
            first_requests = len(server.requests) - before
            first_max = max(first_max, *server.max_in_flight.values(), 0)
        # CPU time is what the machine's other tenants inflate: the run that took least is the
        # one least disturbed.
        first = min(firsts, key=lambda run: run.all_cpu)
        mark = len(server.requests)
        server.max_in_flight.clear()
        second = run_child([sys.executable, *profile, "-m", "aggregator", "fetch"], folder)
        second_requests = len(server.requests) - mark
        second_robots = sum(path.endswith("/robots.txt") for path, _ in server.requests[mark:])
        second_max = max(server.max_in_flight.values(), default=0)
        written = len(list((folder / "posts").glob("*.md")))

        extraction = extraction_cpu(bodies)
        files = root / "post-files"
        files.mkdir()
        stages = stages_cpu(n, m, bodies, files)
        per_get = http_cpu(server, n, m, args)
        baseline = None
        if args.baseline_sources > 0:
            k = min(args.baseline_sources, n)
            baseline = naive_baseline(server, k, m) * n / k
    finally:
        server.stop()

    bound = lower_bound(n, m, args.latency, args.per_host, args.max_connections, args.host_delay)
    # Run 2: one request per source (robots.txt is kept in the state), C at a time.
    rerun_bound = math.ceil(n / args.max_connections) * args.latency
    articles = max(1, n * m)
    # Pages and feeds as the run read them (in its workers), from its report; the in-process
    # figures of the benchmark stand in for a run that gave none.
    in_run = first.reading.get("read_page")
    extraction_run = extraction if in_run is None else in_run
    feeds_run = sum(seconds for name, seconds in first.reading.items() if name != "read_page")
    if in_run is not None:
        stages["feeds"] = feeds_run
    ours = first.all_cpu - startup.cpu - extraction_run
    http = per_get * first_requests
    others = ours - sum(stages.values()) - http
    print(
        f"# {n} sources x {m} articles, {args.latency * 1000:.0f} ms latency,"
        f" per_host_connections {args.per_host}, max_connections {args.max_connections},"
        f" host_delay {args.host_delay:g} s, workers {args.workers}; {os.cpu_count()} CPUs"
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| start-up (`aggregator --version`, best of 3) | {startup.wall:.2f} s wall |")
    print(f"| run 1: {total_line(first.stdout)} | exit {first.returncode} |")
    walls = ", ".join(f"{run.wall:.2f}" for run in firsts)
    print(f"| run 1 wall | {first.wall:.2f} s{f' (runs: {walls} s)' if len(firsts) > 1 else ''} |")
    print(f"| lower bound (limits + latency) | {bound:.2f} s |")
    print(f"| run 1 wall / bound | {first.wall / bound:.2f} |")
    print(f"| (run 1 wall - start-up) / bound | {(first.wall - startup.wall) / bound:.2f} |")
    print(f"| requests in run 1 | {first_requests} |")
    print(
        f"| most requests at once to one host (server-side) | {first_max}"
        f" (limit {args.per_host}){' **OVER THE LIMIT**' if first_max > args.per_host else ''} |"
    )
    cpus = ", ".join(f"{run.all_cpu / articles * 1000:.2f}" for run in firsts)
    print(
        f"| CPU per article, all processes | {first.all_cpu / articles * 1000:.2f} ms"
        f"{f' (least of runs: {cpus} ms)' if len(firsts) > 1 else ''} |"
    )
    print(
        f"| - in the main process | {first.cpu / articles * 1000:.2f} ms"
        f" ({first.system / articles * 1000:.2f} ms of it system time) |"
    )
    print(
        "| - in the worker processes (feeds parsed, pages extracted) |"
        f" {first.worker_cpu / articles * 1000:.2f} ms |"
    )
    print("| split by stage: | |")
    print(f"| - start-up share | {startup.cpu / articles * 1000:.2f} ms |")
    print(
        "| - extraction (`read_page`: decoding and `extract`, in the run, from its report;"
        f" in-process, each page once: {extraction / articles * 1000:.2f} ms) |"
        f" {extraction_run / articles * 1000:.2f} ms |"
    )
    print(
        f"| - the rest (HTTP, feeds, dedup, render, write, state) | {ours / articles * 1000:.2f} ms"
        " |"
    )
    for stage, seconds in stages.items():
        where = "in the run, from its report" if stage == "feeds" and in_run else "in-process"
        print(f"|   - {stage} ({where}) | {seconds / articles * 1000:.2f} ms |")
    print(
        f"|   - HTTP (`Fetcher.get` alone, in-process: {per_get * 1000:.2f} ms per GET x"
        f" {first_requests} GETs) | {http / articles * 1000:.2f} ms |"
    )
    print(
        "|   - the remainder (event loop, state, worker calls, the pipeline) |"
        f" {others / articles * 1000:.2f} ms |"
    )
    parts = {"extraction": extraction_run, **stages, "HTTP": http, "the remainder": others}
    largest = max(parts, key=lambda stage: parts[stage])
    print(
        "| extraction's share of the CPU per article (start-up excluded);"
        f" the largest stage | {extraction_run / (first.all_cpu - startup.cpu):.0%}; {largest} |"
    )
    print(
        f"| peak RSS, run 1 | {first.max_rss_mb:.0f} MB main process,"
        f" {first.worker_rss_mb:.0f} MB largest worker |"
    )
    print(f"| posts written | {written} |")
    print(f"| run 2 (all 304): {total_line(second.stdout)} | exit {second.returncode} |")
    print(f"| run 2 wall | {second.wall:.2f} s |")
    print(f"| run 2 wall - start-up | {second.wall - startup.wall:.2f} s |")
    print(f"| run 2 lower bound (N feeds through C connections) | {rerun_bound:.2f} s |")
    print(
        f"| requests in run 2 | {second_requests}, {second_robots} of them robots.txt"
        f" (most at once to one host {second_max}) |"
    )
    print(
        f"| peak RSS, run 2 | {second.max_rss_mb:.0f} MB main process,"
        f" {second.worker_rss_mb:.0f} MB largest worker |"
    )
    if baseline is not None:
        print(
            f"| naive sequential loop (measured on {min(args.baseline_sources, n)} sources,"
            f" scaled to {n}) | {baseline:.1f} s ({baseline / first.wall:.0f}x run 1) |"
        )
    if first.returncode or second.returncode:
        print("\nstderr of the runs:\n" + first.stderr[-2000:] + second.stderr[-2000:])
    if args.keep:
        print(f"\nproject folders: {root}")
    else:
        shutil.rmtree(root)
    return 0 if first.returncode == 0 and second.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
