"""sources.yaml validation: every error names the file, the source and the key; exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.config import (
    MAX_DURATION,
    SOURCE_TYPES,
    load_config,
    parse_config,
    parse_duration,
)
from aggregator.errors import ConfigError

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sources: [{name: a, type: feed, url: 'http://x', article: {titel: h1}}]",
            "s.yaml: source 'a': key 'article.titel': unknown key",
        ),
        (
            "sources: [{name: a, type: rss, url: 'http://x'}]",
            "s.yaml: source 'a': key 'type': unknown source type 'rss'",
        ),
        (
            "sources: [{name: a, type: feed, url: 'http://x'}, {name: a, type: feed, url: 'http://y'}]",
            "s.yaml: source 'a': key 'name': duplicate name",
        ),
        (
            "sources: [{name: a, type: feed, url: 'http://x', article: {body: 'div['}}]",
            "s.yaml: source 'a': key 'article.body': invalid CSS selector 'div['",
        ),
        ("sources: [{name: a, type: feed, url: 'ftp://x'}]", "key 'url': 'ftp://x' is not an http"),
        (
            "sources: [{name: a, type: feed, url: 'http://x:99999/'}]",
            "key 'url': 'http://x:99999/' is not an http",
        ),
        ("sources: [{name: a, type: feed, url: 'http://[x/'}]", "key 'url': 'http://[x/' is not"),
        ("settings: {timezone: Mars/Base}", "key 'settings.timezone': unknown time zone"),
        ("settings: {title: '{site}'}", "key 'settings.title': title template may use"),
        ("sources: [{type: feed, url: 'http://x'}]", "source '#1': key 'name': Field required"),
        ("sources: [{name: a, type: feed}]", "source 'a': key 'url': Field required"),
        ("settings: [1", "s.yaml: not valid YAML"),
    ],
)
def test_bad_config_names_file_source_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("s.yaml"))
    assert message in str(info.value)


def test_shipped_sources_yaml_is_valid() -> None:
    config = load_config(ROOT / "sources.yaml")
    assert config.sources, "the shipped sources.yaml lists real sources"
    assert {s.type for s in config.sources} <= set(SOURCE_TYPES)
    assert not config.settings.allow_private_networks


def test_cli_exits_2_on_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("sources: [{name: a, type: feed, url: 'http://x', extra: 1}]\n")
    assert main(["fetch", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: source 'a': key 'extra': unknown key" in err


def test_cli_exits_2_on_missing_config_and_unknown_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    config = tmp_path / "sources.yaml"
    config.write_text("sources: [{name: a, type: feed, url: 'http://x'}]\n")
    assert main(["fetch", "--config", str(config), "--source", "b"]) == 2
    assert "no source named 'b'" in capsys.readouterr().err


def test_foreign_state_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(
        "settings: {state: state.db}\nsources: [{name: a, type: feed, url: 'http://x'}]\n"
    )
    (tmp_path / "state.db").write_bytes(b"this is not a database, just some text" * 100)
    assert main(["fetch", "--config", str(config)]) == 2
    assert "state.db" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("settings", "source", "key"),
    [
        ("max_age: 1000000000d", "", "settings.max_age"),
        ("jitter: 99999999999999999999s", "", "settings.jitter"),
        ("near_duplicate_window: 3651d", "", "settings.near_duplicate_window"),
        ("", "max_age: 200000000h", "max_age"),
        ("", "every: 1000000000d", "every"),
    ],
)
def test_fetch_exits_2_on_an_out_of_range_duration(
    tmp_path: Path, settings: str, source: str, key: str
) -> None:
    # Too large for timedelta (OverflowError, which pydantic does not turn into a message), or
    # beyond the 3650d bound that keeps dates plus or minus a duration inside datetime's range.
    (tmp_path / "sources.yaml").write_text(
        f"settings:\n  {settings or 'timeout: 5'}\nsources:\n"
        f"  - {{name: a, type: feed, url: 'http://127.0.0.1:9/', {source or 'topic: t'}}}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "fetch"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"key {key!r}" in result.stderr
    assert "longer than the maximum of 3650d" in result.stderr
    assert "Traceback" not in result.stderr


def test_durations_up_to_the_bound_are_accepted() -> None:
    assert parse_duration("3650d") == MAX_DURATION
    assert parse_duration("3649d23h59m60s") == MAX_DURATION
    with pytest.raises(ValueError, match="longer than the maximum"):
        parse_duration("3650d1s")
