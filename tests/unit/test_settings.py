from __future__ import annotations

import pytest

from services.platform import settings
from services.tracking.main import TrackingSettings


def test_a_service_without_its_database_refuses_to_start_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUPERVISION_TRACKING_DATABASE_URL", raising=False)
    monkeypatch.setenv("SUPERVISION_TRACKING_GRPC_PORT", "not-a-port")
    with pytest.raises(SystemExit) as refused:
        settings.load(TrackingSettings)
    message = str(refused.value)
    assert "SUPERVISION_TRACKING_DATABASE_URL" in message
    assert "SUPERVISION_TRACKING_GRPC_PORT" in message


def test_defaults_are_the_documented_loopback_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISION_TRACKING_DATABASE_URL", "postgresql://localhost/x")
    for name in ("SUPERVISION_TRACKING_GRPC_PORT", "SUPERVISION_KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    config = settings.load(TrackingSettings)
    assert (config.tracking_grpc_host, config.tracking_grpc_port) == ("127.0.0.1", 50051)
    assert config.kafka_bootstrap_servers == "127.0.0.1:9092"
