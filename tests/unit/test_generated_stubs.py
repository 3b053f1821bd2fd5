from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sources(folder: Path) -> list[Path]:
    """The stubs under ``folder`` (``.py`` and ``.pyi``), not what Python compiled from them."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.suffix in {".py", ".pyi"})


def test_the_committed_grpc_stubs_match_the_protos(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "infra/scripts/gen_protos.py"), str(tmp_path / "grpc")],
        check=True,
    )
    committed = ROOT / "contracts" / "grpc"
    generated = sources(tmp_path / "grpc")
    assert generated == sources(committed), "run `make protos`"
    stale = [
        str(p)
        for p in generated
        if not filecmp.cmp(committed / p, tmp_path / "grpc" / p, shallow=False)
    ]
    assert not stale, f"stale stubs {stale}: run `make protos`"
