"""Article-extraction benchmark: aggregator against trafilatura, readability, newspaper4k.

Scores body text with the ScrapingHub benchmark metric (``bench/metric.py``) and times every
tool in this one process, sequentially, on HTML decoded to ``str`` beforehand: each page is
run ``--repeat`` times per tool and the best time is kept. Run it from the repository root::

    bench/.venv/bin/python bench/extraction.py [--limit N] [--tools a,b] [--dataset all]

A tool that cannot be imported is reported as unavailable; an exception on a page counts as an
empty output for that page (and in the ``err`` column). The network is blocked in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import inspect
import json
import logging
import os
import re
import socket
import statistics
import sys
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

try:
    from bench.metric import CorpusScore, PageScore, aggregate, score_page
except ModuleNotFoundError:  # run as a script: sys.path[0] is bench/, not the repository
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.metric import CorpusScore, PageScore, aggregate, score_page

REPO = Path(__file__).resolve().parent.parent
SCRAPINGHUB_DIR = REPO.parent / "shared" / "corpus" / "scrapinghub"
VN_DIR = REPO / "tests" / "data" / "articles"
DATASETS = ("scrapinghub", "vn")
BASELINE = "aggregator"
TRUTH_SUFFIX = ".truth.json"
META_FIELDS = ("title", "published", "image")
_SPACES = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Page:
    """One benchmark page: decoded HTML and its truth (metadata only for VN pages)."""

    id: str
    url: str
    html: str
    body: str
    title: str | None = None
    published: datetime | None = None
    image: str | None = None
    has_meta: bool = False


@dataclass(frozen=True, slots=True)
class Dataset:
    """A named list of pages; ``lead_in_truth`` says whether the truth body includes the lead."""

    name: str
    pages: list[Page]
    lead_in_truth: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Output:
    """What a tool returns for a page; ``has_meta`` is False for body-only tools."""

    body: str
    title: str | None = None
    published: datetime | str | None = None
    image: str | None = None
    has_meta: bool = False


Extractor = Callable[[str, str, bool], Output]
"""``(html, url, lead_in_truth) -> Output``."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A loaded extractor; ``scored`` is False for the parse-only floor."""

    name: str
    label: str
    run: Extractor
    scored: bool = True


@dataclass(slots=True)
class PageRun:
    """One tool's result on one page."""

    page_id: str
    seconds: float
    score: PageScore
    error: str | None = None
    meta_ok: dict[str, bool] = field(default_factory=dict)


@dataclass(slots=True)
class ToolResult:
    """One tool's results on one dataset (``unavailable`` set when it could not be loaded)."""

    name: str
    label: str
    scored: bool = True
    runs: list[PageRun] = field(default_factory=list)
    unavailable: str | None = None

    @property
    def corpus(self) -> CorpusScore:
        """Corpus scores over all pages."""
        return aggregate(run.score for run in self.runs)

    @property
    def errors(self) -> int:
        """Pages on which the tool raised."""
        return sum(run.error is not None for run in self.runs)

    @property
    def median_ms(self) -> float | None:
        """Median of the per-page best times, in milliseconds."""
        return statistics.median(r.seconds for r in self.runs) * 1000 if self.runs else None

    @property
    def pages_per_s(self) -> float | None:
        """Pages divided by the sum of per-page best times."""
        total = sum(r.seconds for r in self.runs)
        return len(self.runs) / total if self.runs and total > 0 else None

    def meta_hits(self, name: str) -> int | None:
        """Pages whose metadata field ``name`` matched, or None if the tool gives no metadata."""
        known = [r.meta_ok[name] for r in self.runs if name in r.meta_ok]
        return sum(known) if known else None


# ----------------------------------------------------------------------------- loading


def decode_html(raw: bytes) -> str:
    """Decode page bytes: UTF-8, else the charset a ``<meta>`` names, else UTF-8 with errors."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    match = _META_CHARSET.search(raw[:4096])
    if match:
        try:
            return raw.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return raw.decode("utf-8", errors="replace")


def read_html(path: Path) -> str:
    """Read an ``.html`` or ``.html.gz`` file into a string."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return decode_html(raw)


