"""A critique's lifecycle as the services share it: where a case stands, and what can happen to
it. (The transitions themselves, and which service decides each, are added below.)"""

from __future__ import annotations

import enum


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
