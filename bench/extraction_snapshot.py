"""Extraction snapshot: every Article field of `aggregator.extract` over the saved pages -> JSON.

Takes a snapshot of what the extractor outputs (the repr of every field, provenance included)
on the ScrapingHub corpus, those pages cut short, the saved Vietnamese pages (with and without
per-site rules), the ScrapingHub copies in tests, the hand-made pages and the saved listings,
so that a change meant to be output-neutral (a speed-up) can be checked to be exactly that::

    .venv/bin/python bench/extraction_snapshot.py --out /tmp/before.json
    ... change the extractor ...
    .venv/bin/python bench/extraction_snapshot.py --out /tmp/after.json --compare /tmp/before.json

`--compare` prints the pages whose output changed (field by field) and exits 1 if any did.
`now` is fixed, so dates do not depend on the day of the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

try:
    from bench.extraction import read_html
except ModuleNotFoundError:  # run as a script: sys.path[0] is bench/, not the repository
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.extraction import read_html

from aggregator import extract
from aggregator.config import ArticleRules
from aggregator.models import Article

REPO = Path(__file__).resolve().parent.parent
SCRAPINGHUB_DIR = REPO.parent / "shared" / "corpus" / "scrapinghub"
DATA = REPO / "tests" / "data"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
# Cut points (shares of the page's length) for the truncated copies of the corpus pages: odd
# unclosed structure, and pages whose article is missing its end or all of it.
CUTS = (0.25, 0.5, 0.75)
# The per-site rules the project uses (sources.yaml) and those of tests/test_extraction.py,
# applied to every Vietnamese page: the selector paths of extract.
RULE_SETS = {
    "vnexpress": ArticleRules(
        lead="p.description",
        body="article.fck_detail",
        remove=[".box-tinlienquanv2", "#box_comment_vne"],
    ),
    "every-field": ArticleRules(
        title="h1, h2.kicker",
        lead="p.intro, .sapo",
        body="div.story p, article p",
        date=".when, .date",
        image="img.main::attr(data-src), article img::attr(src)",
        author=".who::text, .author::text",
        remove=[".ad", "script", ".related"],
    ),
}


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def cases() -> Iterator[tuple[str, str | bytes, str, ArticleRules | None]]:
    """(case id, page, url, rules) for every snapshot case, in a fixed order."""
    truth_path = SCRAPINGHUB_DIR / "ground-truth.json"
    truth: dict[str, dict[str, str]] = json.loads(truth_path.read_text(encoding="utf-8"))
    for page_id in sorted(truth):
        path = SCRAPINGHUB_DIR / "html" / f"{page_id}.html.gz"
        if not path.is_file():
            continue
        html, url = read_html(path), truth[page_id]["url"]
        yield f"scrapinghub/{page_id}", html, url, None  # as bench/extraction.py runs it
        for cut in CUTS:
            yield f"scrapinghub/{page_id}@{cut}", html[: int(len(html) * cut)], url, None
    for path in sorted((DATA / "articles").glob("*/*.html*")):
        page_id = f"articles/{path.parent.name}/{path.name}"
        url = f"https://{path.parent.name}/{path.name}"
        truth_file = path.with_name(path.name.split(".html")[0] + ".truth.json")
        if truth_file.is_file():
            url = json.loads(truth_file.read_text(encoding="utf-8")).get("url") or url
        data = _read_bytes(path)
        yield page_id, data, url, None
        for name, rules in RULE_SETS.items():
            yield f"{page_id}+{name}", data, url, rules
    for path in sorted((DATA / "scrapinghub").glob("*.html.gz")):
        yield f"tests-scrapinghub/{path.name}", _read_bytes(path), "https://example.com/a", None
    for path in [
        *sorted((DATA / "handmade").glob("*.html")),
        *sorted((DATA / "listings").glob("*/*.html*")),
    ]:
        page_id = f"{path.parent.name}/{path.name}"
        data = _read_bytes(path)
        yield page_id, data, f"https://baoquangtri.vn/{path.name}", None
        yield (
            f"{page_id}+every-field",
            data,
            f"https://baoquangtri.vn/{path.name}",
            (RULE_SETS["every-field"]),
        )


def fields(article: Article) -> dict[str, str]:
    """The repr of every field of an Article (provenance as a plain, ordered dict)."""
    out: dict[str, str] = {}
    for item in dataclasses.fields(article):
        value = getattr(article, item.name)
        if item.name == "provenance":
            value = dict(value)
        out[item.name] = repr(value)
    return out


def snapshot() -> dict[str, dict[str, str]]:
    """Case id -> field -> repr, for every case (an exception is recorded as the output)."""
    result: dict[str, dict[str, str]] = {}
    for case_id, page, url, rules in cases():
        try:
            result[case_id] = fields(extract(page, url, rules, now=NOW))
        except Exception as exc:  # recorded: an exception that changes is a change too
            result[case_id] = {"exception": f"{type(exc).__name__}: {exc}"}
    return result


def compare(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[str]:
    """Lines describing each case whose output differs (missing and added cases included)."""
    lines: list[str] = []
    for case_id in sorted(old.keys() | new.keys()):
        before, after = old.get(case_id), new.get(case_id)
        if before == after:
            continue
        if before is None or after is None:
            lines.append(f"{case_id}: {'added' if before is None else 'missing'}")
            continue
        lines.append(f"{case_id}:")
        for name in sorted(before.keys() | after.keys()):
            if before.get(name) != after.get(name):
                lines.append(f"  {name}: {before.get(name)!s:.300}")
                lines.append(f"  {'':{len(name)}}->{after.get(name)!s:.300}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Write the snapshot; with --compare, report the differences (exit 1 when any)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the snapshot here (JSON)")
    parser.add_argument("--compare", type=Path, metavar="OLD.json", help="snapshot to compare to")
    args = parser.parse_args(argv)
    new = snapshot()
    if args.out:
        args.out.write_text(json.dumps(new, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(new)} cases", file=sys.stderr)
    if args.compare:
        old = json.loads(args.compare.read_text(encoding="utf-8"))
        lines = compare(old, new)
        for line in lines:
            print(line)
        changed = sum(not line.startswith(" ") for line in lines)
        print(f"{changed} of {len(old.keys() | new.keys())} cases changed", file=sys.stderr)
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
