"""Cases, due dates and answers: pure rules, no I/O."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from contracts.events import Disposition, PointAnswer
from contracts.lifecycle import CaseStatus
from contracts.vocabulary import VIETNAM


def answerable(status: CaseStatus) -> bool:
    """A case is still to be answered until it is answered or withdrawn."""
    return status in {CaseStatus.AWAITING_ANSWER, CaseStatus.ACKNOWLEDGED}


class Step(enum.StrEnum):
    """Deadline steps the scheduler fires."""

    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class ScheduledStep:
    step: Step
    days_before: int
    """For reminders, the days left before the due date; 0 otherwise."""
    fire_at: datetime

    @property
    def key(self) -> str:
        return f"{self.step.value}-{self.days_before}" if self.step is Step.REMINDER else self.step


@dataclass(frozen=True)
class SchedulePolicy:
    """When agencies are reminded (7, 3 and 1 days before, DOMAIN.md), when a case is overdue
    (once its due date has ended, Vietnam time) and when it is escalated one Front level up."""

    reminder_days: tuple[int, ...] = (7, 3, 1)
    reminder_hour: int = 8
    escalate_after_days: int = 0

    def steps(self, due_date: date, *, after: datetime) -> list[ScheduledStep]:
        """The steps for ``due_date`` still to come after ``after`` (a reminder whose time has
        already passed when the case opens or its date moves would only be noise)."""
        end_of_due_date = datetime.combine(due_date + timedelta(days=1), time(0), VIETNAM)
        steps = [
            ScheduledStep(
                Step.REMINDER,
                days,
                datetime.combine(
                    due_date - timedelta(days=days), time(self.reminder_hour), VIETNAM
                ),
            )
            for days in sorted(set(self.reminder_days), reverse=True)
        ]
        steps = [step for step in steps if step.fire_at > after]
        steps.append(ScheduledStep(Step.OVERDUE, 0, end_of_due_date))
        steps.append(
            ScheduledStep(
                Step.ESCALATION, 0, end_of_due_date + timedelta(days=self.escalate_after_days)
            )
        )
        return steps


def extension_problems(
    *, requested: date, current_due_date: date, today: date, reason: str
) -> list[AnswerProblem]:
    """An extension must move the due date later, to a date still to come, for a stated reason."""
    problems = []
    if requested <= current_due_date:
        problems.append(
            AnswerProblem("requested_due_date", f"must be after the due date {current_due_date}")
        )
    elif requested <= today:
        problems.append(AnswerProblem("requested_due_date", "must be in the future"))
    if not reason.strip():
        problems.append(AnswerProblem("reason", "say why more time is needed"))
    return problems


def is_late(answered_at: datetime, due_date: date) -> bool:
    """An answer is late when given after the end of its due date, Vietnam time."""
    return answered_at.astimezone(VIETNAM).date() > due_date


class AnswerProblem(ValueError):
    """An answer that cannot be accepted; ``field`` names the offending request field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_answer(point_numbers: set[int], answers: list[PointAnswer]) -> list[AnswerProblem]:
    """Every point answered exactly once; every non-acceptance explained (VFF Law art. 35(5))."""
    problems: list[AnswerProblem] = []
    counts = Counter(answer.point_number for answer in answers)
    for index, answer in enumerate(answers):
        field = f"answers[{index}]"
        if answer.point_number not in point_numbers:
            problems.append(
                AnswerProblem(
                    f"{field}.point_number", f"the case has no point {answer.point_number}"
                )
            )
        elif counts[answer.point_number] > 1:
            problems.append(
                AnswerProblem(
                    f"{field}.point_number", f"point {answer.point_number} answered twice"
                )
            )
        if answer.disposition is not Disposition.ACCEPTED and not answer.explanation.strip():
            problems.append(
                AnswerProblem(
                    f"{field}.explanation",
                    "an explanation is required unless the point is accepted",
                )
            )
    for number in sorted(point_numbers - set(counts)):
        problems.append(AnswerProblem("answers", f"point {number} is not answered"))
    return problems
