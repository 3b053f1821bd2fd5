"""The age of the oldest record a consumer has not consumed yet, as its own batches tell."""

from __future__ import annotations

from services.platform.metrics import Seen, oldest_age

NOW_MS = 1_800_000_000_000


def test_a_partition_without_lag_has_nothing_waiting() -> None:
    assert oldest_age(0, 12, Seen(5, NOW_MS - 3_600_000, exact=False), NOW_MS) == 0


def test_the_batch_in_hand_gives_its_first_records_age() -> None:
    assert oldest_age(4, 12, Seen(12, NOW_MS - 90_000, exact=True), NOW_MS) == 90


def test_between_batches_the_last_consumed_record_bounds_the_age() -> None:
    """Paused after committing offset 12: the record at 12 was written after the one at 11."""
    assert oldest_age(3, 12, Seen(12, NOW_MS - 7_200_000, exact=False), NOW_MS) == 7200


def test_nothing_is_made_up_for_a_partition_never_seen_or_seen_before_another_member() -> None:
    assert oldest_age(3, 12, None, NOW_MS) is None
    assert oldest_age(3, 12, Seen(8, NOW_MS - 1000, exact=False), NOW_MS) is None


def test_a_clock_behind_the_brokers_never_gives_a_negative_age() -> None:
    assert oldest_age(1, None, Seen(0, NOW_MS + 5000, exact=True), NOW_MS) == 0
