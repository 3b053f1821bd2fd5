"""`ops status` puts a group's oldest unconsumed record against its topic's retention, and warns
(red, exit 1) once that record is half-way to being deleted unread."""

from __future__ import annotations

from datetime import UTC, datetime

from services.cli.ops.status import KafkaFacts, _oldest_note, at_risk

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
HOUR_MS = 3_600_000


def facts(kept_ms: int, age_seconds: float) -> KafkaFacts:
    stamp = int((NOW.timestamp() - age_seconds) * 1000)
    return KafkaFacts(
        lag={"disclosure": {"tracking.cases": 3}},
        dlq_sizes={},
        letters=[],
        unread=set(),
        retention={},
        oldest={"disclosure": {"tracking.cases": stamp}},
        kept_ms={"tracking.cases": kept_ms},
        handled={},
    )


def note(kafka: KafkaFacts) -> str:
    oldest = kafka.oldest["disclosure"]
    assert isinstance(oldest, dict)
    return _oldest_note("tracking.cases", oldest["tracking.cases"], kafka, NOW)


def test_a_topic_kept_for_ever_is_never_at_risk_however_old_the_record() -> None:
    kafka = facts(-1, 40 * 86400)
    assert note(kafka) == " (oldest 40d 0h, kept for ever)"
    assert at_risk(kafka, NOW) == []


def test_a_record_a_quarter_through_its_retention_is_shown_not_warned() -> None:
    kafka = facts(4 * HOUR_MS, 3600)
    assert note(kafka) == " (oldest 1h 00m of 4h 00m kept)"
    assert at_risk(kafka, NOW) == []


def test_a_record_half_way_to_deletion_is_warned_in_red() -> None:
    kafka = facts(4 * HOUR_MS, 2 * 3600 + 60)
    assert note(kafka) == "[red] (oldest 2h 01m of 4h 00m kept)[/red]"
    assert at_risk(kafka, NOW) == [("disclosure", "tracking.cases")]
