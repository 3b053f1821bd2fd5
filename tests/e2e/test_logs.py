"""What the services log, as an operator reads it: one JSON object per line, with the trace of
the request it belongs to, and nothing a person wrote."""

from __future__ import annotations

import json
from typing import Any

from tests.support.directory import register
from tests.support.journeys import answer, case_of, eventually, public_record, submit
from tests.support.services import Deployment

SECRET_TEXT = "Nội dung riêng tư số 0912 345 678 của bà Phạm Thị Lan"


def log_lines(deployment: Deployment) -> dict[str, list[dict[str, Any]]]:
    lines: dict[str, list[dict[str, Any]]] = {}
    for name, process in deployment.processes.items():
        text = process.log_path.read_text(errors="replace")
        lines[name] = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return lines


async def test_logs_are_json_lines_with_trace_ids_and_no_personal_data(
    deployment: Deployment,
) -> None:
    directory = await register(deployment)
    critique_id = await submit(
        deployment,
        directory,
        title="Kiến nghị để xem nhật ký vận hành",
        points=[{"number": 1, "text": SECRET_TEXT}],
    )
    await answer(deployment, directory, await case_of(deployment, directory, critique_id))
    await eventually(lambda: public_record(deployment, critique_id))

    for name, process in deployment.processes.items():
        text = process.log_path.read_text(errors="replace")
        assert SECRET_TEXT not in text, name
        assert "0912 345 678" not in text, name
        assert "Phạm Thị Lan" not in text, name
        structured = [line for line in text.splitlines() if line.startswith("{")]
        assert structured, f"{name} wrote no JSON lines"
        for line in structured:
            entry = json.loads(line)
            assert {"time", "level", "logger", "message"} <= entry.keys(), line
    traced = [
        entry
        for entries in log_lines(deployment).values()
        for entry in entries
        if "trace_id" in entry
    ]
    assert traced, "no log line carries a trace id"
    assert all(len(e["trace_id"]) == 32 and len(e["span_id"]) == 16 for e in traced)
