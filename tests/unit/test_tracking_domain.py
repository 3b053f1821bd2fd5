from __future__ import annotations

from datetime import UTC, date, datetime

from contracts.agency_api import DraftRefusalReason
from contracts.events import Disposition, DueDateRule, PointAnswer
from contracts.lifecycle import CaseStatus, ExtensionStatus, RefusalReason
from services.tracking.domain import (
    Refusal,
    SchedulePolicy,
    Step,
    answer_refusal,
    change_refusal,
    check_answer,
    extended_rule,
    extension_decision_refusal,
    extension_problems,
    is_late,
    new_version_refusal,
    overdue_ends,
    step_detail,
    step_of,
    submission_refusal,
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


def reason(refusal: Refusal | None) -> RefusalReason | None:
    return None if refusal is None else refusal.reason


def test_amending_and_withdrawing_end_when_the_agency_acknowledges_answers_or_it_is_withdrawn() -> (
    None
):
    def refused(status: CaseStatus, acknowledged: bool = False) -> RefusalReason | None:
        return reason(change_refusal(status=status, acknowledged=acknowledged, version=2))

    assert refused(CaseStatus.AWAITING_ANSWER) is None
    assert refused(CaseStatus.ACKNOWLEDGED, acknowledged=True) is RefusalReason.ACKNOWLEDGED
    assert refused(CaseStatus.ANSWERED) is RefusalReason.ANSWERED
    assert refused(CaseStatus.ANSWERED, acknowledged=True) is RefusalReason.ANSWERED
    assert refused(CaseStatus.WITHDRAWN) is RefusalReason.WITHDRAWN


def test_an_amendment_of_another_version_than_the_current_one_is_refused_naming_it() -> None:
    def amend(expected: int | None) -> Refusal | None:
        return change_refusal(
            status=CaseStatus.AWAITING_ANSWER,
            acknowledged=False,
            version=3,
            expected_version=expected,
        )

    assert amend(3) is None
    assert amend(None) is None  # no If-Match: whatever is current
    mismatch = amend(2)
    assert mismatch is not None
    assert (mismatch.reason, mismatch.current_version) == (RefusalReason.VERSION_MISMATCH, 3)
    assert "version 3, not 2" in mismatch.detail


def test_an_answer_is_to_the_version_the_agency_read_of_an_open_case() -> None:
    def answered(status: CaseStatus, version: int) -> RefusalReason | None:
        return reason(answer_refusal(status=status, version=2, answered_version=version))

    assert answered(CaseStatus.ACKNOWLEDGED, 2) is None
    assert answered(CaseStatus.AWAITING_ANSWER, 1) is RefusalReason.VERSION_MISMATCH
    assert answered(CaseStatus.ANSWERED, 2) is RefusalReason.ANSWERED
    assert answered(CaseStatus.WITHDRAWN, 2) is RefusalReason.WITHDRAWN


def test_a_decision_applies_only_to_a_pending_extension_of_an_open_case() -> None:
    def decided(status: CaseStatus, extension: ExtensionStatus | None) -> RefusalReason | None:
        return reason(extension_decision_refusal(status=status, version=1, extension=extension))

    assert decided(CaseStatus.ACKNOWLEDGED, ExtensionStatus.PENDING) is None
    assert decided(CaseStatus.AWAITING_ANSWER, None) is RefusalReason.UNKNOWN_EXTENSION
    assert decided(CaseStatus.ANSWERED, ExtensionStatus.PENDING) is RefusalReason.ANSWERED
    assert decided(CaseStatus.WITHDRAWN, ExtensionStatus.PENDING) is RefusalReason.WITHDRAWN
    assert (
        decided(CaseStatus.AWAITING_ANSWER, ExtensionStatus.GRANTED)
        is RefusalReason.EXTENSION_DECIDED
    )


def test_an_extension_to_a_date_still_to_come_ends_the_overdue_state() -> None:
    now = datetime(2026, 4, 2, 3, tzinfo=UTC)  # 10:00 on 2 April in Hanoi
    assert overdue_ends(overdue=True, new_due=date(2026, 4, 2), now=now)
    assert not overdue_ends(overdue=True, new_due=date(2026, 4, 1), now=now)
    assert not overdue_ends(overdue=False, new_due=date(2026, 5, 1), now=now)


def test_a_granted_extension_says_how_the_due_date_moved_in_both_languages() -> None:
    rule = DueDateRule(
        days=30, counting="calendar", start=date(2026, 3, 2), explanation="…", source="default"
    )
    extended = extended_rule(rule, date(2026, 4, 30))
    assert extended.source == "extension granted"
    assert extended.explanation.startswith("Gia hạn đến 30/04/2026")
    assert "Extended to 2026-04-30" in extended.explanation
    assert (extended.days, extended.start) == (30, date(2026, 3, 2))


def test_a_planned_step_is_read_back_from_its_key_and_says_what_it_is() -> None:
    assert step_of("reminder-3") == (Step.REMINDER, 3)
    assert step_of("overdue") == (Step.OVERDUE, 0)
    due = date(2026, 4, 1)
    assert step_detail(Step.OVERDUE, days_before=0, due_date=due, escalated_to=None) == (
        "quá hạn 01/04/2026 / overdue"
    )
    assert "no higher Front level" in step_detail(
        Step.ESCALATION, days_before=0, due_date=due, escalated_to=None
    )


def test_a_version_follows_the_current_one_until_the_draft_went_to_its_authority() -> None:
    assert new_version_refusal(versions=2, sent=False, follows=2) is None
    behind = new_version_refusal(versions=2, sent=False, follows=1)
    assert behind is not None
    assert behind.reason is DraftRefusalReason.VERSION_MISMATCH
    assert behind.current_version == 2
    sent = new_version_refusal(versions=2, sent=True, follows=2)
    assert sent is not None
    assert sent.reason is DraftRefusalReason.SENT_TO_AUTHORITY
    assert submission_refusal(versions=1, sent=False) is None
    none_yet = submission_refusal(versions=0, sent=False)
    assert none_yet is not None
    assert none_yet.reason is DraftRefusalReason.NO_VERSION
    again = submission_refusal(versions=1, sent=True)
    assert again is not None
    assert again.reason is DraftRefusalReason.SENT_TO_AUTHORITY
