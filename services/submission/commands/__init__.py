"""Submission's use cases: the rules, the transaction and the outbox call of each.

- :mod:`.submitting`: what a Front organisation does that submission decides: submit, attach.
- :mod:`.requests`: what it asks that tracking decides (amend, withdraw, decide an extension):
  recorded here as pending requests and sent on as request events, in one transaction.
- :mod:`.decisions`: what tracking decided and reported, applied to submission's view of each
  critique and to the organisation's pending requests, in the consumer's transaction.
"""

from services.submission.commands.requests import (
    AlreadyDecided,
    Asked,
    KeyReused,
    Settled,
    VersionMismatch,
    request_amendment,
    request_extension_decision,
    request_withdrawal,
)
from services.submission.commands.submitting import UnknownAgency, add_attachment, submit

__all__ = [
    "AlreadyDecided",
    "Asked",
    "KeyReused",
    "Settled",
    "UnknownAgency",
    "VersionMismatch",
    "add_attachment",
    "request_amendment",
    "request_extension_decision",
    "request_withdrawal",
    "submit",
]
