"""The services sample as the standard variables say: with parent-based sampling, a journey's
trace is kept or dropped whole, each hop following the decision in the traceparent it received."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json
from opentelemetry import trace
from services.platform import telemetry

telemetry.setup("probe")
tracer = trace.get_tracer("probe")
decisions = {}
with tracer.start_as_current_span("root") as span:
    decisions["root"] = span.is_recording()
for flags in ("01", "00"):
    parent = telemetry.extract({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-{flags}"})
    with tracer.start_as_current_span("hop", context=parent) as span:
        decisions[flags] = span.is_recording()
print(json.dumps(decisions))
"""


def _decisions(**variables: str) -> dict[str, bool]:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", **variables}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    decided: dict[str, bool] = json.loads(done.stdout.splitlines()[-1])
    return decided


def test_parent_based_ratio_keeps_or_drops_a_trace_whole() -> None:
    decided = _decisions(
        OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0"
    )
    # A new trace is sampled at the ratio (0 here); a hop follows the sender's flag either way.
    assert decided == {"root": False, "01": True, "00": False}


def test_by_default_every_trace_is_recorded() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_TRACES_SAMPLER")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**env, "OTEL_TRACES_EXPORTER": "none"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == {"root": True, "01": True, "00": False}
