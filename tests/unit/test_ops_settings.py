"""What ``supervision ops`` reads of the environment: the services' own variables, read through
their settings classes, and ``make run``'s fallbacks where the services have no default."""

from __future__ import annotations

import os

import pytest
import typer

from contracts.events import Topic
from services.cli.ops import environment
from services.cli.ops.settings import SERVICES, Consumer, load_settings
from services.disclosure import main as disclosure
from services.submission import consumers as submission_consumers
from services.tracking import main as tracking


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("SUPERVISION_"):
            monkeypatch.delenv(name)


def test_without_variables_ops_looks_where_make_run_starts_everything() -> None:
    deployment = environment.deployment()
    assert deployment.bootstrap == "127.0.0.1:9092"
    assert deployment.database_urls == {
        service: f"postgresql://supervision@127.0.0.1:5432/supervision_{service}"
        for service in SERVICES
    }
    assert deployment.submission_url == "http://127.0.0.1:8081"
    assert deployment.disclosure_url == "http://127.0.0.1:8080"
    assert deployment.tracking_address == "127.0.0.1:50051"
    assert deployment.replication_factor == 1


def test_the_databases_and_kafka_follow_the_engines_addresses_as_in_make_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {"PG_HOST": "10.0.0.5", "PG_PORT": "5433", "KAFKA_PORT": "19092"}.items():
        monkeypatch.setenv(f"SUPERVISION_{name}", value)
    monkeypatch.setenv("SUPERVISION_TRACKING_DATABASE_URL", "")  # empty: not given
    deployment = environment.deployment()
    assert deployment.bootstrap == "127.0.0.1:19092"
    assert deployment.database_urls["tracking"] == (
        "postgresql://supervision@10.0.0.5:5433/supervision_tracking"
    )


def test_the_services_variables_are_read_as_the_services_read_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPERVISION_KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("SUPERVISION_SUBMISSION_DATABASE_URL", "postgresql://db/submission")
    monkeypatch.setenv("SUPERVISION_SUBMISSION_HTTP_PORT", "18081")
    monkeypatch.setenv("SUPERVISION_TRACKING_GRPC_HOST", "tracking.internal")
    deployment = environment.deployment()
    assert deployment.bootstrap == "kafka-1:9092,kafka-2:9092"
    assert deployment.database_urls["submission"] == "postgresql://db/submission"
    assert deployment.submission_url == "http://127.0.0.1:18081"
    assert deployment.tracking_address == "tracking.internal:50051"


def test_the_consumer_groups_and_their_topics_are_those_the_services_subscribe_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPERVISION_DISCLOSURE_CONSUMER_GROUP", "disclosure-rebuilt")
    as_the_services_read_it = {
        "submission": submission_consumers.SUBSCRIPTION,
        "tracking": tracking.subscription(tracking.TrackingSettings(tracking_database_url="x")),
        "disclosure": disclosure.subscription(
            disclosure.DisclosureSettings(disclosure_database_url="x")
        ),
    }
    consumers = environment.deployment().consumers
    assert consumers == {
        service: Consumer(subscription.name, subscription.topics)
        for service, subscription in as_the_services_read_it.items()
    }
    assert consumers["disclosure"] == Consumer(
        "disclosure-rebuilt", (Topic.CRITIQUES, Topic.CASES, Topic.AGENCIES, Topic.DRAFTS)
    )


def test_a_value_a_service_would_refuse_is_refused_and_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUPERVISION_TRACKING_GRPC_PORT", "not-a-port")
    monkeypatch.setenv("SUPERVISION_SUBMISSION_RATE_BURST", "0")
    with pytest.raises(typer.Exit) as refused:
        load_settings()
    assert refused.value.exit_code == 2
    told = capsys.readouterr().err
    assert "SUPERVISION_TRACKING_GRPC_PORT" in told
    assert "SUPERVISION_SUBMISSION_RATE_BURST" in told
