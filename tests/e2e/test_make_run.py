"""`make run`'s own script (infra/bin/run): everything starts on loopback, says where to look,
stops cleanly on Ctrl-C or SIGTERM, and a second run reuses what the first left."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.engines import ROOT, free_port

READY = "supervision is running"


def start_run(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(ROOT / "infra/bin/run")], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )


def wait_for(log: Path, process: subprocess.Popen[bytes], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            return output
        if process.poll() is not None:
            pytest.fail(f"make run exited early ({process.returncode}):\n{output[-4000:]}")
        time.sleep(0.3)
    pytest.fail(f"no {text!r} within {timeout}s:\n{log.read_text(errors='replace')[-4000:]}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_and_check(process: subprocess.Popen[bytes], log: Path, signum: int) -> None:
    children = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", log.read_text())]
    assert len(children) == 8  # postgres, kafka, zipkin, three services, the demo agency, welcome
    process.send_signal(signum)
    process.wait(60)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], log.read_text()[-3000:]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A scratch folder PostgreSQL's own user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="supervision-run-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_make_run_starts_everything_says_where_to_look_and_stops_cleanly(workdir: Path) -> None:
    tmp_path = workdir
    ports = {name: free_port() for name in ("pg", "kafka", "ctl", "sub", "dis", "grpc")}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SUPERVISION_", "OTEL_"))
    }
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",
            "PYTHONUNBUFFERED": "1",
            "SUPERVISION_RUN_DIR": str(tmp_path / "run"),
            "SUPERVISION_PG_PORT": str(ports["pg"]),
            "SUPERVISION_PG_DATA_DIR": str(tmp_path / "postgres"),
            "SUPERVISION_KAFKA_PORT": str(ports["kafka"]),
            "SUPERVISION_KAFKA_CONTROLLER_PORT": str(ports["ctl"]),
            "SUPERVISION_KAFKA_DATA_DIR": str(tmp_path / "kafka"),
            "SUPERVISION_SUBMISSION_HTTP_PORT": str(ports["sub"]),
            "SUPERVISION_DISCLOSURE_HTTP_PORT": str(ports["dis"]),
            "SUPERVISION_TRACKING_GRPC_PORT": str(ports["grpc"]),
        }
    )

    first_log = tmp_path / "first.log"
    first = start_run(env, first_log)
    try:
        output = wait_for(first_log, first, READY, timeout=180)
        for port in (ports["sub"], ports["dis"]):
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"
            assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["openapi"]
        assert f"http://127.0.0.1:{ports['dis']}/docs" in output
        assert f"127.0.0.1:{ports['grpc']}" in output
        tokens = re.findall(r"token: (sv_\w+_[\w-]+)", output)
        assert len(tokens) == 2
        stop_and_check(first, first_log, signal.SIGINT)
    finally:
        if first.poll() is None:
            first.kill()

    second_log = tmp_path / "second.log"
    second = start_run(env, second_log)
    try:
        output = wait_for(second_log, second, READY, timeout=180)
        assert re.findall(r"token: (sv_\w+_[\w-]+)", output) == tokens
        assert "initialising new cluster" not in output
        assert "formatting new KRaft storage" not in output
        stop_and_check(second, second_log, signal.SIGTERM)
    finally:
        if second.poll() is None:
            second.kill()
