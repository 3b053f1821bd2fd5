"""Write the OpenAPI documents of the HTTP services (submission, disclosure) into
contracts/openapi/ (committed; a test checks they are fresh).

The documents come from the apps themselves, built as ``main.create_app`` builds them for
``serve`` (so they include ``/healthz`` and ``/readyz``) but never started: creating an app
connects to nothing, so the database URLs below are placeholders that are never used.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.disclosure import main as disclosure
from services.submission import main as submission

ROOT = Path(__file__).resolve().parents[2]
UNUSED_DATABASE = "postgresql://unused.invalid/unused"

APPS: dict[str, Callable[[], FastAPI]] = {
    "submission": lambda: submission.create_app(
        submission.SubmissionSettings(submission_database_url=UNUSED_DATABASE)
    ),
    "disclosure": lambda: disclosure.create_app(
        disclosure.DisclosureSettings(disclosure_database_url=UNUSED_DATABASE)
    ),
}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, create in APPS.items():
        path = out / f"{name}.json"
        path.write_text(render(create().openapi()), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "contracts" / "openapi")
