from __future__ import annotations

from datetime import UTC, date, datetime

from contracts.events import Disposition, PointAnswer
from services.tracking.domain import (
    SchedulePolicy,
    Step,
    check_answer,
    extension_problems,
    is_late,
)


def answer(number: int, disposition: Disposition, explanation: str = "") -> PointAnswer:
    return PointAnswer(point_number=number, disposition=disposition, explanation=explanation)


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


def test_reminders_come_at_eight_in_hanoi_7_3_and_1_days_before_then_overdue_and_escalation() -> (
    None
):
    steps = SchedulePolicy().steps(date(2026, 3, 20), after=datetime(2026, 2, 18, tzinfo=UTC))
    assert [(s.key, s.fire_at.isoformat()) for s in steps] == [
        ("reminder-7", "2026-03-13T08:00:00+07:00"),
        ("reminder-3", "2026-03-17T08:00:00+07:00"),
        ("reminder-1", "2026-03-19T08:00:00+07:00"),
        ("overdue", "2026-03-21T00:00:00+07:00"),
        ("escalation", "2026-03-21T00:00:00+07:00"),
    ]


def test_reminders_already_past_are_not_planned_and_escalation_may_wait() -> None:
    policy = SchedulePolicy(escalate_after_days=7)
    steps = policy.steps(date(2026, 3, 20), after=datetime(2026, 3, 15, tzinfo=UTC))
    assert [s.key for s in steps] == ["reminder-3", "reminder-1", "overdue", "escalation"]
    assert steps[-1].step is Step.ESCALATION
    assert steps[-1].fire_at.isoformat() == "2026-03-28T00:00:00+07:00"


def test_an_extension_must_move_the_due_date_later_to_a_future_day_with_a_reason() -> None:
    def problems(requested: date, reason: str = "Cần thêm thời gian khảo sát") -> list[str]:
        found = extension_problems(
            requested=requested,
            current_due_date=date(2026, 3, 20),
            today=date(2026, 3, 25),
            reason=reason,
        )
        return [p.field for p in found]

    assert problems(date(2026, 4, 20)) == []
    assert problems(date(2026, 3, 20)) == ["requested_due_date"]
    assert problems(date(2026, 3, 24)) == ["requested_due_date"]
    assert problems(date(2026, 4, 20), reason="  ") == ["reason"]
