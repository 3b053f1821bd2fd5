"""Cases, due dates and answers: pure rules, no I/O."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.events import Disposition, DueDateRule, PointAnswer

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


class CaseStatus(enum.StrEnum):
    AWAITING_ANSWER = "awaiting_answer"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"

    @property
    def answerable(self) -> bool:
        return self in {CaseStatus.AWAITING_ANSWER, CaseStatus.ACKNOWLEDGED}


@dataclass(frozen=True)
class DeadlinePolicy:
    """The law sets no number of days for a written reply; 30 calendar days is our default
    (DOMAIN.md, 'Deadlines'), to be made configurable per kind and level."""

    days: int = 30

    def due(self, submitted_at: datetime) -> tuple[date, DueDateRule]:
        start = submitted_at.astimezone(VIETNAM).date()
        due_date = start + timedelta(days=self.days)
        return due_date, DueDateRule(
            days=self.days,
            counting="calendar",
            start=start,
            explanation=(
                f"{self.days} ngày theo lịch kể từ ngày nhận {start:%d/%m/%Y}"
                f" / {self.days} calendar days from receipt on {start.isoformat()}"
            ),
        )


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
