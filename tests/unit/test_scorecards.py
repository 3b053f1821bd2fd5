"""Agency scorecards: the median time to answer, the rates, and the minimum sample below which a
rate is not shown. Expected numbers are worked out by hand."""

from __future__ import annotations

import pytest

from contracts.disclosure_api import Rate
from services.disclosure.scorecards import (
    SCORECARD_MIN_SAMPLE,
    Tally,
    median_days,
    rate,
    scorecard,
)

DAY = 86_400.0
HOUR = 3_600.0


def test_the_default_minimum_sample_is_five() -> None:
    assert SCORECARD_MIN_SAMPLE == 5


@pytest.mark.parametrize(
    ("seconds", "days"),
    [
        ([], None),
        ([2 * DAY], 2.0),
        ([1 * DAY, 3 * DAY, 2 * DAY], 2.0),  # odd count: the middle one, whatever the order
        ([1 * DAY, 10 * DAY, 2 * DAY, 3 * DAY], 2.5),  # even count: mean of the two middle ones
        ([36 * HOUR], 1.5),
        ([30 * HOUR], 1.3),  # 1.25 days: half up, not to even
        ([HOUR], 0.0),  # 0.04 days
        ([3 * HOUR], 0.1),  # 0.125 days
        ([29 * DAY + 23 * HOUR, 30 * DAY + 1 * HOUR, 45 * DAY], 30.0),
    ],
)
def test_the_median_is_in_days_with_one_decimal(seconds: list[float], days: float | None) -> None:
    assert median_days(seconds) == days


def test_a_rate_is_rounded_to_three_decimals_half_up() -> None:
    assert rate(4, 6) == Rate(value=0.667, sample=6, insufficient_sample=False)
    assert rate(2, 6) == Rate(value=0.333, sample=6, insufficient_sample=False)
    assert rate(1, 8) == Rate(value=0.125, sample=8, insufficient_sample=False)
    assert rate(1, 16) == Rate(value=0.063, sample=16, insufficient_sample=False)  # 0.0625
    assert rate(0, 5) == Rate(value=0.0, sample=5, insufficient_sample=False)
    assert rate(5, 5) == Rate(value=1.0, sample=5, insufficient_sample=False)


def test_a_rate_is_null_below_the_minimum_sample_and_shown_from_it() -> None:
    assert rate(0, 0) == Rate(value=None, sample=0, insufficient_sample=True)
    assert rate(4, 4) == Rate(value=None, sample=4, insufficient_sample=True)
    assert rate(4, 5) == Rate(value=0.8, sample=5, insufficient_sample=False)
    assert rate(1, 2, min_sample=2) == Rate(value=0.5, sample=2, insufficient_sample=False)
    assert rate(0, 0, min_sample=0) == Rate(value=None, sample=0, insufficient_sample=True)


def test_a_scorecard_with_enough_answers_shows_every_rate() -> None:
    card = scorecard(
        Tally(
            answered_on_time=4,
            answered_late=2,
            overdue=3,
            open=7,
            answer_seconds=[10 * DAY, 2 * DAY, 31 * DAY, 40 * DAY, 5 * DAY, 12 * HOUR],
        )
    )
    assert (card.answered_on_time, card.answered_late, card.overdue, card.open) == (4, 2, 3, 7)
    # sorted: 0.5, 2, 5, 10, 31, 40 days -> (5 + 10) / 2
    assert card.median_days_to_answer == 7.5
    assert card.on_time_rate == Rate(value=0.667, sample=6, insufficient_sample=False)
    assert card.late_rate == Rate(value=0.333, sample=6, insufficient_sample=False)
    # overdue over everything whose due date has been met or missed: 3 / (6 + 3)
    assert card.overdue_rate == Rate(value=0.333, sample=9, insufficient_sample=False)
    assert card.min_sample == 5


def test_a_small_agency_gets_counts_and_median_but_no_rates_yet() -> None:
    card = scorecard(
        Tally(answered_on_time=2, answered_late=1, overdue=1, open=0, answer_seconds=[DAY] * 3)
    )
    assert card.median_days_to_answer == 1.0
    for rate_ in (card.on_time_rate, card.late_rate, card.overdue_rate):
        assert rate_.value is None
        assert rate_.insufficient_sample
    assert (card.on_time_rate.sample, card.overdue_rate.sample) == (3, 4)


def test_overdue_cases_can_reach_the_minimum_before_the_answers_do() -> None:
    card = scorecard(Tally(answered_on_time=3, answered_late=1, overdue=1, answer_seconds=[DAY]))
    assert card.on_time_rate == Rate(value=None, sample=4, insufficient_sample=True)
    assert card.overdue_rate == Rate(value=0.2, sample=5, insufficient_sample=False)


def test_an_agency_with_nothing_answered_has_no_median_and_no_rates() -> None:
    card = scorecard(Tally(open=3))
    assert card.open == 3
    assert card.median_days_to_answer is None
    assert card.on_time_rate == Rate(value=None, sample=0, insufficient_sample=True)


def test_the_minimum_sample_is_a_parameter() -> None:
    card = scorecard(
        Tally(answered_on_time=1, answered_late=1, answer_seconds=[DAY, 3 * DAY]), min_sample=2
    )
    assert card.on_time_rate == Rate(value=0.5, sample=2, insufficient_sample=False)
    assert card.min_sample == 2
    assert card.median_days_to_answer == 2.0
