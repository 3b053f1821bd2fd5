"""Which machine the figures come from."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

from tests.support.engines import ROOT


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def _memory() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return "unknown"
    found = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return f"{int(found.group(1)) / 1024 / 1024:.1f} GiB" if found else "unknown"


def _kafka_version() -> str:
    pom = (ROOT / "infra" / "kafka" / "pom.xml").read_text()
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    return found.group(1) if found else "unknown"


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _commit() -> str:
    found = subprocess.run(  # noqa: S603 -- a fixed command
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "unknown"


def describe() -> dict[str, str]:
    """CPU, cores, memory, kernel and versions (PostgreSQL's is added once it runs)."""
    return {
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cores (nproc)": str(len(os.sched_getaffinity(0))),
        "memory": _memory(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": _kafka_version(),
        "load average at start (1, 5, 15 min)": _load(),
        "commit": _commit(),
    }
