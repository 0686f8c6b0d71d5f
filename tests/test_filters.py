"""Keyword and age filters: diacritics- and case-insensitive, on word boundaries; config keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.config import parse_config
from aggregator.errors import ConfigError
from aggregator.filters import EntryFilter, reject_entry
from tests.conftest import RSS_SOURCE, Project

NOW = datetime(2026, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("keyword", "text", "matches"),
    [
        ("dich vu cong", "Triển khai Cổng dịch vụ công quốc gia", True),
        ("dịch vụ công", "TRIỂN KHAI DỊCH VỤ CÔNG TRỰC TUYẾN", True),
        ("Dịch Vụ Công", "dich vu cong truc tuyen", True),
        ("Đà Nẵng", "Mưa lớn ở Da Nang", True),
        ("cong", "Cộng hòa Congo", True),
        ("cong", "Congo và Gabon", False),
        ("dich vu", "Dịch vụ công", True),
        ("vu cong", "dịch vụ", False),
        ("TP.HCM", "Kẹt xe ở TP HCM", True),
        ("2.000 tỷ", "hơn 2.000 tỷ đồng", True),
    ],
)
def test_keywords_match_folded_words(keyword: str, text: str, matches: bool) -> None:
    include = EntryFilter.of([keyword], [])
    assert (include.reject(text, "", None, NOW) is None) is matches


def test_include_any_exclude_all_and_summary_counts() -> None:
    topic = EntryFilter.of(["dịch vụ công", "thủ tục hành chính"], ["quảng cáo"])
    assert topic.reject("Tin khác", "Cải cách thủ tục hành chính", None, NOW) is None
    reason = topic.reject("Tin khác", "Không liên quan", None, NOW)
    assert reason is not None and "include" in reason
    reason = topic.reject("Dịch vụ công", "QUẢNG CÁO", None, NOW)
    assert reason == "matches the exclude keyword 'quảng cáo'"


def test_max_age() -> None:
    recent = EntryFilter.of([], [], timedelta(days=2))
    assert recent.reject("a", "", NOW - timedelta(days=1), NOW) is None
    assert recent.reject("a", "", NOW - timedelta(days=3), NOW) == "older than max_age (2d)"
    assert recent.reject("a", "", None, NOW) is None  # no date: kept, nothing to judge


def test_every_level_must_pass() -> None:
    settings = EntryFilter.of([], ["xổ số"])
    source = EntryFilter.of(["giao thông"], [])
    assert reject_entry([settings, source], "Giao thông Tết", "", None, NOW) is None
    assert reject_entry([settings, source], "Xổ số và giao thông", "", None, NOW) is not None
    assert reject_entry([settings, source], "Thời tiết", "", None, NOW) is not None


def test_filter_keys_are_validated_and_named(tmp_path: Path) -> None:
    good = parse_config(
        "settings:\n  exclude: [xo so]\n  max_age: 2d\nsources:\n"
        "  - {name: a, type: feed, url: 'https://a.vn/rss',"
        " include: [dịch vụ công], max_age: 12h}\n",
        tmp_path / "sources.yaml",
    )
    assert good.settings.exclude == ["xo so"]
    assert good.sources[0].include == ["dịch vụ công"]
    assert good.sources[0].max_age == "12h"
    with pytest.raises(ConfigError) as bad_age:
        parse_config(
            "sources:\n  - {name: a, type: feed, url: 'https://a.vn/rss', max_age: two days}\n",
            tmp_path / "sources.yaml",
        )
    assert "source 'a'" in str(bad_age.value) and "key 'max_age'" in str(bad_age.value)
    with pytest.raises(ConfigError) as bad_keyword:
        parse_config("settings:\n  include: ['--']\n", tmp_path / "sources.yaml")
    assert "key 'settings.include.0'" in str(bad_keyword.value)


def test_filters_skip_entries_in_a_real_run(project: Project) -> None:
    # The RSS feed's three entries: one is about thanh tra (inspection), one about lymphoma.
    project.write_config(
        RSS_SOURCE + "    include: [thanh tra, ung thu]\n    exclude: [LYMPHOMA]\n"
    )
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(p.name for p in project.posts.iterdir())
    assert len(names) == 1 and "thanh-tra" in names[0], names
    assert result.stdout.splitlines()[0].startswith("vtc-tin-moi: 1 new, 2 skipped, 0 failed")
