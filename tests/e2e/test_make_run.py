"""`make run`'s own script (infra/bin/run): everything starts on loopback, says where to look,
stops cleanly on Ctrl-C or SIGTERM, and a second run reuses what the first left — the second in
TLS mode (`make run TLS=1`), agencies calling with client certificates."""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.engines import ROOT, free_port
from tests.support.grpcurl import grpcurl

READY = "supervision is running"


def ssl_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


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


def end(pid: subprocess.Popen[bytes]) -> None:
    """After a failure: stop what make run started as Ctrl-C would (honcho ends its children),
    killing honcho only if it does not stop; SIGKILL at once left every part running."""
    if pid.poll() is None:
        pid.send_signal(signal.SIGTERM)
        try:
            pid.wait(60)
        except subprocess.TimeoutExpired:
            pid.kill()


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
        end(pid=first)

    second_log = tmp_path / "second.log"
    second = start_run({**env, "SUPERVISION_RUN_TLS": "1"}, second_log)
    try:
        output = wait_for(second_log, second, READY, timeout=180)
        assert re.findall(r"token: (sv_\w+_[\w-]+)", output) == tokens
        assert "initialising new cluster" not in output
        assert "formatting new KRaft storage" not in output
        tls = tmp_path / "run" / "tls"
        ca = str(tls / "ca.pem")
        for port in (ports["sub"], ports["dis"]):
            assert f"https://127.0.0.1:{port}" in output
            assert httpx.get(f"https://127.0.0.1:{port}/readyz", verify=ssl_context(ca)).is_success
        # The call the welcome text shows, as printed: the demo agency's certificate, no token.
        shown = re.search(
            r"grpcurl -cacert (\S+) -cert (\S+) -key (\S+) \\\n(?:.*\| )?\s*(\S+) (\S+)", output
        )  # honcho starts each line with the time and "welcome.1 | "
        assert shown is not None, output[-3000:]
        assert shown.group(1) == ca
        listed = grpcurl(
            shown.group(4),
            shown.group(5),
            cacert=Path(shown.group(1)),
            cert=(Path(shown.group(2)), Path(shown.group(3))),
            data={},
        )
        assert listed.returncode == 0, listed.stderr
        plaintext = grpcurl(f"127.0.0.1:{ports['grpc']}", "list")
        assert plaintext.returncode != 0
        stop_and_check(second, second_log, signal.SIGTERM)
    finally:
        end(pid=second)
