"""Agency scorecards: how each agency answers the Front — on time, late, not at all — how long it
takes, and rates once there are enough records for a rate to mean something.

What is counted, and from where:

- ``answered_on_time``, ``answered_late`` and ``overdue`` count *published* records by their
  public status: they are the records anyone can read, so anyone can check the counts. A record
  the disclosure policy keeps unpublished (say, overdue records when ``publish_when_overdue`` is
  off) is counted in none of them, nor in ``open``: what the policy hides stays hidden.
- ``open`` counts critiques awaiting an answer and not overdue (nor withdrawn) from the raw read
  model, **published or not**. Most of them are unpublished: their content is published only when
  answered or overdue, but *how many* critiques an agency has in hand is itself public
  information (the Front's supervision is public, VFF Law art. 25(3), 32(3)), and without it a
  scorecard would flatter an agency that sits on its cases until they fall due. Only the number
  is disclosed, never which critiques or what they say. A record whose due date was extended
  after it fell overdue is open again, whether or not it was already published.
- ``median_days_to_answer`` is taken over the published answered records (on time or late), from
  ``submitted_at`` to ``answered_at``.
- Rates are shown only over a sample of at least :data:`SCORECARD_MIN_SAMPLE` records: below it
  the rate is null and ``insufficient_sample`` is true (one late answer out of one is not "100 %
  late"). The median is shown from the first answer: it is a time, not a verdict.

:func:`scorecard` is the pure computation; :func:`services.disclosure.queries.agency_reports`
and :func:`~services.disclosure.queries.agency_report` count with SQL.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from contracts.disclosure_api import AgencyScorecard, Rate

SCORECARD_MIN_SAMPLE = 5
"""The smallest sample a rate is published for."""

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Tally:
    """What the database counts for one agency."""

    answered_on_time: int = 0
    answered_late: int = 0
    overdue: int = 0
    open: int = 0
    answer_seconds: Sequence[float] = field(default_factory=tuple)
    """Submission to answer, in seconds, for each published answered record."""


def _round(value: float, places: str) -> float:
    return float(Decimal(repr(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def median_days(seconds: Sequence[float]) -> float | None:
    """The median time to answer in days, one decimal (half up); None without any answer."""
    if not seconds:
        return None
    return _round(statistics.median(seconds) / SECONDS_PER_DAY, "0.1")


def rate(numerator: int, sample: int, *, min_sample: int = SCORECARD_MIN_SAMPLE) -> Rate:
    """``numerator / sample`` to three decimals (half up), or null below the minimum sample."""
    if sample < max(min_sample, 1):
        return Rate(value=None, sample=sample, insufficient_sample=True)
    return Rate(value=_round(numerator / sample, "0.001"), sample=sample, insufficient_sample=False)


def scorecard(tally: Tally, *, min_sample: int = SCORECARD_MIN_SAMPLE) -> AgencyScorecard:
    answered = tally.answered_on_time + tally.answered_late
    return AgencyScorecard(
        answered_on_time=tally.answered_on_time,
        answered_late=tally.answered_late,
        overdue=tally.overdue,
        open=tally.open,
        median_days_to_answer=median_days(tally.answer_seconds),
        on_time_rate=rate(tally.answered_on_time, answered, min_sample=min_sample),
        late_rate=rate(tally.answered_late, answered, min_sample=min_sample),
        overdue_rate=rate(tally.overdue, answered + tally.overdue, min_sample=min_sample),
        min_sample=min_sample,
    )
