"""The transparency log as the public sees it: the real ``supervision verify`` command line, and
waiting until a critique's leaves are under a signed checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

from tests.support.journeys import eventually
from tests.support.services import Deployment


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    """``supervision verify …`` as a separate process, as a member of the public runs it."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "verify", *args],
        env=os.environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def logged_and_signed(deployment: Deployment, critique_id: str) -> dict[str, Any]:
    """The critique's leaves, once a checkpoint covering them has been signed: their
    ``indexes``, the checkpoint's ``size`` and the ``checkpoint`` note itself."""
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as http:

        async def covered() -> dict[str, Any] | None:
            leaves = await http.get(f"/v1/log/critiques/{critique_id}")
            checkpoint = await http.get("/v1/log/checkpoint")
            if leaves.status_code != 200 or checkpoint.status_code != 200:
                return None
            indexes = [leaf["index"] for leaf in leaves.json()["leaves"]]
            size = int(checkpoint.text.splitlines()[1])
            if not indexes or max(indexes) >= size:
                return None
            return {"indexes": indexes, "size": size, "checkpoint": checkpoint.text}

        return await eventually(covered)