def parse_datetime(value: object) -> datetime | None:
    """Return ``value`` as a datetime (ISO-8601 strings parsed), or None."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def load_scrapinghub(root: Path, limit: int | None) -> Dataset:
    """Load the ScrapingHub pages (sorted by id) and their body truth."""
    truth_path = root / "ground-truth.json"
    if not truth_path.is_file():
        return Dataset("scrapinghub", [], True, [f"not found: {truth_path}"])
    truth: dict[str, dict[str, str]] = json.loads(truth_path.read_text(encoding="utf-8"))
    pages: list[Page] = []
    notes: list[str] = []
    for page_id in sorted(truth)[:limit]:
        path = root / "html" / f"{page_id}.html.gz"
        if not path.is_file():
            notes.append(f"missing page {path.name}")
            continue
        item = truth[page_id]
        pages.append(Page(page_id, item["url"], read_html(path), item.get("articleBody") or ""))
    return Dataset("scrapinghub", pages, True, notes)


def load_vn(root: Path, limit: int | None) -> Dataset:
    """Load VN pages (``<host>/<page>.html[.gz]`` with ``<page>.truth.json``); skip bad ones."""
    pages: list[Page] = []
    notes: list[str] = []
    for truth_path in sorted(root.glob(f"*/*{TRUTH_SUFFIX}")) if root.is_dir() else []:
        stem = truth_path.name[: -len(TRUTH_SUFFIX)]
        page_id = f"{truth_path.parent.name}/{stem}"
        candidates = [truth_path.with_name(stem + ext) for ext in (".html", ".html.gz")]
        html_path = next((p for p in candidates if p.is_file()), None)
        if html_path is None:
            notes.append(f"skipped {page_id}: no .html/.html.gz page")
            continue
        try:
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            blocks = [str(block) for block in truth.get("blocks") or []]
            page = Page(
                id=page_id,
                url=str(truth.get("url") or ""),
                html=read_html(html_path),
                body="\n\n".join(blocks),
                title=truth.get("title"),
                published=parse_datetime(truth.get("published")),
                image=truth.get("image"),
                has_meta=True,
            )
        except (OSError, ValueError, AttributeError, EOFError) as exc:
            notes.append(f"skipped {page_id}: {type(exc).__name__}: {exc}")
            continue
        pages.append(page)
    if not pages:
        notes.append(f"no pages with truth under {root}")
    return Dataset("vn", pages[:limit], False, notes)


# ----------------------------------------------------------------------------- tools


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


# Provenance prefixes of a summary shown on the page (the others are the meta description,
# which is not part of the visible text the truth labels).
VISIBLE_SUMMARY = ("visible-text", "first-block", "selector")


def load_aggregator() -> Tool:
    """The project's own ``aggregator.extract``."""
    from aggregator import extract

    def run(html: str, url: str, lead_in_truth: bool) -> Output:
        article = extract(html, url)
        text = article.text or ""
        shown = article.provenance.get("summary", "").startswith(VISIBLE_SUMMARY)
        if lead_in_truth and article.summary and shown:
            text = f"{article.summary}\n\n{text}"
        return Output(text, article.title, article.published, article.image, has_meta=True)

    return Tool("aggregator", f"aggregator {_version('aggregator')}", run)


def _load_trafilatura(fast: bool) -> Tool:
    import trafilatura

    version = _version("trafilatura")
    kwargs: dict[str, Any] = {"include_comments": False}
    if fast:
        if "fast" not in inspect.signature(trafilatura.extract).parameters:
            raise RuntimeError(f"trafilatura {version} has no fast=True")
        kwargs["fast"] = True

    def run(html: str, url: str, lead_in_truth: bool) -> Output:
        return Output(trafilatura.extract(html, url=url, **kwargs) or "")

    name = "trafilatura-fast" if fast else "trafilatura"
    return Tool(name, f"trafilatura {version}{' fast=True' if fast else ''}", run)


