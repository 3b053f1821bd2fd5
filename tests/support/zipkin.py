"""A real Zipkin server (the trace backend and UI that `make run` starts), run by the project's
own script on a free loopback port with in-memory storage, and read through its own HTTP API."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.engines import BIN, Process, free_port, start

# Every span of a trace as Zipkin's v2 JSON model has it: traceId, id, parentId, name
# (lower-cased by Zipkin), kind, localEndpoint.serviceName, tags, timestamp, duration.
ZipkinSpan = dict[str, Any]


@dataclass
class Zipkin:
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def spans_endpoint(self) -> str:
        """Where exporters send spans (``OTEL_EXPORTER_ZIPKIN_ENDPOINT``)."""
        return f"{self.url}/api/v2/spans"

    def ui_trace_url(self, trace_id: str) -> str:
        return f"{self.url}/zipkin/traces/{trace_id}"

    def exporter_env(self) -> dict[str, str]:
        """The services' environment to export to this Zipkin and, as `make run` does, to the
        OTLP/JSON files."""
        return {
            "OTEL_TRACES_EXPORTER": "zipkin_json,otlp_json_file",
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": self.spans_endpoint,
        }

    async def trace(self, trace_id: str) -> list[ZipkinSpan]:
        """``GET /api/v2/trace/{traceId}``: the trace's spans, or none while Zipkin has none."""
        async with httpx.AsyncClient(base_url=self.url) as client:
            reply = await client.get(f"/api/v2/trace/{trace_id}")
        if reply.status_code == 404:
            return []
        reply.raise_for_status()
        spans: list[ZipkinSpan] = reply.json()
        return spans

    async def traces(self, **query: str | int) -> list[list[ZipkinSpan]]:
        """``GET /api/v2/traces``: Zipkin's search (``serviceName``, ``spanName``,
        ``annotationQuery`` such as ``supervision.critique.id=<id>``, ``lookback``, ``limit``)."""
        async with httpx.AsyncClient(base_url=self.url) as client:
            reply = await client.get("/api/v2/traces", params=query)
        reply.raise_for_status()
        found: list[list[ZipkinSpan]] = reply.json()
        return found


def start_zipkin(stack: ExitStack, timeout: float = 180.0) -> Zipkin:
    """Start ``infra/bin/zipkin-server`` and wait until its health check says UP (on a cold cache
    the script first fetches the jar with Maven, hence the generous timeout)."""
    workdir = Path(tempfile.mkdtemp(prefix="supervision-zipkin-"))
    stack.callback(lambda: subprocess.run(["rm", "-rf", str(workdir)], check=False))
    port = free_port()
    process = start(
        "zipkin",
        [str(BIN / "zipkin-server")],
        {"SUPERVISION_ZIPKIN_HOST": "127.0.0.1", "SUPERVISION_ZIPKIN_PORT": str(port)},
        workdir,
    )
    stack.callback(process.stop, signal.SIGTERM)
    zipkin = Zipkin(port=port, process=process)
    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while True:
            if process.popen.poll() is not None:
                raise RuntimeError(
                    f"zipkin exited ({process.popen.returncode}):\n{process.log_tail()}"
                )
            try:
                if client.get(f"{zipkin.url}/health").json().get("status") == "UP":
                    return zipkin
            except (httpx.TransportError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"zipkin not up within {timeout}s:\n{process.log_tail()}")
            time.sleep(0.2)
