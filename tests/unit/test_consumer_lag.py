from __future__ import annotations

from services.platform.kafka import unread


def test_lag_is_the_end_offset_minus_the_committed_offset() -> None:
    assert unread(end=12, beginning=0, committed=5) == 7


def test_a_group_that_committed_nothing_has_everything_from_the_beginning_to_read() -> None:
    assert unread(end=12, beginning=4, committed=None) == 8


def test_what_retention_deleted_is_not_counted_as_lag() -> None:
    assert unread(end=12, beginning=10, committed=3) == 2


def test_a_group_at_the_end_has_no_lag() -> None:
    assert unread(end=12, beginning=0, committed=12) == 0
