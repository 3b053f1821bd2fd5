"""A critique's lifecycle as the services share it: where a case stands, and what can happen to
it, and the services that decide it (the transitions themselves, each with its one deciding
service, are in :mod:`contracts.transitions`)."""

from __future__ import annotations

import enum


class Service(enum.StrEnum):
    """The three services: each transition of the lifecycle has exactly one of them deciding."""

    SUBMISSION = "submission"
    TRACKING = "tracking"
    DISCLOSURE = "disclosure"


class CaseStatus(enum.StrEnum):
    """Where a case stands at tracking, the service that decides every step after submission."""

    AWAITING_ANSWER = "awaiting_answer"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"


class ExtensionStatus(enum.StrEnum):
    """Where an agency's request for a later due date stands."""

    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"


class Change(enum.StrEnum):
    """What happened to a case: its history, and the agencies' change feed."""

    OPENED = "opened"
    AMENDED = "amended"
    WITHDRAWN = "withdrawn"
    ACKNOWLEDGED = "acknowledged"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_GRANTED = "extension_granted"
    EXTENSION_REFUSED = "extension_refused"
    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    ANSWERED = "answered"


class RequestKind(enum.StrEnum):
    """A change the organisation asks for through submission, which tracking decides: it alone
    knows whether the agency has acknowledged or answered the critique meanwhile."""

    AMENDMENT = "amendment"
    WITHDRAWAL = "withdrawal"
    EXTENSION_DECISION = "extension_decision"


class RequestStatus(enum.StrEnum):
    """Where such a request stands: pending until tracking's decision is heard."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"


class RefusalReason(enum.StrEnum):
    """Why tracking refused a request (or a call of the agency)."""

    ACKNOWLEDGED = "acknowledged"
    """The agency acknowledged receipt: the critique can no longer be amended or withdrawn."""
    ANSWERED = "answered"
    """The agency answered it."""
    WITHDRAWN = "withdrawn"
    """It was withdrawn."""
    VERSION_MISMATCH = "version_mismatch"
    """It changed since the requester read it: the version named is not the current one."""
    EXTENSION_DECIDED = "extension_decided"
    """The extension request was decided already."""
    EXTENSION_PENDING = "extension_pending"
    """Another extension request awaits the organisation's decision."""
    WITHDRAWAL_PENDING = "withdrawal_pending"
    """The organisation asked to withdraw it: nothing else can change until that is decided
    (accepted, it is withdrawn; refused, it was acknowledged or answered)."""
    UNKNOWN_EXTENSION = "unknown_extension"
    """The case has no such extension request."""
    NO_CASE = "no_case"
    """Tracking has no case for the critique (its submission never reached tracking)."""
