"""Write the AsyncAPI document of the events, contracts/asyncapi.json (committed; a test checks
it is fresh), with services.platform.asyncapi.

Who receives what comes from each service's consumer subscription, built as its ``main`` builds
it but with the default policies: a policy changes what a handler does, not which events it
reads. The document's version is the project's (pyproject.toml).
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from services.disclosure import consumers as disclosure
from services.disclosure.domain import DisclosurePolicy
from services.platform import asyncapi
from services.platform.consumer import Subscription
from services.submission import consumers as submission
from services.tracking import consumers as tracking
from services.tracking import schedule
from services.tracking.deadlines import DeadlinePolicy
from services.tracking.domain import SchedulePolicy

ROOT = Path(__file__).resolve().parents[2]
NAME = "asyncapi.json"

SUBSCRIPTIONS: dict[str, Subscription] = {
    "submission": submission.SUBSCRIPTION,
    "tracking": tracking.subscription(
        DeadlinePolicy(), SchedulePolicy(), clock=schedule.system_clock
    ),
    "disclosure": disclosure.subscription(DisclosurePolicy()),
}


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        return str(tomllib.load(pyproject)["project"]["version"])


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / NAME
    path.write_text(render(asyncapi.document(SUBSCRIPTIONS, version=version())), encoding="utf-8")
    return path


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "contracts")
