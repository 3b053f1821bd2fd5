"""Reply deadlines. Every expected date is written out and was checked by hand against the 2026
Vietnamese calendar (1 Jan 2026 is a Thursday, so 1 Feb is a Sunday, 1 Mar a Sunday, 1 Apr a
Wednesday, 1 Aug a Saturday) and the holidays the ``holidays`` library lists for Vietnam."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from contracts.events import Counting, CritiqueKind, Level, SkippedDay
from services.tracking import deadlines
from services.tracking.deadlines import (
    DeadlinePolicy,
    Rule,
    WorkingCalendar,
    compute_due,
)

WORKING_5 = Rule(days=5, counting=Counting.WORKING)
CALENDAR_30 = Rule(days=30, counting=Counting.CALENDAR)


def hanoi_morning(year: int, month: int, day: int) -> datetime:
    """09:00 in Hanoi (UTC+7, no daylight saving) is 02:00 UTC the same day."""
    return datetime(year, month, day, 2, 0, tzinfo=UTC)


def skipped_days(*days: tuple[date, str]) -> tuple[SkippedDay, ...]:
    return tuple(SkippedDay(day=day, reason=reason) for day, reason in days)


def test_working_days_counted_from_just_before_tet_2026_skip_the_whole_nine_day_break() -> None:
    # Tết Bính Ngọ: lunar new year's day is Tuesday 17 Feb 2026. The library gives Mon 16 (eve,
    # 29 tháng Chạp) to Fri 20 (mùng 4); with the weekends either side the break runs Sat 14 to
    # Sun 22 Feb, the nine days the government announced for civil servants.
    due = compute_due(hanoi_morning(2026, 2, 12), WORKING_5, source="default")  # Thursday

    # Fri 13 is day 1; Mon 23, Tue 24, Wed 25 and Thu 26 are days 2 to 5.
    assert due.start == date(2026, 2, 12)
    assert due.due_date == date(2026, 2, 26)
    assert due.skipped == skipped_days(
        (date(2026, 2, 14), "Thứ Bảy / Saturday"),
        (date(2026, 2, 15), "Chủ nhật / Sunday"),
        (date(2026, 2, 16), "Giao thừa Tết Nguyên Đán / Lunar New Year's Eve"),
        (date(2026, 2, 17), "Tết Nguyên Đán / Lunar New Year"),
        (date(2026, 2, 18), "Mùng hai Tết Nguyên Đán / Second Day of Lunar New Year"),
        (date(2026, 2, 19), "Mùng ba Tết Nguyên Đán / Third Day of Lunar New Year"),
        (date(2026, 2, 20), "Mùng bốn Tết Nguyên Đán / Fourth Day of Lunar New Year"),
        (date(2026, 2, 21), "Thứ Bảy / Saturday"),
        (date(2026, 2, 22), "Chủ nhật / Sunday"),
    )


def test_calendar_days_ending_in_tet_roll_over_to_the_first_working_day_after_it() -> None:
    # Received Monday 19 Jan 2026: day 30 is 18 Feb (mùng 2 Tết), a day off, and so are the
    # days up to Sunday 22 Feb; the deadline is Monday 23 Feb (Civil Code art. 148(5)-(6)).
    due = compute_due(hanoi_morning(2026, 1, 19), CALENDAR_30, source="default")

    assert due.due_date == date(2026, 2, 23)
    assert due.skipped == skipped_days(
        (date(2026, 2, 18), "Mùng hai Tết Nguyên Đán / Second Day of Lunar New Year"),
        (date(2026, 2, 19), "Mùng ba Tết Nguyên Đán / Third Day of Lunar New Year"),
        (date(2026, 2, 20), "Mùng bốn Tết Nguyên Đán / Fourth Day of Lunar New Year"),
        (date(2026, 2, 21), "Thứ Bảy / Saturday"),
        (date(2026, 2, 22), "Chủ nhật / Sunday"),
    )


def test_the_explanation_gives_the_rule_the_start_and_each_day_off_in_vietnamese_then_english() -> (
    None
):
    due = compute_due(hanoi_morning(2026, 1, 19), CALENDAR_30, source="default")

    vietnamese, english = due.explanation.split(" / 30 calendar days")
    assert vietnamese.startswith(
        "30 ngày theo lịch kể từ ngày nhận 19/01/2026 (quy định mặc định), tính từ ngày hôm sau;"
        " ngày cuối 18/02/2026 là ngày nghỉ nên hạn chuyển sang ngày làm việc tiếp theo 23/02/2026"
    )
    assert "22/02/2026 Chủ nhật" in vietnamese
    assert english.startswith(
        " from receipt on 2026-01-19 (default rule), counted from the next day; the last day,"
        " 2026-02-18, is a day off, so the deadline moves to the next working day, 2026-02-23"
    )
    assert "2026-02-18 Second Day of Lunar New Year" in english


def test_hung_kings_day_and_the_30_april_1_may_break_of_2026_are_passed_over() -> None:
    # Giỗ Tổ Hùng Vương is 10/3 lunar: the third lunar month of 2026 begins with the new moon of
    # 17 April, so it is Sunday 26 April (as the library says), with a day off in lieu on Monday
    # 27 April (Labor Code art. 112(3)). 30/4 is a Thursday and 1/5 a Friday.
    due = compute_due(hanoi_morning(2026, 4, 24), WORKING_5, source="default")  # Friday

    # Tue 28 and Wed 29 April are days 1 and 2; Mon 4, Tue 5, Wed 6 May are days 3 to 5.
    assert due.due_date == date(2026, 5, 6)
    assert due.skipped == skipped_days(
        (date(2026, 4, 25), "Thứ Bảy / Saturday"),
        (date(2026, 4, 26), "Ngày Giỗ Tổ Hùng Vương / Hung Kings' Commemoration Day"),
        (
            date(2026, 4, 27),
            "Ngày Giỗ Tổ Hùng Vương (nghỉ bù) / Hung Kings' Commemoration Day (observed)",
        ),
        (date(2026, 4, 30), "Ngày Chiến thắng / Liberation Day/Reunification Day"),
        (date(2026, 5, 1), "Ngày Quốc tế Lao động / International Labor Day"),
        (date(2026, 5, 2), "Thứ Bảy / Saturday"),
        (date(2026, 5, 3), "Chủ nhật / Sunday"),
    )


def test_the_national_day_break_of_2026_is_passed_over_with_its_day_off_in_lieu() -> None:
    # 2/9/2026 is a Wednesday; the library gives Tue 1 Sep as the second National Day and
    # Mon 31 Aug as a day off swapped for Saturday 22 Aug, hence a break from Sat 29 Aug to
    # Wed 2 Sep.
    due = compute_due(
        hanoi_morning(2026, 8, 27), Rule(days=3, counting=Counting.WORKING), source="default"
    )

    # Fri 28 Aug is day 1, Thu 3 and Fri 4 Sep are days 2 and 3.
    assert due.due_date == date(2026, 9, 4)
    assert due.skipped == skipped_days(
        (date(2026, 8, 29), "Thứ Bảy / Saturday"),
        (date(2026, 8, 30), "Chủ nhật / Sunday"),
        (
            date(2026, 8, 31),
            "Ngày nghỉ (thay cho ngày 22/08/2026) / Day off (substituted from 08/22/2026)",
        ),
        (date(2026, 9, 1), "Quốc khánh / National Day"),
        (date(2026, 9, 2), "Quốc khánh / National Day"),
    )


def test_a_saturday_worked_in_exchange_for_a_day_off_is_a_working_day() -> None:
    # Saturday 22 Aug 2026 is worked in exchange for Monday 31 Aug (see above).
    due = compute_due(
        hanoi_morning(2026, 8, 21), Rule(days=1, counting=Counting.WORKING), source="default"
    )

    assert due.due_date == date(2026, 8, 22)
    assert due.skipped == ()


def test_working_days_run_into_the_next_year_across_new_years_day() -> None:
    # 1 Jan 2027 is a Friday: Thu 31 Dec is day 1, Mon 4 and Tue 5 Jan are days 2 and 3.
    due = compute_due(
        hanoi_morning(2026, 12, 30), Rule(days=3, counting=Counting.WORKING), source="default"
    )

    assert due.due_date == date(2027, 1, 5)
    assert due.skipped == skipped_days(
        (date(2027, 1, 1), "Tết Dương lịch / New Year's Day"),
        (date(2027, 1, 2), "Thứ Bảy / Saturday"),
        (date(2027, 1, 3), "Chủ nhật / Sunday"),
    )


def test_a_receipt_at_20_00_utc_counts_from_the_next_day_in_vietnam() -> None:
    # 20:00 UTC on Saturday 31 Jan 2026 is 03:00 on Sunday 1 Feb in Hanoi: day 30 is Tuesday
    # 3 March, a working day.
    due = compute_due(datetime(2026, 1, 31, 20, 0, tzinfo=UTC), CALENDAR_30, source="default")

    assert due.start == date(2026, 2, 1)
    assert due.due_date == date(2026, 3, 3)
    assert due.skipped == ()
    assert due.explanation == (
        "30 ngày theo lịch kể từ ngày nhận 01/02/2026 (quy định mặc định), tính từ ngày hôm sau:"
        " hạn 03/03/2026 / 30 calendar days from receipt on 2026-02-01 (default rule), counted"
        " from the next day: due 2026-03-03"
    )


def test_a_receipt_at_16_59_utc_is_still_the_same_day_in_vietnam() -> None:
    # 16:59 UTC is 23:59 in Hanoi on Saturday 31 Jan: day 30 is Monday 2 March.
    due = compute_due(datetime(2026, 1, 31, 16, 59, tzinfo=UTC), CALENDAR_30, source="default")

    assert due.start == date(2026, 1, 31)
    assert due.due_date == date(2026, 3, 2)


def test_a_receipt_time_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_due(datetime(2026, 1, 31, 20, 0), CALENDAR_30, source="default")


def test_extra_days_off_announced_by_the_government_are_passed_over() -> None:
    # A hypothetical extra day off on Wednesday 29 April 2026, as if the government had
    # joined the Hùng Kings' and 30/4 breaks.
    calendar = WorkingCalendar(extra_days_off={date(2026, 4, 29): "Nghỉ bù / Extra day off"})

    due = compute_due(hanoi_morning(2026, 4, 24), WORKING_5, source="default", calendar=calendar)

    # Tue 28 April is day 1; Mon 4 to Thu 7 May are days 2 to 5.
    assert due.due_date == date(2026, 5, 7)
    assert SkippedDay(day=date(2026, 4, 29), reason="Nghỉ bù / Extra day off") in due.skipped
    assert calendar.reason(date(2026, 4, 29)) == "Nghỉ bù / Extra day off"


def test_an_extra_working_day_makes_a_saturday_count() -> None:
    calendar = WorkingCalendar(extra_working_days={date(2026, 3, 7)})  # a Saturday

    due = compute_due(
        hanoi_morning(2026, 3, 6),
        Rule(days=1, counting=Counting.WORKING),
        source="default",
        calendar=calendar,
    )

    assert due.due_date == date(2026, 3, 7)
    assert calendar.is_working_day(date(2026, 3, 7))
    assert not WorkingCalendar().is_working_day(date(2026, 3, 7))


def test_a_day_cannot_be_both_an_extra_day_off_and_an_extra_working_day() -> None:
    with pytest.raises(ValueError, match="2026-03-07"):
        WorkingCalendar(
            extra_days_off={date(2026, 3, 7): "Nghỉ"}, extra_working_days={date(2026, 3, 7)}
        )


def test_the_calendar_names_the_day_off_or_says_none_for_a_working_day() -> None:
    calendar = WorkingCalendar()

    assert calendar.reason(date(2026, 9, 2)) == "Quốc khánh / National Day"
    assert calendar.reason(date(2026, 3, 8)) == "Chủ nhật / Sunday"
    assert calendar.reason(date(2026, 3, 9)) is None  # a Monday
    assert calendar.is_working_day(date(2026, 3, 9))
    assert not calendar.is_working_day(date(2026, 1, 1))


POLICY_JSON = """{
    "default": {"days": 30, "counting": "calendar"},
    "by_kind": {"supervision_recommendation": {"days": 20, "counting": "calendar"}},
    "by_kind_and_level": {"supervision_recommendation/commune": {"days": 15, "counting": "working"}}
}"""


def test_the_policy_prefers_kind_and_level_then_kind_then_the_default_and_names_its_source() -> (
    None
):
    policy = DeadlinePolicy.model_validate_json(POLICY_JSON)

    assert policy.rule_for(CritiqueKind.SUPERVISION_RECOMMENDATION, Level.COMMUNE) == (
        Rule(days=15, counting=Counting.WORKING),
        "supervision_recommendation at commune level",
    )
    assert policy.rule_for(CritiqueKind.SUPERVISION_RECOMMENDATION, Level.PROVINCIAL) == (
        Rule(days=20, counting=Counting.CALENDAR),
        "kind supervision_recommendation",
    )
    assert policy.rule_for(CritiqueKind.SOCIAL_CRITICISM, Level.COMMUNE) == (
        Rule(days=30, counting=Counting.CALENDAR),
        "default",
    )


def test_without_configuration_the_policy_is_thirty_calendar_days() -> None:
    assert DeadlinePolicy().rule_for(CritiqueKind.SOCIAL_CRITICISM, Level.CENTRAL) == (
        Rule(days=30, counting=Counting.CALENDAR),
        "default",
    )


def test_the_explanation_names_the_policy_rule_that_applied_in_both_languages() -> None:
    policy = DeadlinePolicy.model_validate_json(POLICY_JSON)
    rule, source = policy.rule_for(CritiqueKind.SUPERVISION_RECOMMENDATION, Level.COMMUNE)

    due = compute_due(hanoi_morning(2026, 3, 9), rule, source=source)  # a Monday

    # 15 working days from Tue 10 March, no holiday in between: three weeks, Monday 30 March.
    assert due.due_date == date(2026, 3, 30)
    assert due.source == "supervision_recommendation at commune level"
    assert "(quy định cho kiến nghị sau giám sát cấp xã)" in due.explanation
    assert "(rule for supervision_recommendation at commune level)" in due.explanation


@pytest.mark.parametrize(
    ("policy_json", "message"),
    [
        pytest.param(
            '{"by_kind": {"petition": {"days": 30, "counting": "calendar"}}}',
            "petition",
            id="unknown kind",
        ),
        pytest.param(
            '{"by_kind_and_level": {"petition/commune": {"days": 30, "counting": "calendar"}}}',
            "unknown kind 'petition'",
            id="unknown kind in a kind/level key",
        ),
        pytest.param(
            '{"by_kind_and_level": {"social_criticism/district": {"days": 30,'
            ' "counting": "calendar"}}}',
            "unknown level 'district'",
            id="no district level since July 2025",
        ),
        pytest.param(
            '{"by_kind_and_level": {"social_criticism": {"days": 30, "counting": "calendar"}}}',
            "expected a key 'kind/level'",
            id="key without a level",
        ),
        pytest.param(
            '{"default": {"days": 0, "counting": "calendar"}}',
            "greater than or equal to 1",
            id="zero days",
        ),
        pytest.param(
            '{"default": {"days": 366, "counting": "calendar"}}',
            "less than or equal to 365",
            id="more than a year",
        ),
        pytest.param(
            '{"default": {"days": 30, "counting": "business"}}',
            "'calendar' or 'working'",
            id="unknown counting",
        ),
        pytest.param(
            '{"defaults": {"days": 30, "counting": "calendar"}}',
            "Extra inputs are not permitted",
            id="misspelt field",
        ),
    ],
)
def test_an_invalid_policy_is_refused_with_a_clear_error(policy_json: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DeadlinePolicy.model_validate_json(policy_json)


def test_load_calendar_loads_the_year_in_vietnam_and_the_next() -> None:
    deadlines._library_year.cache_clear()
    # 31 December 2026 at 20:00 UTC is already 1 January 2027 in Hanoi.
    deadlines.load_calendar(datetime(2026, 12, 31, 20, 0, tzinfo=UTC))
    assert deadlines._library_year.cache_info().currsize == 2
    assert deadlines._library_year.cache_info().hits == 0
    deadlines._library_year(2027)
    deadlines._library_year(2028)
    assert deadlines._library_year.cache_info().hits == 2