def load_trafilatura() -> Tool:
    """trafilatura with default settings."""
    return _load_trafilatura(fast=False)


def load_trafilatura_fast() -> Tool:
    """trafilatura with ``fast=True`` (where the installed version has it)."""
    return _load_trafilatura(fast=True)


def load_readability() -> Tool:
    """readability-lxml ``Document(html).summary()``, turned into text by html_text or lxml."""
    from readability import Document  # type: ignore[import-untyped]

    to_text: Callable[[str], str]
    try:
        import html_text

        to_text, how = html_text.extract_text, f"html_text {_version('html-text')}"
    except ImportError:
        import lxml.html  # type: ignore[import-untyped]

        def to_text(fragment: str) -> str:
            return str(lxml.html.fromstring(fragment).text_content())

        how = "lxml text_content"

    def run(html: str, url: str, lead_in_truth: bool) -> Output:
        return Output(to_text(Document(html).summary()))

    return Tool("readability", f"readability-lxml {_version('readability-lxml')} + {how}", run)


def load_newspaper() -> Tool:
    """newspaper4k ``Article(url, fetch_images=False)`` fed the HTML, never the network."""
    # tldextract would otherwise try to download the public suffix list; "" = bundled snapshot.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "nltk is not installed": NLP features are not used
        import newspaper  # type: ignore[import-untyped]

    def run(html: str, url: str, lead_in_truth: bool) -> Output:
        article = newspaper.Article(url, fetch_images=False)
        article.download(input_html=html)
        article.parse()
        return Output(
            article.text or "",
            article.title or None,
            article.publish_date,
            article.top_image or None,
            has_meta=True,
        )

    return Tool("newspaper4k", f"newspaper4k {_version('newspaper4k')}", run)


def load_lexbor_parse() -> Tool:
    """Floor: selectolax Lexbor parse only, no extraction (not scored)."""
    from selectolax.lexbor import LexborHTMLParser

    def run(html: str, url: str, lead_in_truth: bool) -> Output:
        LexborHTMLParser(html)
        return Output("")

    label = f"selectolax {_version('selectolax')} Lexbor parse only"
    return Tool("lexbor-parse", label, run, scored=False)


def load_lexbor_text() -> Tool:
    """Floor: Lexbor parse, drop script/style/noscript, whole body text."""
    from selectolax.lexbor import LexborHTMLParser

    def run(html: str, url: str, lead_in_truth: bool) -> Output:
        tree = LexborHTMLParser(html)
        tree.strip_tags(["script", "style", "noscript"])
        node = tree.body or tree.root
        return Output(node.text(separator="\n") if node is not None else "")

    label = f"selectolax {_version('selectolax')} Lexbor body text"
    return Tool("lexbor-text", label, run)


TOOL_LOADERS: dict[str, Callable[[], Tool]] = {
    "aggregator": load_aggregator,
    "trafilatura": load_trafilatura,
    "trafilatura-fast": load_trafilatura_fast,
    "readability": load_readability,
    "newspaper4k": load_newspaper,
    "lexbor-parse": load_lexbor_parse,
    "lexbor-text": load_lexbor_text,
}


def load_tools(names: Sequence[str]) -> list[Tool | ToolResult]:
    """Load each tool; one that fails to load becomes an ``unavailable`` ToolResult."""
    loaded: list[Tool | ToolResult] = []
    for name in names:
        try:
            loaded.append(TOOL_LOADERS[name]())
        except Exception as exc:  # ImportError and anything a module raises on import
            loaded.append(ToolResult(name, name, unavailable=f"{type(exc).__name__}: {exc}"))
    return loaded


# ----------------------------------------------------------------------------- running


