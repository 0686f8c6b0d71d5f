"""Operator experience through the real CLI: progress, quiet/verbose, run reports, JSON logs,
`aggregator sources` and `aggregator check`."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import (
    ALERTS_SOURCE,
    DATA,
    DOCUMENTED_URL,
    ROOT,
    RSS_SOURCE,
    RSS_URL,
    Project,
    mirror_path,
    wait_until,
)
from tests.server import Response


def run_on_terminal(project: Project, *args: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdout and stderr; (exit code, all it drew)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", *args],
        cwd=project.path,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not data:
            break
        chunks.append(data)
    code = process.wait(timeout=60)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_progress_is_drawn_on_a_terminal(project: Project) -> None:
    code, drawn = run_on_terminal(project, "fetch")
    assert code == 0, drawn
    assert "all sources" in drawn  # the overall progress bar
    assert "cong-dich-vu-cong" in drawn
    assert "\x1b[" in drawn  # cursor movement and colour: a live display
    # The summary is a table on a terminal.
    assert "duplicate" in drawn and "filtered" in drawn
    assert "total: 4 new, 1 skipped, 0 failed entries, 0 of 2 sources failed" in drawn


def test_no_progress_without_a_terminal(project: Project) -> None:
    result = project.cli("fetch")
    assert result.returncode == 0
    assert result.stderr == ""
    assert "all sources" not in result.stdout
    assert "\x1b[" not in result.stdout
    assert result.stdout.splitlines()[-1].startswith("total: 4 new")


def test_quiet_prints_nothing_when_all_is_well(project: Project) -> None:
    result = project.cli("fetch", "-q")
    assert result.returncode == 0
    assert (result.stdout, result.stderr) == ("", "")
    assert len(list(project.posts.iterdir())) == 4


def test_quiet_prints_only_the_failures(project: Project) -> None:
    project.server.routes[mirror_path(RSS_URL)] = Response(b"", 503)
    result = project.cli("fetch", "-q")
    assert result.returncode == 1
    assert result.stdout == f"vtc-tin-moi: failed: {RSS_URL}: HTTP 503\n"


def test_verbose_prints_a_line_per_entry(project: Project) -> None:
    result = project.cli("fetch", "-v")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    written = [line for line in lines if ": new: " in line]
    assert len(written) == 4
    assert any(line.startswith(f"cong-dich-vu-cong: new: {DOCUMENTED_URL} (") for line in lines)
    assert sum(": duplicate: " in line for line in lines) == 1
    rerun = project.cli("fetch", "-v").stdout.splitlines()
    assert sum(": skipped: " in line for line in rerun) == 5


def test_report_file_has_the_documented_schema(project: Project) -> None:
    project.server.routes[mirror_path(DOCUMENTED_URL)] = Response(b"busy", 503)
    result = project.cli("fetch", "--report", "out/report.json")
    assert result.returncode == 1
    report = json.loads((project.path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["version"] == 1
    assert report["command"] == "fetch"
    assert report["exit_code"] == 1
    assert report["dry_run"] is False
    assert report["totals"] == {
        "new": 3,
        "skipped": 1,
        "duplicates": 1,
        "filtered": 0,
        "failed": 1,
        "sources": 2,
        "sources_failed": 0,
    }
    alerts, rss = report["sources"]
    assert alerts["source"] == "cong-dich-vu-cong"
    assert (alerts["ok"], alerts["entries"], alerts["new"], alerts["failed"]) == (False, 2, 1, 1)
    assert alerts["problems"] == [f"{DOCUMENTED_URL}: HTTP 503; will retry next run"]
    assert len(alerts["written"]) == 1 and alerts["written"][0].endswith(".md")
    assert rss["ok"] is True and rss["duplicates"] == 1
    assert rss["seconds"] >= 0
    # CPU spent reading documents, by what read them: the two feeds, the three pages fetched
    # (the fourth answered 503; the duplicate's was not fetched).
    reading = report["reading"]
    assert {name: item["calls"] for name, item in reading.items()} == {
        "parse_google_alerts": 1,
        "parse_feed": 1,
        "read_page": 3,
    }
    assert reading["read_page"]["cpu_seconds"] > 0
    assert not list((project.path / "out").glob(".tmp-*"))


def test_json_logs_are_one_object_per_line(project: Project) -> None:
    project.server.routes[mirror_path(RSS_URL)] = Response(b"", 503)
    result = project.cli("fetch", "--log-format", "json")
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events, result.stderr
    assert all({"time", "level", "event", "source"} <= set(e) for e in events)
    failed = [e for e in events if e["event"] == "source_failed"]
    assert failed == [
        {
            "time": failed[0]["time"],
            "level": "error",
            "event": "source_failed",
            "source": "vtc-tin-moi",
            "url": RSS_URL,
            "error": f"{RSS_URL}: HTTP 503",
        }
    ]
    new = [e for e in events if e["event"] == "entry_new"]
    assert {e["url"] for e in new} >= {DOCUMENTED_URL}
    assert all(e["detail"].endswith(".md") for e in new)


def test_sources_lists_health_from_the_state(project: Project) -> None:
    before = project.cli("sources", "--json")
    assert before.returncode == 0, before.stderr
    rows = json.loads(before.stdout)
    assert [r["name"] for r in rows] == ["cong-dich-vu-cong", "vtc-tin-moi"]
    assert rows[0]["last_run"] is None and rows[0]["entries_seen"] == 0
    assert not (project.path / ".aggregator").exists()  # listing creates no state file

    project.server.routes[mirror_path(RSS_URL)] = Response(b"", 503)
    project.cli("fetch")
    rows = json.loads(project.cli("sources", "--json").stdout)
    alerts, rss = rows
    assert alerts["last_success"] is not None and alerts["failures"] == 0
    assert alerts["entries_seen"] == 2
    assert alerts["schedule"] == "every 1h"
    assert rss["failures"] == 1 and rss["last_error"] == f"{RSS_URL}: HTTP 503"
    assert rss["last_success"] is None
    assert rss["next_poll"] is not None

    table = project.cli("sources")
    assert table.returncode == 0
    assert "cong-dich-vu-cong" in table.stdout and "HTTP 503" in table.stdout


def test_check_shows_entries_and_the_extracted_record_and_writes_nothing(
    project: Project,
) -> None:
    result = project.cli("check", "cong-dich-vu-cong")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("cong-dich-vu-cong: ok (google_alerts, 2 entries,")
    # The feed lists newest first: the first entry's article is the one read.
    assert "  article: https://baocantho.com.vn/" in out
    assert "  - 2025-02-04T15:12+07:00  Quyền Chủ tịch UBND tỉnh Hà Sỹ Đồng" in out, out
    assert f"    {DOCUMENTED_URL}" in out
    assert "    date      2026-01-08T18:21:00+07:00  [visible-text]" in out
    assert "    body      " in out and "blocks" in out
    assert "[generic]" in out  # where the body came from
    assert out.splitlines()[-1] == "checked 1 sources: all ok"
    assert not project.posts.exists()
    assert not (project.path / ".aggregator").exists()


def test_check_flags_a_selector_that_matches_nothing(project: Project) -> None:
    project.write_config(
        ALERTS_SOURCE + "    article:\n      date: .no-such-date\n" + RSS_SOURCE,
    )
    result = project.cli("check", "--json")
    assert result.returncode == 1
    alerts, rss = json.loads(result.stdout)
    assert alerts["ok"] is False
    assert any(
        "selector article.date '.no-such-date' matched nothing" in p
        and "`article.date` of source 'cong-dich-vu-cong'" in p
        for p in alerts["problems"]
    )
    assert alerts["article"]["provenance"]["title"]
    assert rss["ok"] is True and rss["entries"] == 3


def test_check_reports_a_broken_source_and_exits_non_zero(project: Project) -> None:
    project.server.routes[mirror_path(RSS_URL)] = Response(b"<html>not a feed</html>")
    result = project.cli("check")
    assert result.returncode == 1
    assert f"vtc-tin-moi: BROKEN: {RSS_URL}: " in result.stdout
    assert (
        "a web page, not a feed: fix `url` of source 'vtc-tin-moi' in sources.yaml,"
        " or read the page as `type: listing`"
    ) in result.stdout
    assert result.stdout.splitlines()[-1] == "checked 2 sources: 1 broken (vtc-tin-moi)"


def test_a_gone_feed_says_which_key_to_fix(project: Project) -> None:
    project.server.routes[mirror_path(RSS_URL)] = Response(b"", 404)
    result = project.cli("fetch", "-q")
    assert result.returncode == 1
    assert result.stdout == (
        f"vtc-tin-moi: failed: {RSS_URL}: HTTP 404; the address is gone:"
        " fix `url` of source 'vtc-tin-moi' in sources.yaml\n"
    )


def test_unknown_source_name_says_which_exist(project: Project, tmp_path: Path) -> None:
    result = project.cli("check", "nope")
    assert result.returncode == 2
    assert "no source named 'nope'" in result.stderr
    assert "cong-dich-vu-cong" in result.stderr


def test_daemon_logs_json_events(project: Project) -> None:
    project.write_config(RSS_SOURCE, settings="  every: 2s\n  jitter: 0s\n")
    process = project.start("run", "--log-format", "json")
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        lines.extend(line.rstrip("\n") for line in process.stderr)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: sum('"event": "run"' in line for line in lines) >= 1, "a logged daemon run"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
        reader.join(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    assert code == 0, lines
    events = [json.loads(line) for line in lines]
    runs = [e for e in events if e["event"] == "run"]
    assert runs[0]["source"] == "vtc-tin-moi" and runs[0]["message"].startswith("3 new, 0 skipped")
    new = [e for e in events if e["event"] == "entry_new"]
    assert len(new) == 3 and all(e["source"] == "vtc-tin-moi" and e["url"] for e in new)


def test_commands_without_sources_say_what_to_add(project: Project) -> None:
    project.write_config("  []\n")
    for command in ("fetch", "check", "run"):
        result = project.cli(command)
        assert result.returncode == 2, (command, result.stderr)
        assert "no sources configured; add one under `sources:`" in result.stderr


def test_check_never_fetches_google_news_pages(project: Project) -> None:
    search = "https://news.google.com/rss/search?q=TCS&hl=en-IN&gl=IN&ceid=IN:en"
    feed = DATA / "feeds" / "google-news-search-tcs-en-IN.xml"  # real; links are opaque ids
    project.server.routes["/news.google.com/rss/search?q=TCS&hl=en-IN&gl=IN&ceid=IN:en"] = Response(
        feed.read_bytes(), headers={"Content-Type": "application/rss+xml"}
    )
    config = project.write_config(f"  - name: tcs\n    type: google_news\n    url: {search}\n")
    mirror = f'    "https://news.google.com/": "{project.server.url("/news.google.com/")}"\n'
    text = config.read_text(encoding="utf-8").replace("  mirrors:\n", "  mirrors:\n" + mirror)
    config.write_text(text, encoding="utf-8")
    result = project.cli("check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (found,) = json.loads(result.stdout)
    assert found["entries"] > 50 and found["article"] is None
    assert found["warnings"] == [
        f"{search}: no entry links to a page that can be fetched;"
        " posts are made from the feed alone"
    ]
    assert [path for path, _ in project.server.requests if "/rss/articles/" in path] == []
