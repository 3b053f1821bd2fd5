"""The criticism window of a draft: how long the Front had before the draft went on. Pure, no I/O.

VFF Law art. 36(1): the drafting agency sends the draft to the Front at least 15 days before it
submits the draft to the issuing authority (``minimum_days``, configurable like every legal
number). Days are counted as the Civil Code counts a period (art. 147(1)): from the day after the
Front received it, in Vietnam time, so a draft received on the 1st for a submission planned on the
16th gave the Front 15 days. The Front's critique is due before the submission: the window closes
at the end of the day before the planned date.

A window the agency gave short is shown publicly as sent late (:attr:`CriticismWindow.sent_late`),
with a bilingual explanation that anyone can check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from contracts.vocabulary import VIETNAM


class WindowPolicy(BaseModel):
    """How many calendar days the Front must have had a draft before it goes on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    minimum_days: int = Field(default=15, ge=1, le=365)


@dataclass(frozen=True)
class CriticismWindow:
    received_on: date
    """The day the Front received the draft (version), in Vietnam time."""
    planned_on: date
    """The day the agency declared it will submit the draft to the issuing authority."""
    closes_on: date
    """The last day of the window: the day before the planned submission."""
    latest_receipt_on: date
    """The last day the Front could have received it for the window to be long enough."""
    days_given: int
    minimum_days: int
    explanation: str

    @property
    def sent_late(self) -> bool:
        return self.days_given < self.minimum_days


class PlannedBeforeReceipt(ValueError):
    """The planned submission is not after the day the Front received the draft."""


def window(
    received_at: datetime, planned_on: date, policy: WindowPolicy, *, sent: bool = False
) -> CriticismWindow:
    """The window a draft received at ``received_at`` (aware) gives before ``planned_on``.
    ``sent``: ``planned_on`` is the day it was in fact sent, which may be the day of receipt
    (no day at all), but not before it."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    received_on = received_at.astimezone(VIETNAM).date()
    if planned_on < received_on or (planned_on == received_on and not sent):
        raise PlannedBeforeReceipt(
            f"ngày dự kiến trình {planned_on:%d/%m/%Y} không sau ngày Mặt trận nhận"
            f" {received_on:%d/%m/%Y} / the planned submission on {planned_on.isoformat()} is"
            f" not after the Front's receipt on {received_on.isoformat()}"
        )
    days_given = (planned_on - received_on).days
    latest = planned_on - timedelta(days=policy.minimum_days)
    minimum = policy.minimum_days
    vi = (
        f"Mặt trận nhận ngày {received_on:%d/%m/%Y},"
        f" {'đã trình' if sent else 'dự kiến trình'} ngày {planned_on:%d/%m/%Y}:"
        f" {days_given} ngày, tính từ ngày hôm sau"
    )
    en = (
        f"received by the Front on {received_on.isoformat()},"
        f" {'submitted' if sent else 'to be submitted'} on"
        f" {planned_on.isoformat()}: {days_given} {'day' if days_given == 1 else 'days'},"
        " counted from the next day"
    )
    if days_given < minimum:
        vi += f"; ít hơn {minimum} ngày luật định (phải nhận chậm nhất ngày {latest:%d/%m/%Y})"
        en += (
            f"; fewer than the {minimum} the law requires"
            f" (due to the Front by {latest.isoformat()})"
        )
    else:
        vi += f"; đủ {minimum} ngày luật định"
        en += f"; at least the {minimum} the law requires"
    return CriticismWindow(
        received_on=received_on,
        planned_on=planned_on,
        closes_on=planned_on - timedelta(days=1),
        latest_receipt_on=latest,
        days_given=days_given,
        minimum_days=minimum,
        explanation=f"{vi} / {en}",
    )
