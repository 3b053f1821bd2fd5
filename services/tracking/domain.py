"""Cases, due dates and answers, and what a draft's state allows: pure rules, no I/O.

Tracking decides every step of a critique after its submission (contracts/transitions.py): each
rule below is checked on tracking's own state of the case, in the transaction that records the
step, so no step is ever decided on a copy that another service may since have changed."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from contracts.agency_api import DraftRefusalReason
from contracts.events import Disposition, DueDateRule, PointAnswer
from contracts.lifecycle import CaseStatus, ExtensionStatus, RefusalReason
from contracts.vocabulary import VIETNAM


def answerable(status: CaseStatus) -> bool:
    """A case is still to be answered until it is answered or withdrawn."""
    return status in {CaseStatus.AWAITING_ANSWER, CaseStatus.ACKNOWLEDGED}


@dataclass(frozen=True)
class Refusal:
    """Why a step cannot be taken on the case as it stands: the organisation's request is
    refused with it, the agency's call answered FAILED_PRECONDITION."""

    reason: RefusalReason
    detail: str
    """For people, Vietnamese first."""
    current_version: int


class NotYourCase(PermissionError):
    """The case is addressed to another agency."""


class NotYourDraft(PermissionError):
    """The draft is led by another agency."""


@dataclass
class DraftRefused(Exception):
    """A call the draft as it stands does not allow: FAILED_PRECONDITION."""

    reason: DraftRefusalReason
    detail: str
    """For people, Vietnamese first."""
    current_version: int


def new_version_refusal(*, versions: int, sent: bool, follows: int) -> DraftRefused | None:
    """A version may follow only the draft's current one, and only until the draft went to its
    issuing authority (then the Front's criticism of it is over: a later stage is a new draft)."""
    if sent:
        return DraftRefused(
            DraftRefusalReason.SENT_TO_AUTHORITY,
            "dự thảo đã trình cơ quan ban hành; giai đoạn sau là một dự thảo mới / the draft"
            " went to its issuing authority; a later stage is registered as a new draft",
            versions,
        )
    if follows != versions:
        return DraftRefused(
            DraftRefusalReason.VERSION_MISMATCH,
            f"phiên bản hiện tại là {versions}, không phải {follows} / the current version is"
            f" {versions}, not {follows}: read the draft again",
            versions,
        )
    return None


def submission_refusal(*, versions: int, sent: bool) -> DraftRefused | None:
    """A draft is sent to its issuing authority once, and after the Front received it."""
    if sent:
        return DraftRefused(
            DraftRefusalReason.SENT_TO_AUTHORITY,
            "dự thảo đã được ghi nhận là đã trình / the draft is recorded as sent already",
            versions,
        )
    if versions == 0:
        return DraftRefused(
            DraftRefusalReason.NO_VERSION,
            "Mặt trận chưa nhận phiên bản nào của dự thảo; hãy gửi phiên bản trước / the Front"
            " has received no version of the draft: add the version it receives first",
            versions,
        )
    return None


class UnknownAgency(LookupError):
    """A critique addressed to an agency that is not in tracking's directory: no case is opened,
    since no agency could answer it and it would only fall overdue, in public."""

    def __init__(self, agency_id: str) -> None:
        super().__init__(f"no agency {agency_id!r} in tracking's directory")
        self.agency_id = agency_id


class UncitableCritique(LookupError):
    """A critique naming a draft version tracking does not have for the agency addressed, or
    citing parts that version lacks: no case is opened on citations no text can show."""


