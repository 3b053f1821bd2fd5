from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.engines import Engines, start_engines


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Spans of this test process, recorded by a real SDK tracer provider."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture(scope="session")
def engines() -> Iterator[Engines]:
    """Real PostgreSQL 15 and Apache Kafka for the whole session, on free loopback ports."""
    with ExitStack() as stack:
        yield start_engines(stack)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder, so ``-m unit`` / ``integration`` / ``e2e`` / ``faults``
    select them."""
    for item in items:
        for kind in ("unit", "integration", "e2e", "faults"):
            if f"/tests/{kind}/" in str(item.path):
                item.add_marker(getattr(pytest.mark, kind))
