"""A command of one group loads that group only: ``supervision admin …`` starts without the
agency's gRPC stubs, the SDK's HTTP client or Kafka."""

from __future__ import annotations

import json
import subprocess
import sys

from services.cli import GROUPS

PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules))))
from services.cli import app
app(sys.argv[1:])
"""


def loaded_by(*argv: str) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout.splitlines()[-1]))


def test_each_group_loads_only_its_own_module() -> None:
    for name, module in GROUPS.items():
        loaded = loaded_by(name, "--help")
        assert module in loaded
        others = {other for other in GROUPS.values() if other != module} & loaded
        assert not others, f"{name} loaded {others}"
        if name == "admin":
            heavy = {m for m in loaded if m.split(".")[0] in {"grpc", "aiokafka", "faststream"}}
            assert not heavy, f"admin loaded {sorted(heavy)[:5]}"


def test_the_top_level_help_lists_every_group() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    for name in GROUPS:
        assert f" {name} " in run.stdout
