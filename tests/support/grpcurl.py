"""Run grpcurl, a real third-party gRPC client, as `make tools` installed it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def binary() -> Path:
    """The grpcurl that infra/bin/tools installs (under SUPERVISION_CACHE_DIR, like it)."""
    cache = os.environ.get("SUPERVISION_CACHE_DIR") or str(REPO_ROOT / ".cache")
    return Path(cache) / "bin" / "grpcurl"


def grpcurl(
    address: str,
    *args: str,
    token: str | None = None,
    data: dict[str, Any] | None = None,
    timeout: float = 30,
    flags: Sequence[str] = (),
    cacert: Path | None = None,
    cert: tuple[Path, Path] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``grpcurl -plaintext [-H authorization] [-d @] <flags> address <args>``: ``args`` are what
    follows the address (``list``, ``describe X``, ``package.Service/Method``), since grpcurl
    reads no flag after it; ``data`` goes as JSON on stdin. With ``cacert``, over TLS instead
    (``-cacert``), presenting ``cert`` (certificate and key files) if given. Never raises on a
    failed call: check ``returncode`` and ``stderr``."""
    path = binary()
    if not os.access(path, os.X_OK):
        pytest.fail(f"grpcurl is not installed at {path}: run `make tools`", pytrace=False)
    command = [str(path), "-plaintext"] if cacert is None else [str(path), "-cacert", str(cacert)]
    if cert is not None:
        command += ["-cert", str(cert[0]), "-key", str(cert[1])]
    if token is not None:
        command += ["-H", f"authorization: Bearer {token}"]
    if data is not None:
        command += ["-d", "@"]
    return subprocess.run(
        [*command, *flags, address, *args],
        input=json.dumps(data) if data is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
