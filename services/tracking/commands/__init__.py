"""Tracking's use cases. Tracking decides every step of a critique after its submission
(contracts/transitions.py): the agency's (acknowledge, ask for more time, answer), the
organisation's requests that reach it through submission (amend, withdraw, decide an
extension), and the deadlines'. Each is decided here, on tracking's own case, locked for the
transaction that records the step, its history entry and its event (outbox): no step is ever
decided on a copy, and none is undone by a request decided later. Drafts, their versions and
their submission to the issuing authority are decided here too (``drafts``), for the drafting
agency.

The gRPC entry point and the deadline scheduler call the functions taking a pool (each opens its
transaction); the consumer calls those taking a connection, in its batch transaction with the
inbox.
"""

from __future__ import annotations

from services.tracking.commands.agency import acknowledge, answer, request_extension
from services.tracking.commands.cases import open_case, register_agency
from services.tracking.commands.drafts import add_version, record_submission, register_draft
from services.tracking.commands.requests import (
    decide_amendment,
    decide_extension,
    decide_withdrawal,
)
from services.tracking.commands.steps import fire_due

__all__ = [
    "acknowledge",
    "add_version",
    "answer",
    "decide_amendment",
    "decide_extension",
    "decide_withdrawal",
    "fire_due",
    "open_case",
    "record_submission",
    "register_agency",
    "register_draft",
    "request_extension",
]
