"""The real engines for integration and end-to-end tests: PostgreSQL and Kafka, started by the
project's own scripts on free loopback ports, with throwaway data, and stopped by their PIDs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.platform import db

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "infra" / "bin"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
_HANDED_OUT: set[int] = set()
_PORTS = random.Random()


def free_port() -> int:
    """A loopback port nothing listens on, for a process about to be started.

    Not one the kernel hands out (``bind(0)``): those come from the ephemeral range, which every
    outgoing connection takes its local port from too, so in the seconds before the process binds
    it, a client's connection to Kafka or PostgreSQL could take it, and the process would fail to
    start (a deployment once waited 90 s for a tracking that could not bind). A port below that
    range is only ever taken by a listener binding it by number; each is handed out once per
    session and checked free by binding it."""
    low = 20000 if _EPHEMERAL[0] > 21000 else _EPHEMERAL[1] + 1
    high = _EPHEMERAL[0] - 1 if _EPHEMERAL[0] > 21000 else 65535
    for _ in range(1000):
        port = _PORTS.randint(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port between {low} and {high}")


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

    async def migrated_database(self, component: str, folder: Path, prefix: str = "test") -> str:
        """A new database with ``component``'s migrations from ``folder`` applied; its URL."""
        url = await self.create_database(prefix)
        await db.migrate(url, component=component, folder=folder)
        return url

    @asynccontextmanager
    async def migrated_pool(
        self, component: str, folder: Path, *, prefix: str = "test", max_size: int
    ) -> AsyncIterator[db.Pool]:
        """A pool on a new database with ``component``'s migrations applied."""
        url = await self.migrated_database(component, folder, prefix)
        pool = await db.create_pool(url, min_size=1, max_size=max_size)
        try:
            yield pool
        finally:
            await pool.close()

    def pg_env(self) -> dict[str, str]:
        return {"SUPERVISION_PG_HOST": "127.0.0.1", "SUPERVISION_PG_PORT": str(self.pg_port)}


def start_engines(stack: ExitStack) -> Engines:
    workdir = Path(tempfile.mkdtemp(prefix="supervision-test-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data directory
    if not os.environ.get("SUPERVISION_TEST_KEEP"):  # kept for a post-mortem when set
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
    properties: dict[str, str] = field(default_factory=dict)
    """Broker settings beyond ``infra/bin/kafka-server``'s own."""

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
                "SUPERVISION_KAFKA_EXTRA_PROPERTIES": "\n".join(
                    f"{key}={value}" for key, value in self.properties.items()
                ),
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


@dataclass
class KafkaCluster:
    """A multi-node Kafka cluster of this test's own (KRaft, every node broker and controller,
    static voters) on free loopback ports, with replication factor 3 and min.insync.replicas 2
    by default, as production runs. A test may kill, stop and restart any node by its PID; a
    restarted node keeps its ports and data."""

    workdir: Path
    ports: dict[int, int]
    """node id → client port"""
    controller_ports: dict[int, int]
    replication_factor: int = 3
    min_insync_replicas: int = 2
    processes: dict[int, Process] = field(default_factory=dict)

    @classmethod
    def create(
        cls, workdir: Path, size: int = 3, replication_factor: int = 3, min_insync_replicas: int = 2
    ) -> KafkaCluster:
        nodes = range(1, size + 1)
        return cls(
            workdir=workdir,
            ports={node: free_port() for node in nodes},
            controller_ports={node: free_port() for node in nodes},
            replication_factor=replication_factor,
            min_insync_replicas=min_insync_replicas,
        )

    @property
    def nodes(self) -> list[int]:
        return sorted(self.ports)

    @property
    def bootstrap(self) -> str:
        """Every node, so clients find the cluster whichever nodes are down."""
        return ",".join(self.address(node) for node in self.nodes)

    def address(self, node: int) -> str:
        return f"127.0.0.1:{self.ports[node]}"

    def _env(self, node: int) -> dict[str, str]:
        quorum = ",".join(f"{n}@127.0.0.1:{self.controller_ports[n]}" for n in self.nodes)
        return {
            "SUPERVISION_KAFKA_NODE_ID": str(node),
            "SUPERVISION_KAFKA_PORT": str(self.ports[node]),
            "SUPERVISION_KAFKA_CONTROLLER_PORT": str(self.controller_ports[node]),
            "SUPERVISION_KAFKA_CONTROLLER_QUORUM": quorum,
            "SUPERVISION_KAFKA_DATA_DIR": str(self.workdir / f"kafka-{node}"),
            "SUPERVISION_KAFKA_REPLICATION_FACTOR": str(self.replication_factor),
            "SUPERVISION_KAFKA_MIN_INSYNC_REPLICAS": str(self.min_insync_replicas),
            "SUPERVISION_KAFKA_HEAP_OPTS": "-Xmx384m -Xms128m",
        }

    def _launch(self, node: int) -> None:
        running = self.processes.get(node)
        assert running is None or running.popen.poll() is not None, f"node {node} is running"
        self.processes[node] = start(
            f"kafka-{node}", [str(BIN / "kafka-server")], self._env(node), self.workdir
        )

    def _wait(self, node: int, timeout: float = 120) -> None:
        """Until the node serves clients: registered and unfenced, so the quorum is there."""
        waited = subprocess.run(
            [str(BIN / "kafka-wait"), str(timeout), self.address(node)],
            capture_output=True,
            check=False,
        )
        if waited.returncode != 0:
            raise RuntimeError(
                f"Kafka node {node} did not start:\n{waited.stderr.decode()}\n"
                f"{self.processes[node].log_tail()}"
            )

    def start(self) -> None:
        """Start every node, then wait for each: a node needs a majority of the controllers up
        before it serves anyone, so they cannot be started one after the other."""
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            self._wait(node)

    def kill(self, node: int, signum: int = signal.SIGKILL) -> int:
        """Stop one node with ``signum`` (SIGKILL: no shutdown at all); return its exit status."""
        return self.processes[node].stop(signum, timeout=60)

    def restart(self, node: int) -> None:
        """Start a stopped node again on its ports and data, and wait until it serves."""
        self._launch(node)
        self._wait(node)

    def stop(self) -> None:
        """Kill every node: the data is thrown away, and nodes shut down cleanly one after the
        other wait long for a quorum that is leaving too."""
        for process in self.processes.values():
            process.stop(signal.SIGKILL)

    async def describe(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        """Topic metadata (partitions with leader, replicas, isr) as a running node reports it."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            described: list[dict[str, Any]] = await admin.describe_topics(topics)
            return described
        finally:
            await admin.close()

    async def leaders(self, topic: str) -> dict[int, int]:
        """partition → the node leading it."""
        (described,) = await self.describe([topic])
        return {p["partition"]: p["leader"] for p in described["partitions"]}

    async def wait_in_sync(self, timeout: float = 120) -> None:
        """Until every partition of every topic has all its replicas in sync again (a node that
        came back has caught up), so that losing another node keeps min.insync.replicas."""
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(KafkaError):
                    partitions = [
                        partition
                        for topic in await self.describe()
                        for partition in topic["partitions"]
                    ]
                    if partitions and all(
                        sorted(p["isr"]) == sorted(p["replicas"]) and p["leader"] >= 0
                        for p in partitions
                    ):
                        return
                await asyncio.sleep(0.5)
