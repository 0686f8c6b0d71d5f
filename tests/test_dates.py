"""Date strings as Vietnamese news pages write them -> aware datetimes (extraction.dates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from aggregator.extraction.dates import parse_date, parse_iso_or_rfc

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=VN)
EXPECTED = datetime(2025, 2, 4, 14, 0, tzinfo=VN)


@pytest.mark.parametrize(
    "text",
    [
        "Thứ Ba, 04/02/2025 - 14:00",
        "04/02/2025 14:00 (GMT+7)",
        "14:00 ngày 04/02/2025",
        "4/2/2025 2:00:00 PM",
        "Thứ ba, 4/2/2025, 14:00 (GMT+7)",
        "Cập nhật: 14:00 | 04/02/2025",
        "04-02-2025 14h00",
        "04.02.2025 14:00",
        "Ngày 04 tháng 02 năm 2025 lúc 14 giờ 00",
        "2025-02-04T14:00:00+07:00",
        "2025-02-04T07:00:00Z",
        "2025-02-04 14:00",
        "2025/02/04 14:00",
        "Tue, 04 Feb 2025 14:00:00 +0700",
        "Tue, 04 Feb 2025 07:00:00 GMT",
        "04/02/2025 14:00 GMT+0700",
    ],
)
def test_visible_and_machine_forms(text: str) -> None:
    value = parse_date(text, VN, NOW)
    assert value is not None
    assert value == EXPECTED
    assert value.tzinfo is not None


@pytest.mark.parametrize(
    "text", ["ngày 4 tháng 2 năm 2025", "4 tháng 2, 2025", "04/02/2025", "2025-02-04"]
)
def test_day_only_forms_are_midnight_local(text: str) -> None:
    assert parse_date(text, VN, NOW) == datetime(2025, 2, 4, tzinfo=VN)


def test_day_comes_before_month() -> None:
    assert parse_date("03/02/2025 09:15", VN, NOW) == datetime(2025, 2, 3, 9, 15, tzinfo=VN)


def test_midnight_and_noon_with_meridiem() -> None:
    assert parse_date("4/2/2025 12:30:00 AM", VN, NOW) == datetime(2025, 2, 4, 0, 30, tzinfo=VN)
    assert parse_date("4/2/2025 12:30:00 PM", VN, NOW) == datetime(2025, 2, 4, 12, 30, tzinfo=VN)


def test_naive_time_is_read_in_the_given_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert parse_date("04/02/2025 14:00", tokyo, NOW) == datetime(2025, 2, 4, 14, tzinfo=tokyo)
    assert parse_iso_or_rfc("2025-02-04T14:00", tokyo, NOW) == datetime(
        2025, 2, 4, 14, tzinfo=tokyo
    )


def test_stated_offset_wins_over_the_zone() -> None:
    value = parse_date("04/02/2025 14:00 (GMT+9)", VN, NOW)
    assert value is not None
    assert value.utcoffset() == timedelta(hours=9)
    assert value == datetime(2025, 2, 4, 14, tzinfo=timezone(timedelta(hours=9)))


@pytest.mark.parametrize(
    "text",
    [
        "05/02/2026 10:00",  # months after now
        "2026-01-01T00:00:00+07:00",
        "Sun, 01 Mar 2026 00:00:00 +0700",
        "01/03/2025 14:00",  # two hours after now: beyond the tolerance
    ],
)
def test_future_dates_are_rejected(text: str) -> None:
    assert parse_date(text, VN, NOW) is None


def test_a_little_clock_skew_is_tolerated() -> None:
    assert parse_date("01/03/2025 12:30", VN, NOW) == datetime(2025, 3, 1, 12, 30, tzinfo=VN)


def test_without_now_the_current_time_bounds_the_future() -> None:
    next_year = datetime.now(UTC).year + 1
    assert parse_date(f"01/01/{next_year} 10:00", VN) is None
    assert parse_date("04/02/2025 14:00", VN) == EXPECTED


@pytest.mark.parametrize(
    "text",
    ["", "hello", "31/02/2025 10:00", "32/01/2025", "04/13/2025", "2025-13-40", "Lượt xem: 1.204"],
)
def test_invalid_or_missing_dates_give_none(text: str) -> None:
    assert parse_date(text, VN, NOW) is None


def test_machine_parser_ignores_visible_forms() -> None:
    assert parse_iso_or_rfc("Thứ Ba, 04/02/2025 - 14:00", VN, NOW) is None
    assert parse_iso_or_rfc("", VN, NOW) is None
