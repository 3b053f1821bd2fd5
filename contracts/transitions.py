"""Every transition of a critique's lifecycle, and the one service that decides it.

Each step is decided by exactly one service, on its own state; the others learn the outcome from
the decision's events and never act on a copy of another service's state. A request made at one
service for a step another decides (an amendment asked of submission, which only tracking can
decide because only tracking knows whether the agency has acknowledged) is held as *pending*
there, travels as a request event, and is answered as pending (``202``) until the decision's
event comes back: accepted, or refused with the reason.

The README's table of transitions is this table (``make transitions`` writes it; a test fails
when they differ), and the tests hold the services to it: a decision event is on a topic of the
deciding service, a request event reaches the decider's consumer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from contracts.events import (
    AgencyRegistered,
    AmendmentRequested,
    AttachmentAdded,
    CaseAcknowledged,
    CaseAmended,
    CaseAnswered,
    CaseEscalated,
    CaseOpened,
    CaseOverdue,
    CaseWithdrawn,
    CheckpointSigned,
    CritiqueSubmitted,
    DraftRegistered,
    DraftSentToAuthority,
    DraftVersionRegistered,
    DueDateChanged,
    Event,
    ExtensionDecided,
    ExtensionDecisionRequested,
    ExtensionRequested,
    ReminderDue,
    RequestRefused,
    WithdrawalRequested,
)
from contracts.lifecycle import Service


@dataclass(frozen=True)
class Transition:
    name: str
    asked_by: str
    """Who asks for it, and through which door."""
    decided_by: Service
    on_state: str
    """What the decider checks, on its own state."""
    decisions: tuple[type[Event], ...]
    """The events that carry the decision; the others learn the outcome from them."""
    request: type[Event] | None = None
    """When it is asked of another service than the decider: the event carrying the request to
    the decider, while the asking service holds it as pending."""
    told: str = ""
    """How the outcome reaches people, when not (only) by the decision's events."""

    @property
    def pending_at(self) -> str | None:
        """The service holding the request as pending meanwhile: the one that took it."""
        return None if self.request is None else self.request.topic.owner


TRANSITIONS: Final[tuple[Transition, ...]] = (
    Transition(
        "submit",
        "organisation: `POST /v1/critiques`",
        Service.SUBMISSION,
        "the token's organisation; valid, unclassified content; an agency tracking announced",
        (CritiqueSubmitted,),
    ),
    Transition(
        "attach a PDF",
        "organisation: `POST /v1/critiques/{id}/attachments`",
        Service.SUBMISSION,
        "its own critique, neither withdrawn nor with a withdrawal pending",
        (AttachmentAdded,),
    ),
    Transition(
        "open the case",
        "submission's event",
        Service.TRACKING,
        "no case yet for the critique; the due date from the deadline policy",
        (CaseOpened,),
    ),
    Transition(
        "amend",
        "organisation: `PUT /v1/critiques/{id}` (`If-Match`) → `202`, pending",
        Service.TRACKING,
        "not acknowledged, answered or withdrawn; `If-Match` is the case's current version",
        (CaseAmended, RequestRefused),
        request=AmendmentRequested,
    ),
    Transition(
        "withdraw",
        "organisation: `POST /v1/critiques/{id}/withdrawal` → `202`, pending",
        Service.TRACKING,
        "not acknowledged, answered or withdrawn",
        (CaseWithdrawn, RequestRefused),
        request=WithdrawalRequested,
    ),
    Transition(
        "acknowledge",
        "agency: `AcknowledgeCase`",
        Service.TRACKING,
        "its own case, not withdrawn; ends amending and withdrawing",
        (CaseAcknowledged,),
    ),
    Transition(
        "request an extension",
        "agency: `RequestExtension`",
        Service.TRACKING,
        "its own open case, no other request pending, a later date still to come",
        (ExtensionRequested,),
    ),
    Transition(
        "decide an extension",
        "organisation: `POST /v1/critiques/{id}/extensions/{eid}/decision` → `202`, pending",
        Service.TRACKING,
        "the extension still pending and the case still open; a grant moves the due date",
        (ExtensionDecided, DueDateChanged, RequestRefused),
        request=ExtensionDecisionRequested,
    ),
    Transition(
        "remind",
        "deadline scheduler, 7, 3 and 1 days before the due date",
        Service.TRACKING,
        "the case still open, the step still planned for the current due date",
        (ReminderDue,),
    ),
    Transition(
        "fall overdue",
        "deadline scheduler, when the due date ends (Vietnam time)",
        Service.TRACKING,
        "the case still open, the step still planned for the current due date",
        (CaseOverdue,),
    ),
    Transition(
        "escalate",
        "deadline scheduler, after overdue",
        Service.TRACKING,
        "the case still open; to the Front committee one level up",
        (CaseEscalated,),
    ),
    Transition(
        "answer",
        "agency: `SubmitAnswer` naming the `version` answered",
        Service.TRACKING,
        "its own open case at that version; every point once; explanations",
        (CaseAnswered,),
    ),
    Transition(
        "register an agency",
        "administrator: `supervision admin agency add`",
        Service.TRACKING,
        "the directory entry",
        (AgencyRegistered,),
    ),
    Transition(
        "register a draft",
        "drafting agency: `RegisterDraft`",
        Service.TRACKING,
        "the calling agency; the draft's type, title and issuing authority",
        (DraftRegistered,),
    ),
    Transition(
        "send the Front a version of a draft",
        "drafting agency: `AddDraftVersion` naming the version it follows",
        Service.TRACKING,
        "its own draft at that version, not yet sent to the issuing authority; a file whose"
        " numbering can be structured; a planned submission after today",
        (DraftVersionRegistered,),
    ),
    Transition(
        "send a draft to its issuing authority",
        "drafting agency: `RecordSubmissionToAuthority` with the file sent",
        Service.TRACKING,
        "its own draft, once, after a version reached the Front; the text compared with that"
        " version",
        (DraftSentToAuthority,),
    ),
    Transition(
        "publish",
        "the events above",
        Service.DISCLOSURE,
        "answered or overdue (the policy), not withdrawn by then; redacted; logged",
        (CheckpointSigned,),
        told="the public API, pages, feeds and exports; the transparency log",
    ),
)


def markdown_table() -> str:
    """The table as the README shows it."""
    rows = [
        "| transition | asked by | decided by | on what state | how the others learn |",
        "|---|---|---|---|---|",
    ]
    for transition in TRANSITIONS:
        learned = ", ".join(f"`{_name(event)}`" for event in transition.decisions)
        if transition.told:
            learned = f"{transition.told} ({learned})"
        if transition.request is not None:
            learned = (
                f"`{_name(transition.request)}`, pending at {transition.pending_at}; then {learned}"
            )
        rows.append(
            f"| {transition.name} | {transition.asked_by} | **{transition.decided_by}** |"
            f" {transition.on_state} | {learned} |"
        )
    return "\n".join(rows) + "\n"


def _name(event: type[Event]) -> str:
    """The event's name without prefix or version: ``critique.amendment_requested``."""
    return ".".join(event.ce_type.split(".")[-3:-1])


README_START = "<!-- transitions: generated from contracts/transitions.py -->\n"
README_END = "<!-- /transitions -->"


def readme_with_table(readme: str) -> str:
    """``readme`` with the table between its markers replaced by this one."""
    before, start, rest = readme.partition(README_START)
    _, end, after = rest.partition(README_END)
    if not start or not end:
        raise ValueError("the README has no transitions markers")
    return before + start + markdown_table() + end + after
