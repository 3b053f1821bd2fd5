from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_grpc_stubs_match_the_protos(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "infra/scripts/gen_protos.py"), str(tmp_path / "grpc")],
        check=True,
    )
    committed = ROOT / "contracts" / "grpc"
    generated = sorted(p.relative_to(tmp_path / "grpc") for p in (tmp_path / "grpc").rglob("*.py*"))
    assert generated == sorted(p.relative_to(committed) for p in committed.rglob("*.py*")), (
        "run `make protos`"
    )
    stale = [
        str(p)
        for p in generated
        if not filecmp.cmp(committed / p, tmp_path / "grpc" / p, shallow=False)
    ]
    assert not stale, f"stale stubs {stale}: run `make protos`"
