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

:func:`scorecard` is the pure computation; :func:`page` and :func:`one` run the SQL.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from contracts.disclosure_api import AgencyReport, AgencyScorecard, AgencyView, Rate, RecordStatus
from services.platform import db

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


# Agencies known to the public: those in tracking's directory, and any a published record names
# (its directory entry may not have arrived yet).
_KNOWN = """
    SELECT id FROM agencies
    UNION
    SELECT agency_id FROM records WHERE agency_id IS NOT NULL AND published_at IS NOT NULL
"""

_ON_TIME, _LATE, _OVERDUE = (
    RecordStatus.ANSWERED.value,
    RecordStatus.ANSWERED_LATE.value,
    RecordStatus.OVERDUE.value,
)

_TALLY = f"""
    SELECT k.id, a.name, a.level,
        count(r.critique_id) FILTER (
            WHERE r.published_at IS NOT NULL AND r.public_status = '{_ON_TIME}'
        ) AS answered_on_time,
        count(r.critique_id) FILTER (
            WHERE r.published_at IS NOT NULL AND r.public_status = '{_LATE}'
        ) AS answered_late,
        count(r.critique_id) FILTER (
            WHERE r.published_at IS NOT NULL AND r.public_status = '{_OVERDUE}'
        ) AS overdue,
        count(r.critique_id) FILTER (
            WHERE r.answered_at IS NULL AND r.overdue_at IS NULL AND r.withdrawn_at IS NULL
        ) AS open,
        coalesce(
            array_agg(extract(epoch FROM r.answered_at - r.submitted_at)::float8) FILTER (
                WHERE r.published_at IS NOT NULL
                  AND r.public_status IN ('{_ON_TIME}', '{_LATE}')
                  AND r.answered_at IS NOT NULL AND r.submitted_at IS NOT NULL
            ),
            '{{}}'
        ) AS answer_seconds
    FROM page k
    LEFT JOIN agencies a ON a.id = k.id
    LEFT JOIN records r ON r.agency_id = k.id
    GROUP BY k.id, a.name, a.level
    ORDER BY k.id
"""


def _report(row: db.Record) -> AgencyReport:
    return AgencyReport(
        agency=AgencyView(id=row["id"], name=row["name"], level=row["level"]),
        scorecard=scorecard(
            Tally(
                answered_on_time=row["answered_on_time"],
                answered_late=row["answered_late"],
                overdue=row["overdue"],
                open=row["open"],
                answer_seconds=tuple(row["answer_seconds"]),
            )
        ),
    )


async def page(executor: db.Executor, *, after: str | None, limit: int) -> list[AgencyReport]:
    """Known agencies with their scorecards, by id, after ``after``."""
    rows = await executor.fetch(
        f"""
        WITH page AS (
            SELECT id FROM ({_KNOWN}) known
            WHERE $1::text IS NULL OR id > $1
            ORDER BY id LIMIT $2
        )
        {_TALLY}
        """,
        after,
        limit,
    )
    return [_report(row) for row in rows]


async def one(executor: db.Executor, agency_id: str) -> AgencyReport | None:
    """One agency's scorecard, or None if no one knows the agency."""
    row = await executor.fetchrow(
        f"WITH page AS (SELECT id FROM ({_KNOWN}) known WHERE id = $1) {_TALLY}", agency_id
    )
    return None if row is None else _report(row)
