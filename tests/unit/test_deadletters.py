from __future__ import annotations

import dataclasses

from services.platform import deadletters
from services.platform.cloudevents import header_map

ORIGINAL = [("ce_id", b"0b8f"), ("ce_type", b"vn.mttq.supervision.critique.submitted.v1")]


def stamp() -> deadletters.Stamp:
    return deadletters.Stamp(
        error_kind="payload",
        error="critique.submitted.v1 payload is invalid",
        consumer="tracking",
        topic="submission.critiques",
        partition=2,
        offset=41,
    )


def test_what_the_consumer_stamps_on_a_dead_letter_reads_back_the_same() -> None:
    written = [*ORIGINAL, *stamp().headers()]
    assert deadletters.Stamp.read(header_map(written)) == stamp()


def test_every_stamp_header_carries_the_prefix_a_replay_removes() -> None:
    assert all(name.startswith(deadletters.HEADER_PREFIX) for name, _ in stamp().headers())


def test_a_long_reason_is_cut_in_its_header() -> None:
    long = dataclasses.replace(stamp(), error="x" * 10_000)
    read = deadletters.Stamp.read(header_map(long.headers()))
    assert len(read.error) == deadletters.MAX_ERROR_CHARS


def test_a_record_stamped_by_no_consumer_reads_as_an_empty_stamp() -> None:
    read = deadletters.Stamp.read(header_map(ORIGINAL))
    assert (read.consumer, read.error_kind, read.partition, read.offset) == ("", "", None, None)


def test_a_replay_carries_the_original_headers_and_names_the_dead_letter_once() -> None:
    replayed_before = [*ORIGINAL, (deadletters.REPLAY_OF, b"earlier"), *stamp().headers()]
    headers = deadletters.replay_headers(replayed_before, of="submission.critiques.dlq:0:7")
    assert headers == [*ORIGINAL, (deadletters.REPLAY_OF, b"submission.critiques.dlq:0:7")]


def test_a_dead_letter_topic_is_named_after_the_topic_it_was_read_from() -> None:
    dlq = deadletters.topic_for("tracking.cases")
    assert dlq == "tracking.cases.dlq"
    assert deadletters.is_dead_letter_topic(dlq)
    assert not deadletters.is_dead_letter_topic("tracking.cases")
    assert deadletters.origin_of(dlq) == "tracking.cases"
