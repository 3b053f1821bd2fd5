"""The criticism window of a draft (services.tracking.criticism_window)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.tracking.criticism_window import PlannedBeforeReceipt, WindowPolicy, window

LAW = WindowPolicy()


def test_fifteen_days_counted_from_the_day_after_receipt_are_enough() -> None:
    # received 1 March (Vietnam), planned 16 March: 2..16 March is 15 days
    given = window(datetime(2027, 3, 1, 9, tzinfo=UTC), date(2027, 3, 16), LAW)
    assert given.received_on == date(2027, 3, 1)
    assert given.days_given == 15
    assert not given.sent_late
    assert given.closes_on == date(2027, 3, 15)
    assert given.latest_receipt_on == date(2027, 3, 1)
    assert "đủ 15 ngày luật định" in given.explanation
    assert given.explanation.endswith("at least the 15 the law requires")


def test_a_day_short_is_sent_late_and_says_by_when_it_was_due() -> None:
    given = window(datetime(2027, 3, 2, 9, tzinfo=UTC), date(2027, 3, 16), LAW)
    assert given.days_given == 14
    assert given.sent_late
    assert (
        "fewer than the 15 the law requires (due to the Front by 2027-03-01)" in given.explanation
    )
    assert given.explanation.startswith(
        "Mặt trận nhận ngày 02/03/2027, dự kiến trình ngày 16/03/2027"
    )


def test_receipt_is_dated_in_vietnam_time() -> None:
    # 18:30 UTC on 28 Feb is 01:30 on 1 March in Hà Nội: received on 1 March
    given = window(datetime(2027, 2, 28, 18, 30, tzinfo=UTC), date(2027, 3, 16), LAW)
    assert given.received_on == date(2027, 3, 1)
    assert not given.sent_late
    before = window(datetime(2027, 2, 28, 16, 59, tzinfo=UTC), date(2027, 3, 15), LAW)
    assert before.received_on == date(2027, 2, 28)
    assert before.days_given == 15


def test_the_minimum_is_configurable_and_a_planned_date_not_after_receipt_is_refused() -> None:
    given = window(
        datetime(2027, 3, 1, 9, tzinfo=UTC), date(2027, 3, 16), WindowPolicy(minimum_days=20)
    )
    assert given.sent_late
    assert given.latest_receipt_on == date(2027, 2, 24)
    with pytest.raises(PlannedBeforeReceipt, match="not after the Front's receipt on 2027-03-01"):
        window(datetime(2027, 3, 1, 9, tzinfo=UTC), date(2027, 3, 1), LAW)
    with pytest.raises(ValueError, match="timezone-aware"):
        window(datetime(2027, 3, 1, 9), date(2027, 3, 16), LAW)
    with pytest.raises(ValueError, match="minimum_days"):
        WindowPolicy(minimum_days=0)


def test_a_draft_sent_the_day_the_front_received_it_gave_no_day_and_is_late() -> None:
    sent = window(datetime(2027, 3, 1, 9, tzinfo=UTC), date(2027, 3, 1), LAW, sent=True)
    assert sent.days_given == 0
    assert sent.sent_late
    assert "đã trình ngày 01/03/2027" in sent.explanation
    assert "submitted on 2027-03-01: 0 days" in sent.explanation
    with pytest.raises(PlannedBeforeReceipt):
        window(datetime(2027, 3, 2, 9, tzinfo=UTC), date(2027, 3, 1), LAW, sent=True)
