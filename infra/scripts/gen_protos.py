"""Generate the Python gRPC stubs from protos/ into contracts/grpc/ (committed; a test checks
they are fresh).

protoc's Python output imports sibling modules by their proto path (``from supervision.agency.v1
import …``); the stubs live under the ``contracts.grpc`` package, so those imports are rewritten.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
PACKAGE = "contracts.grpc"


def generate(out: Path) -> None:
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(path.relative_to(PROTOS)) for path in PROTOS.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as scratch:
        args = [
            "protoc",
            f"-I{PROTOS}",
            f"-I{well_known}",
            f"--python_out={scratch}",
            f"--grpc_python_out={scratch}",
            f"--mypy_out={scratch}",
            f"--mypy_grpc_out={scratch}",
            *sources,
        ]
        if protoc.main(args) != 0:
            sys.exit("protoc failed")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(scratch, out)
    top_packages = {path.parts[0] for path in (Path(s) for s in sources)}
    pattern = re.compile(rf"^(from|import) ({'|'.join(map(re.escape, top_packages))})\b", re.M)
    for path in out.rglob("*.py*"):
        text = pattern.sub(rf"\1 {PACKAGE}.\2", path.read_text())
        path.write_text(text)
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "contracts" / "grpc")
