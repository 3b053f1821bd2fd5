"""Write the README's table of transitions from contracts/transitions.py (a test fails when the
README's copy is stale)."""

from __future__ import annotations

from pathlib import Path

from contracts.transitions import readme_with_table

ROOT = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    readme = ROOT / "README.md"
    readme.write_text(readme_with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
