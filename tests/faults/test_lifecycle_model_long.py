"""The model-based lifecycle test of tests/e2e/test_lifecycle_model.py, for ten minutes and
more: batch after batch of new critiques, each with a new seed, consumers paused throughout, and
one service killed (SIGKILL) and started again half-way through most batches. After each batch,
with everything consumed, every critique of it is held to 2a to 2e of issue 12."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from tests.support.directory import register
from tests.support.engines import Engines
from tests.support.model import GROUPS, Model, check, finals, settled
from tests.support.services import Deployment, deployed

MINUTES = 10.0
"""How long the batches go on: the last one started finishes, so the run lasts longer."""


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    extra = {"SUPERVISION_SCHEDULER_INTERVAL_SECONDS": "0.2"}
    async with deployed(engines, "model-long", extra_env=extra) as running:
        yield running


@pytest.mark.timeout(1200)
async def test_ten_minutes_of_both_sides_pauses_and_crashes_never_break_a_promise(
    deployment: Deployment,
) -> None:
    seed = random.SystemRandom().randrange(2**32)
    model = Model(deployment, await register(deployment), random.Random(seed))
    began, batches = time.monotonic(), 0
    outcomes: Counter[tuple[str, str]] = Counter()
    while time.monotonic() - began < MINUTES * 60:
        crash = model.rng.choice((*GROUPS, None))
        batch = await model.run(critiques=10, rounds=80, crash=crash)
        await settled(model, batch, timeout=240)
        broken = check(model, await finals(model, batch))
        assert not broken, f"seed {seed}, batch {batches}:\n" + "\n".join(broken)
        outcomes.update((c.kind, c.outcome) for c in model.claims)
        model.claims.clear()
        batches += 1
        print(
            f"batch {batches}: {len(model.critiques)} critiques so far,"
            f" crash {crash}, pauses {dict(model.pauses)}",
            flush=True,
        )
    assert batches >= 5
    assert outcomes[("answer", "ok")]
    assert outcomes[("amend", "202")]
    assert sum(model.crashes.values()) >= 2
