"""The real engines for integration and end-to-end tests: PostgreSQL and Kafka, started by the
project's own scripts on free loopback ports, with throwaway data, and stopped by their PIDs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "infra" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Process:
    """A child process started by the tests, stopped by its PID and only by it."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Process:
    log_path = log_dir / f"{name}.log"
    log: IO[bytes] = log_path.open("ab")
    popen = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    log.close()
    return Process(name, popen, log_path)


@dataclass
class Engines:
    pg_port: int
    kafka_port: int
    workdir: Path
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def database_url(self, database: str) -> str:
        return f"postgresql://supervision@127.0.0.1:{self.pg_port}/{database}"

    async def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        connection = await asyncpg.connect(self.database_url("postgres"))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.database_url(name)

    def pg_env(self) -> dict[str, str]:
        return {"SUPERVISION_PG_HOST": "127.0.0.1", "SUPERVISION_PG_PORT": str(self.pg_port)}


def start_engines(stack: ExitStack) -> Engines:
    workdir = Path(tempfile.mkdtemp(prefix="supervision-test-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data directory
    stack.callback(lambda: subprocess.run(["rm", "-rf", str(workdir)], check=False))
    engines = Engines(pg_port=free_port(), kafka_port=free_port(), workdir=workdir)
    pg = start(
        "postgres",
        [str(BIN / "postgres-server")],
        {**engines.pg_env(), "SUPERVISION_PG_DATA_DIR": str(workdir / "postgres")},
        workdir,
    )
    stack.callback(pg.stop, signal.SIGINT)
    kafka = start(
        "kafka",
        [str(BIN / "kafka-server")],
        {
            "SUPERVISION_KAFKA_PORT": str(engines.kafka_port),
            "SUPERVISION_KAFKA_CONTROLLER_PORT": str(free_port()),
            "SUPERVISION_KAFKA_DATA_DIR": str(workdir / "kafka"),
        },
        workdir,
    )
    stack.callback(kafka.stop, signal.SIGTERM)
    engines.processes = {"postgres": pg, "kafka": kafka}
    for process, argv in (
        (pg, [str(BIN / "postgres-wait"), "60"]),
        (kafka, [str(BIN / "kafka-wait"), "120", engines.kafka_bootstrap]),
    ):
        waited = subprocess.run(
            argv, env={**os.environ, **engines.pg_env()}, capture_output=True, check=False
        )
        if waited.returncode != 0:
            raise RuntimeError(
                f"{process.name} did not start:\n{waited.stderr.decode()}\n{process.log_tail()}"
            )
    return engines


@dataclass
class OwnKafka:
    """A Kafka broker this module may stop and start again on the same data and ports."""

    port: int
    controller_port: int
    workdir: Path
    process: Process | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start(
            "kafka-own",
            [str(BIN / "kafka-server")],
            {
                "SUPERVISION_KAFKA_PORT": str(self.port),
                "SUPERVISION_KAFKA_CONTROLLER_PORT": str(self.controller_port),
                "SUPERVISION_KAFKA_DATA_DIR": str(self.workdir / "kafka"),
            },
            self.workdir,
        )
        waited = subprocess.run(
            [str(BIN / "kafka-wait"), "120", self.bootstrap],
            capture_output=True,
            check=False,
        )
        if waited.returncode != 0:
            raise RuntimeError(f"Kafka did not start:\n{self.process.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signal.SIGTERM, timeout=60)
