"""The retentions of what is done with are settings, refused at start when they would delete
what is still needed."""

from __future__ import annotations

import pytest

from services.platform import settings
from services.platform.settings import CommonSettings

DAY = 86_400.0


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OUTBOX_RETENTION_SECONDS",
        "INBOX_RETENTION_SECONDS",
        "PRUNING_INTERVAL_SECONDS",
    ):
        monkeypatch.delenv(f"SUPERVISION_{name}", raising=False)


def test_published_outbox_rows_are_kept_a_day_and_inbox_ids_thirty_days_by_default() -> None:
    config = settings.load(CommonSettings)
    assert config.outbox_retention_seconds == DAY
    assert config.inbox_retention_seconds == 30 * DAY
    assert config.pruning_interval_seconds == 300


def test_the_retentions_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISION_OUTBOX_RETENTION_SECONDS", "3600")
    monkeypatch.setenv("SUPERVISION_INBOX_RETENTION_SECONDS", str(90 * DAY))
    config = settings.load(CommonSettings)
    assert (config.outbox_retention_seconds, config.inbox_retention_seconds) == (3600, 90 * DAY)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OUTBOX_RETENTION_SECONDS", "0"),
        ("OUTBOX_RETENTION_SECONDS", "-1"),
        ("INBOX_RETENTION_SECONDS", "0"),
        ("INBOX_RETENTION_SECONDS", "3600"),  # shorter than a day: retries after an outage
        ("PRUNING_INTERVAL_SECONDS", "0"),
        ("INBOX_RETENTION_SECONDS", "a month"),
    ],
)
def test_a_retention_that_would_delete_what_is_needed_refuses_to_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"SUPERVISION_{name}", value)
    with pytest.raises(SystemExit) as refused:
        settings.load(CommonSettings)
    assert f"SUPERVISION_{name}" in str(refused.value)
