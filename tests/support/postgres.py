"""A PostgreSQL server of a test module's own, which it may stop and start again on the same data
directory and port (the session's server is shared by every module and stays up)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.support.engines import BIN, Engines, Process, free_port, start
from tests.support.services import Deployment, start_services, wait_ready


@dataclass
class OwnPostgres:
    port: int
    workdir: Path
    process: Process | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "SUPERVISION_PG_HOST": "127.0.0.1",
            "SUPERVISION_PG_PORT": str(self.port),
            "SUPERVISION_PG_DATA_DIR": str(self.workdir / "postgres"),
        }

    def url(self, database: str) -> str:
        return f"postgresql://supervision@127.0.0.1:{self.port}/{database}"

    async def create_databases(self, prefix: str) -> dict[str, str]:
        """One database for each service; returns their URLs."""
        urls = {}
        for name in ("submission", "tracking", "disclosure"):
            connection = await asyncpg.connect(self.url("postgres"))
            try:
                await connection.execute(f'CREATE DATABASE "{prefix}_{name}"')
            finally:
                await connection.close()
            urls[name] = self.url(f"{prefix}_{name}")
        return urls

    def start(self) -> None:
        self.process = start("postgres-own", [str(BIN / "postgres-server")], self.env, self.workdir)
        waited = subprocess.run(
            [str(BIN / "postgres-wait"), "60"],
            env={**os.environ, **self.env},
            capture_output=True,
            check=False,
        )
        if waited.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start:\n{self.process.log_tail()}")

    def stop(self, signum: int = signal.SIGINT) -> None:
        """SIGINT: fast shutdown (clients disconnected now); SIGQUIT: immediate, crash-like
        (the next start runs recovery)."""
        if self.process is not None:
            self.process.stop(signum)


@contextmanager
def own_postgres(prefix: str) -> Iterator[OwnPostgres]:
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix=f"supervision-{prefix}-"))
        workdir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data directory
        if not os.environ.get("SUPERVISION_TEST_KEEP"):  # kept for a post-mortem when set
            stack.callback(lambda: subprocess.run(["rm", "-rf", str(workdir)], check=False))
        postgres = OwnPostgres(port=free_port(), workdir=workdir)
        postgres.start()
        stack.callback(postgres.stop)
        yield postgres


@asynccontextmanager
async def deployed_on(
    engines: Engines, postgres: OwnPostgres, prefix: str
) -> AsyncIterator[Deployment]:
    """The three services, ready, on databases of ``postgres`` (Kafka: the session's), checking
    their dependencies every second so that readiness follows PostgreSQL closely."""
    urls = await postgres.create_databases(prefix)
    with ExitStack() as stack:
        deployment = start_services(
            stack,
            engines,
            urls,
            postgres.workdir / "services",
            extra_env={"SUPERVISION_HEALTH_CHECK_INTERVAL_SECONDS": "1"},
        )
        await wait_ready(deployment)
        yield deployment
