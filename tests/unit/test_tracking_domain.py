from __future__ import annotations

from datetime import UTC, date, datetime

from contracts.events import Disposition, PointAnswer
from services.tracking.domain import DeadlinePolicy, check_answer, is_late


def answer(number: int, disposition: Disposition, explanation: str = "") -> PointAnswer:
    return PointAnswer(point_number=number, disposition=disposition, explanation=explanation)


def test_the_default_reply_deadline_is_thirty_calendar_days_from_receipt_in_vietnam() -> None:
    # 20:00 UTC on 31 Jan is already 1 Feb in Hanoi (UTC+7).
    due, rule = DeadlinePolicy().due(datetime(2026, 1, 31, 20, 0, tzinfo=UTC))
    assert rule.start == date(2026, 2, 1)
    assert due == date(2026, 3, 3)
    assert rule.counting == "calendar"
    assert "30 ngày" in rule.explanation
    assert "30 calendar days" in rule.explanation


def test_an_answer_on_the_due_date_is_on_time_and_the_day_after_is_late() -> None:
    due = date(2026, 3, 3)
    assert not is_late(datetime(2026, 3, 3, 16, 59, tzinfo=UTC), due)  # 23:59 in Hanoi
    assert is_late(datetime(2026, 3, 3, 17, 0, tzinfo=UTC), due)  # 00:00 on 4 March


def test_a_complete_answer_has_no_problems() -> None:
    answers = [
        answer(1, Disposition.ACCEPTED),
        answer(2, Disposition.PARTLY_ACCEPTED, "Tiếp thu một phần."),
        answer(3, Disposition.NOT_ACCEPTED, "Giải trình: trái với luật hiện hành."),
    ]
    assert check_answer({1, 2, 3}, answers) == []


def test_every_point_must_be_answered_exactly_once() -> None:
    problems = check_answer(
        {1, 2, 3},
        [
            answer(1, Disposition.ACCEPTED),
            answer(1, Disposition.ACCEPTED),
            answer(9, Disposition.ACCEPTED),
        ],
    )
    assert [(p.field, p.message) for p in problems] == [
        ("answers[0].point_number", "point 1 answered twice"),
        ("answers[1].point_number", "point 1 answered twice"),
        ("answers[2].point_number", "the case has no point 9"),
        ("answers", "point 2 is not answered"),
        ("answers", "point 3 is not answered"),
    ]


def test_a_point_not_fully_accepted_needs_an_explanation() -> None:
    problems = check_answer(
        {1, 2},
        [answer(1, Disposition.NOT_ACCEPTED, "  "), answer(2, Disposition.PARTLY_ACCEPTED)],
    )
    assert [p.field for p in problems] == ["answers[0].explanation", "answers[1].explanation"]