def block_network(attempts: list[str]) -> None:
    """Make every non-Unix socket connect and DNS look-up in this process fail (and log it)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(what: object) -> OSError:
        attempts.append(str(what))
        return OSError(f"network disabled by bench/extraction.py: {what}")

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise refuse(address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family == socket.AF_UNIX:
            return real_connect_ex(self, address)
        raise refuse(address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(str(refuse(host)))

    setattr(socket.socket, "connect", connect)  # noqa: B010
    setattr(socket.socket, "connect_ex", connect_ex)  # noqa: B010
    setattr(socket, "getaddrinfo", getaddrinfo)  # noqa: B010


def normalize_text(value: object) -> str | None:
    """NFC, whitespace collapsed to one space, trimmed; None for empty."""
    if value is None:
        return None
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", str(value))).strip()
    return text or None


def same_minute(truth: datetime | None, found: object) -> bool:
    """True when both are absent, or both are aware and name the same minute."""
    predicted = parse_datetime(found)
    if truth is None or predicted is None:
        return truth is None and predicted is None
    if truth.utcoffset() is None or predicted.utcoffset() is None:
        return False
    a = truth.astimezone(UTC).replace(second=0, microsecond=0)
    b = predicted.astimezone(UTC).replace(second=0, microsecond=0)
    return a == b


def meta_matches(page: Page, out: Output) -> dict[str, bool]:
    """Exact-match flags for title, published and image (empty if either side has none)."""
    if not (page.has_meta and out.has_meta):
        return {}
    return {
        "title": normalize_text(page.title) == normalize_text(out.title),
        "published": same_minute(page.published, out.published),
        "image": (page.image or "").strip() == (str(out.image or "")).strip(),
    }


def run_tool(tool: Tool, dataset: Dataset, repeat: int) -> ToolResult:
    """Run one tool over a dataset: best of ``repeat`` timings per page, output of the last run."""
    result = ToolResult(tool.name, tool.label, tool.scored)
    lead = dataset.lead_in_truth
    if dataset.pages:  # one untimed warm-up call (lazy imports, caches)
        with contextlib.suppress(Exception):  # the timed runs record any error
            tool.run(dataset.pages[0].html, dataset.pages[0].url, lead)
    gc.collect()
    for page in dataset.pages:
        best = float("inf")
        out = Output("")
        error: str | None = None
        for _ in range(repeat):
            error = None
            start = time.perf_counter()
            try:
                out = tool.run(page.html, page.url, lead)
            except Exception as exc:
                out, error = Output(""), f"{type(exc).__name__}: {exc}"[:300]
            best = min(best, time.perf_counter() - start)
        score = score_page(page.body, out.body)
        result.runs.append(PageRun(page.id, best, score, error, meta_matches(page, out)))
    return result


def run_dataset(
    dataset: Dataset, tools: Sequence[Tool | ToolResult], repeat: int, progress: bool
) -> list[ToolResult]:
    """Run every loaded tool on the dataset, in order, one after the other."""
    results: list[ToolResult] = []
    for tool in tools:
        if isinstance(tool, ToolResult):
            results.append(ToolResult(tool.name, tool.label, unavailable=tool.unavailable))
            continue
        start = time.perf_counter()
        results.append(run_tool(tool, dataset, repeat))
        if progress:
            elapsed = time.perf_counter() - start
            print(f"  [{dataset.name}] {tool.name}: {elapsed:.1f}s", file=sys.stderr, flush=True)
    return results


# ----------------------------------------------------------------------------- report


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned.

    A row shorter than the headers (e.g. an unavailable tool) is printed as is, unaligned.
    """
    full = [r for r in rows if len(r) == len(headers)]
    widths = [max(len(r[i]) for r in [headers, *full]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        if len(cells) != len(headers):
            return "  ".join([cells[0].ljust(widths[0]), *cells[1:]])
        parts = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def table_rows(
    dataset: Dataset, results: Sequence[ToolResult], baseline: str
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of one dataset's table."""
    short = "agg" if baseline == "aggregator" else baseline
    headers = ["tool", "F1", "precision", "recall", "accuracy", "ms/page", "pages/s"]
    headers += [f"{short}/tool speed", f"F1 {short}−tool", "errors"]
    if dataset.name == "vn":
        headers += list(META_FIELDS)
    base = next((r for r in results if r.name == baseline and r.unavailable is None), None)
    base_speed = base.pages_per_s if base else None
    base_f1 = base.corpus.f1 if base and base.scored else None
    rows: list[list[str]] = []
    for res in results:
        if res.unavailable is not None:
            rows.append([res.name, f"unavailable: {res.unavailable}"[:160]])
            continue
        corpus = res.corpus
        f1 = corpus.f1 if res.scored else None
        speed = res.pages_per_s
        ratio = base_speed / speed if base_speed and speed else None
        delta = base_f1 - f1 if base_f1 is not None and f1 is not None else None
        row = [
            res.name,
            _fmt(f1),
            _fmt(corpus.precision if res.scored else None),
            _fmt(corpus.recall if res.scored else None),
            _fmt(corpus.accuracy if res.scored else None),
            _fmt(res.median_ms, ".2f"),
            _fmt(speed, ".1f"),
            _fmt(ratio, ".2f"),
            _signed(delta),
            str(res.errors),
        ]
        if dataset.name == "vn":
            for name in META_FIELDS:
                hits = res.meta_hits(name)
                row.append("n/a" if hits is None else f"{hits}/{len(res.runs)}")
        rows.append(row)
    return headers, rows


def footnotes(dataset: Dataset, results: Sequence[ToolResult], baseline: str) -> Iterator[str]:
    """Lines printed under a dataset's table."""
    if any(r.name == "aggregator" for r in results):
        if dataset.lead_in_truth:
            yield (
                "aggregator is scored on summary + '\\n\\n' + text when the summary is shown on "
                "the page (the truth body includes the lead; a meta-description summary is not "
                "visible text), else on text; other tools on their main text output."
            )
        else:
            yield (
                "aggregator is scored on .text only (truth = '\\n\\n'.join(blocks), no lead); "
                "other tools on their main text, which usually includes the lead."
            )
    if dataset.name == "vn":
        yield (
            "title: NFC + whitespace-collapsed equality; published: aware datetimes equal to the "
            "minute (naive = miss, both absent = hit); image: exact URL; n/a = tool gives none."
        )
    yield (
        "F1/precision/recall/accuracy: ScrapingHub shingle metric (bench/metric.py); "
        f"speed = {baseline} pages/s ÷ tool pages/s (>1: {baseline} faster); "
        f"F1 delta = {baseline} F1 − tool F1 (>0: {baseline} better)."
    )
    yield "ms/page = median of per-page best-of-repeat times; pages/s = pages ÷ sum of those."
    for res in results:
        if res.unavailable is not None:
            continue
        yield f"{res.name}: {res.label}"
        first_error = next((r for r in res.runs if r.error), None)
        if first_error:
            yield f"  first error on {first_error.page_id}: {first_error.error}"
    yield from dataset.notes


def worst_pages(result: ToolResult, dataset: Dataset, count: int) -> list[str]:
    """The ``count`` lowest per-page F1 pages of a tool, as printable lines (with the URL)."""
    urls = {page.id: page.url for page in dataset.pages}
    runs = [r for r in result.runs if r.score.has_truth or r.score.has_prediction]
    runs.sort(key=lambda r: (r.score.f1, r.page_id))
    width = max([4, *(len(r.page_id) for r in runs[:count])])
    lines = [f"{'page':<{width}}     F1      P      R  url"]
    for run in runs[:count]:
        s = run.score
        note = "  (empty output)" if not s.has_prediction else ""
        note += f"  ERROR {run.error}" if run.error else ""
        cells = f"{s.f1:6.3f} {s.precision:6.3f} {s.recall:6.3f}"
        lines.append(f"{run.page_id:<{width}} {cells}  {urls.get(run.page_id, '')}{note}")
    return lines


def to_json(dataset: Dataset, results: Sequence[ToolResult], baseline: str) -> dict[str, Any]:
    """Per-page and summary scores of one dataset, JSON-ready."""
    out: dict[str, Any] = {"pages": len(dataset.pages), "notes": dataset.notes, "tools": {}}
    for res in results:
        entry: dict[str, Any] = {"label": res.label, "unavailable": res.unavailable}
        if res.unavailable is None:
            entry["summary"] = {
                **asdict(res.corpus),
                "scored": res.scored,
                "errors": res.errors,
                "median_ms": res.median_ms,
                "pages_per_s": res.pages_per_s,
                **{f"{name}_hits": res.meta_hits(name) for name in META_FIELDS},
            }
            entry["pages"] = {
                run.page_id: {
                    "f1": run.score.f1,
                    "precision": run.score.precision,
                    "recall": run.score.recall,
                    "tp": run.score.tp,
                    "fp": run.score.fp,
                    "fn": run.score.fn,
                    "exact": run.score.exact,
                    "has_prediction": run.score.has_prediction,
                    "ms": run.seconds * 1000,
                    "error": run.error,
                    **run.meta_ok,
                }
                for run in res.runs
            }
        out["tools"][res.name] = entry
    out["baseline"] = baseline
    return out


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=None, help="first N pages of each dataset")
    parser.add_argument(
        "--tools",
        default=",".join(TOOL_LOADERS),
        help=f"comma-separated subset of: {', '.join(TOOL_LOADERS)}",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per page per tool (best kept)")
    parser.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    parser.add_argument("--json", type=Path, default=None, help="also write per-page scores here")
    parser.add_argument("--worst", type=int, default=0, help="print the N lowest-F1 pages")
    parser.add_argument("--baseline", default=BASELINE, help="tool for ratios and --worst")
    parser.add_argument("--scrapinghub-dir", type=Path, default=SCRAPINGHUB_DIR)
    parser.add_argument("--vn-dir", type=Path, default=VN_DIR)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.tools.split(",") if n.strip()]
    unknown = [n for n in names if n not in TOOL_LOADERS]
    if unknown or not names:
        parser.error(f"unknown tools {unknown}; choose from {', '.join(TOOL_LOADERS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.tool_names = names
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Load datasets and tools, run everything, print the tables."""
    args = parse_args(argv)
    attempts: list[str] = []
    block_network(attempts)
    logging.disable(logging.CRITICAL)  # tools log parse warnings per page
    warnings.simplefilter("ignore")
    tools = load_tools(args.tool_names)
    wanted = DATASETS if args.dataset == "all" else (args.dataset,)
    loaders = {
        "scrapinghub": (load_scrapinghub, args.scrapinghub_dir),
        "vn": (load_vn, args.vn_dir),
    }
    dump: dict[str, Any] = {"repeat": args.repeat, "python": sys.version.split()[0], "datasets": {}}
    for name in wanted:
        loader, root = loaders[name]
        dataset = loader(root, args.limit)
        print(f"\n== {name}: {len(dataset.pages)} pages, best of {args.repeat} ==")
        if not dataset.pages:
            for note in dataset.notes:
                print(f"  {note}")
            continue
        results = run_dataset(dataset, tools, args.repeat, progress=not args.quiet)
        headers, rows = table_rows(dataset, results, args.baseline)
        print(render_table(headers, rows))
        for note in footnotes(dataset, results, args.baseline):
            print(f"  * {note}")
        base = next((r for r in results if r.name == args.baseline and r.runs), None)
        if args.worst and base is not None:
            print(f"\n{args.worst} lowest-F1 pages for {args.baseline} ({name}):")
            print("\n".join(worst_pages(base, dataset, args.worst)))
        dump["datasets"][name] = to_json(dataset, results, args.baseline)
    print(f"\nnetwork attempts blocked: {len(attempts)}" + (f" {attempts[:5]}" if attempts else ""))
    dump["network_attempts_blocked"] = attempts
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"per-page scores written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