class InvalidRequest(ValueError):
    """The request breaks a rule of its own: each problem names the offending field."""

    def __init__(self, problems: Sequence[AnswerProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


class Refused(Exception):
    """A step the case's state does not allow (:class:`Refusal`)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


@dataclass(frozen=True)
class Credential:
    """A certificate or a token a call came with, and the agency it acts for while it is live."""

    presented: bool
    agency_id: str | None = None


NONE_PRESENTED = Credential(presented=False)


class NotAuthenticated(Exception):
    """The call proves no agency: it came with nothing, or with a credential that is unknown,
    expired or revoked (``dead`` names which: ``certificate`` or ``token``)."""

    def __init__(self, dead: str | None = None) -> None:
        super().__init__(dead or "no credential")
        self.dead = dead


class CredentialsDisagree(PermissionError):
    """The certificate and the token act for two different agencies."""


def calling_agency(*, certificate: Credential, token: Credential) -> str:
    """The agency a call acts for. Either credential alone proves it; given both, they must name
    the same agency: a certificate of one agency never acts for another, whatever token comes
    with it, and a live credential never makes up for a dead one."""
    for name, credential in (("certificate", certificate), ("token", token)):
        if credential.presented and credential.agency_id is None:
            raise NotAuthenticated(name)
    agencies = {c.agency_id for c in (certificate, token) if c.agency_id is not None}
    if not agencies:
        raise NotAuthenticated()
    if len(agencies) > 1:
        raise CredentialsDisagree()
    return agencies.pop()


def _closed(status: CaseStatus, version: int) -> Refusal | None:
    if status is CaseStatus.WITHDRAWN:
        return Refusal(RefusalReason.WITHDRAWN, "Đã rút / It was withdrawn", version)
    if status is CaseStatus.ANSWERED:
        return Refusal(
            RefusalReason.ANSWERED, "Cơ quan đã trả lời / The agency has answered it", version
        )
    return None


def change_refusal(
    *, status: CaseStatus, acknowledged: bool, version: int, expected_version: int | None = None
) -> Refusal | None:
    """An amendment or a withdrawal is allowed only until the agency acknowledges receipt (or
    answers, or the critique is withdrawn), and an amendment only of the current version."""
    if closed := _closed(status, version):
        return closed
    if acknowledged:
        return Refusal(
            RefusalReason.ACKNOWLEDGED,
            "Cơ quan đã tiếp nhận, không thể sửa đổi hoặc rút"
            " / The agency has acknowledged receipt: no more amending or withdrawing",
            version,
        )
    if expected_version is not None and expected_version != version:
        return version_mismatch(version, expected_version)
    return None


def version_mismatch(current: int, named: int) -> Refusal:
    return Refusal(
        RefusalReason.VERSION_MISMATCH,
        f"Văn bản đang ở phiên bản {current}, không phải {named}"
        f" / The critique is at version {current}, not {named}",
        current,
    )


def extension_decision_refusal(
    *, status: CaseStatus, version: int, extension: ExtensionStatus | None
) -> Refusal | None:
    """The organisation's decision applies to a pending extension of a case still open."""
    if extension is None:
        return Refusal(
            RefusalReason.UNKNOWN_EXTENSION,
            "Không có đề nghị gia hạn này / No such extension request",
            version,
        )
    if closed := _closed(status, version):
        return closed
    if extension is not ExtensionStatus.PENDING:
        return Refusal(
            RefusalReason.EXTENSION_DECIDED,
            f"Đề nghị gia hạn đã được quyết định / The extension request was {extension} already",
            version,
        )
    return None


def answer_refusal(*, status: CaseStatus, version: int, answered_version: int) -> Refusal | None:
    """An answer is to an open case, at the version the agency read: answers are attached to
    the points of exactly that version (the organisation may amend until acknowledged)."""
    if closed := _closed(status, version):
        return closed
    if answered_version != version:
        return version_mismatch(version, answered_version)
    return None


def extended_rule(rule: DueDateRule, new_due: date) -> DueDateRule:
    """How a due date moved by a granted extension was computed."""
    return rule.model_copy(
        update={
            "source": "extension granted",
            "explanation": (
                f"Gia hạn đến {new_due:%d/%m/%Y} theo đề nghị của cơ quan, được tổ chức gửi kiến"
                f" nghị chấp thuận / Extended to {new_due.isoformat()} at the agency's request,"
                " granted by the submitting organisation"
            ),
            "skipped": (),
        }
    )


def overdue_ends(*, overdue: bool, new_due: date, now: datetime) -> bool:
    """An extension to a date still to come ends the case's being overdue."""
    return overdue and new_due >= now.astimezone(VIETNAM).date()


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


def step_of(key: str) -> tuple[Step, int]:
    """A planned step's kind and, for a reminder, its days left (``ScheduledStep.key`` read
    back)."""
    if key.startswith(f"{Step.REMINDER.value}-"):
        return Step.REMINDER, int(key.removeprefix(f"{Step.REMINDER.value}-"))
    return Step(key), 0


def step_detail(step: Step, *, days_before: int, due_date: date, escalated_to: str | None) -> str:
    """What a fired step says in the case's history (the agencies' change feed)."""
    if step is Step.REMINDER:
        return f"{days_before} ngày / days left"
    if step is Step.OVERDUE:
        return f"quá hạn {due_date:%d/%m/%Y} / overdue"
    return escalated_to or "không có cấp trên / no higher Front level"
