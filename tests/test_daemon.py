"""`aggregator run`: the scheduler daemon, run for real against the local server."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aggregator.config import Settings, parse_config, parse_duration
from aggregator.errors import ConfigError
from aggregator.schedule import plan_source
from tests.conftest import (
    ALERTS_SOURCE,
    DOCUMENTED_URL,
    RSS_SOURCE,
    RSS_URL,
    Project,
    mirror_path,
    wait_until,
)
from tests.server import Gate

FAST = "  every: 2s\n  jitter: 0s\n"
RUN_LINE = re.compile(r"run source=(\S+): (\d+) new, (\d+) skipped, (\d+) failed in ")


class Daemon:
    """A running `aggregator run` whose log lines are collected as they come."""

    def __init__(self, project: Project, *args: str, process: subprocess.Popen[str] | None = None):
        self.process = process or project.start("run", *args)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def runs(self, source: str) -> list[tuple[int, int, int]]:
        """(new, skipped, failed) of each finished run of a source, in order."""
        found = [RUN_LINE.search(line) for line in self.lines]
        return [
            (int(m[2]), int(m[3]), int(m[4])) for m in found if m is not None and m[1] == source
        ]

    def stop(self, signum: int | None = signal.SIGTERM) -> int:
        """Send `signum` (None: none, one was sent already) and wait for the exit code."""
        if signum is not None and self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self._reader.join(timeout=30)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return self.process.returncode


def ran_twice(daemon: Daemon, source: str) -> bool:
    return len(daemon.runs(source)) >= 2


@pytest.fixture
def fast(project: Project) -> Project:
    project.write_config(ALERTS_SOURCE + RSS_SOURCE, settings=FAST)
    return project


def test_two_scheduled_runs_then_sigterm(fast: Project) -> None:
    daemon = Daemon(fast)
    try:
        for name in ("cong-dich-vu-cong", "vtc-tin-moi"):
            wait_until(partial(ran_twice, daemon, name), f"two runs of {name}")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()
    log = daemon.log()
    assert "received SIGTERM" in log and "daemon stopped" in log
    assert "scheduled source=vtc-tin-moi: every 2s" in log
    alerts, rss = daemon.runs("cong-dich-vu-cong"), daemon.runs("vtc-tin-moi")
    # The first runs wrote the four articles between them (which source gets the article both
    # announce depends on which ran first); later runs found nothing new and nothing failed.
    assert alerts[0][0] + rss[0][0] == 4
    assert all(new == 0 for new, _, _ in alerts[1:] + rss[1:])
    assert all(failed == 0 for _, _, failed in alerts + rss)
    names = sorted(p.name for p in fast.posts.iterdir())
    assert len(names) == 4, names
    assert not [n for n in names if n.startswith(".")]
    # Every line about a run names its source and when it runs next.
    assert all("next run" in line for line in daemon.lines if "run source=" in line)


def test_sigterm_lets_the_run_in_progress_finish(fast: Project) -> None:
    fast.write_config(ALERTS_SOURCE, settings=FAST)
    page = mirror_path(DOCUMENTED_URL)
    route = fast.server.routes[page]
    assert not callable(route)
    gate = Gate(route)
    fast.server.routes[page] = gate
    daemon = Daemon(fast)
    try:
        wait_until(gate.entered.is_set, "the daemon to request the article page")
        daemon.process.send_signal(signal.SIGTERM)
        wait_until(lambda: "received SIGTERM" in daemon.log(), "the daemon to take the signal")
        assert daemon.process.poll() is None
    finally:
        gate.open()
        code = daemon.stop(None)
    assert code == 0, daemon.log()
    # The run in progress finished: both posts written, nothing half-written, no later run.
    assert daemon.runs("cong-dich-vu-cong") == [(2, 0, 0)], daemon.log()
    names = [p.name for p in fast.posts.iterdir()]
    assert len(names) == 2 and any("191475" in n or "quyen-chu-tich" in n for n in names)
    assert not [n for n in names if n.startswith(".")]
    # Everything was recorded: a fetch now finds nothing new.
    again = fast.cli("fetch", "--source", "cong-dich-vu-cong")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].startswith("total: 0 new")


def test_fetch_during_a_daemon_run_exits_3(fast: Project) -> None:
    fast.write_config(RSS_SOURCE, settings=FAST)
    path = mirror_path(RSS_URL)
    route = fast.server.routes[path]
    assert not callable(route)
    gate = Gate(route)
    fast.server.routes[path] = gate
    daemon = Daemon(fast)
    try:
        wait_until(gate.entered.is_set, "the daemon to request the feed")
        fetch = fast.cli("fetch")
        assert fetch.returncode == 3, fetch.stdout + fetch.stderr
        assert f"pid {daemon.process.pid}" in fetch.stderr
    finally:
        gate.open()
        wait_until(lambda: len(daemon.runs("vtc-tin-moi")) >= 1, "the daemon's run to finish")
        code = daemon.stop()
    assert code == 0, daemon.log()
    assert daemon.runs("vtc-tin-moi")[0] == (3, 0, 0)


def test_failed_source_is_logged_and_the_daemon_goes_on(fast: Project) -> None:
    fast.server.routes.pop(mirror_path(RSS_URL))
    daemon = Daemon(fast)
    try:
        wait_until(
            lambda: len(daemon.runs("cong-dich-vu-cong")) >= 2, "two runs of the good source"
        )
    finally:
        code = daemon.stop(signal.SIGINT)
    assert code == 0, daemon.log()
    failed = [line for line in daemon.lines if "run source=vtc-tin-moi: failed" in line]
    assert failed, daemon.log()
    assert "HTTP 404" in failed[0] and "tin-moi.rss" in failed[0]
    assert "WARNING" in failed[0]
    assert "received SIGINT" in daemon.log()
    assert daemon.runs("cong-dich-vu-cong")[:2] == [(2, 0, 0), (0, 2, 0)]


def test_run_rejects_an_unknown_source_and_bad_schedules(project: Project) -> None:
    result = project.cli("run", "--source", "nope")
    assert result.returncode == 2
    assert "no source named 'nope'" in result.stderr
    project.write_config(RSS_SOURCE + "    every: 10 minutes\n")
    result = project.cli("run")
    assert result.returncode == 2
    assert "source 'vtc-tin-moi': key 'every'" in result.stderr


def _config(source_extra: str = "", settings: str = "") -> str:
    return (
        f"settings:\n  timezone: Asia/Ho_Chi_Minh\n{settings}"
        f"sources:\n  - name: a\n    type: feed\n    url: https://example.org/rss\n{source_extra}"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    every: 0s\n", "shorter than the minimum of 1s"),
        ("    every: 15 m\n", "not a duration"),
        ('    cron: "* * *"\n', "not a crontab expression"),
        ('    cron: "61 * * * *"\n', "not a crontab expression"),
        ('    every: 1h\n    cron: "0 * * * *"\n', "either 'every' or 'cron'"),
    ],
)
def test_schedule_keys_are_validated(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(_config(extra), Path("sources.yaml"))
    assert caught.value.source == "a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("0s", timedelta(0)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_interval_plan_starts_now_with_capped_jitter() -> None:
    config = parse_config(_config("    every: 2m\n", "  jitter: 5m\n"), Path("s.yaml"))
    now = datetime(2026, 1, 1, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    plan = plan_source(config, config.sources[0], now)
    assert plan.first_run is not None
    # Jitter is capped at half the interval: the first run comes within a minute.
    assert now <= plan.first_run <= now + timedelta(minutes=1)
    assert plan.trigger.jitter == 60
    assert plan.misfire_grace == timedelta(minutes=2)
    default = parse_config(_config(), Path("s.yaml"))
    assert plan_source(default, default.sources[0], now).misfire_grace == parse_duration(
        Settings().every
    )


def test_cron_plan_waits_for_its_time_in_the_configured_zone() -> None:
    config = parse_config(
        _config('    cron: "*/15 6-18 * * mon-fri"\n', "  jitter: 0s\n"), Path("s")
    )
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    plan = plan_source(config, config.sources[0], datetime(2026, 1, 2, 5, 0, tzinfo=zone))
    assert plan.first_run is None
    # Friday 2 Jan 2026 18:50 local: the next time is Monday 06:00 local.
    friday = datetime(2026, 1, 2, 18, 50, tzinfo=zone)
    fire = plan.trigger.get_next_fire_time(None, friday)
    assert fire == datetime(2026, 1, 5, 6, 0, tzinfo=zone)
    assert fire.utcoffset() == timedelta(hours=7)


def test_cron_plan_caps_jitter_at_half_the_gap() -> None:
    config = parse_config(_config('    cron: "*/10 * * * *"\n', "  jitter: 1h\n"), Path("s"))
    now = datetime(2026, 1, 2, 5, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    plan = plan_source(config, config.sources[0], now)
    assert plan.trigger.jitter == 300  # ten minutes apart: at most five minutes late
