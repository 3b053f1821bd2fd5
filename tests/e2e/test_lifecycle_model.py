"""The lifecycle's promises between the services, found by a model-based test rather than by
replaying known races: both sides act on the same critiques at the same moments, deadlines
fire, consumers are paused; afterwards every critique is held to 2a to 2e of issue 12
(tests/support/model.py). A fixed seed here; a run of ten minutes and more in ``make
test-faults`` (tests/faults/test_lifecycle_model_long.py)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from tests.support.directory import register
from tests.support.engines import Engines
from tests.support.model import Model, check, finals, settled
from tests.support.services import Deployment, deployed

SEED = 20261201
FAST_SCHEDULER = {"SUPERVISION_SCHEDULER_INTERVAL_SECONDS": "0.2"}


@pytest.fixture(scope="module")
async def deployment(engines: Engines) -> AsyncIterator[Deployment]:
    async with deployed(engines, "model", extra_env=FAST_SCHEDULER) as running:
        yield running


async def test_both_sides_acting_at_once_never_break_a_promise_of_the_lifecycle(
    deployment: Deployment,
) -> None:
    model = Model(deployment, await register(deployment), random.Random(SEED))
    batch = await model.run(critiques=12, rounds=90)
    await settled(model, batch)
    broken = check(model, await finals(model, batch))
    assert not broken, "\n".join(broken)
    # The run did what it is for: both sides were told things, requests were refused and
    # accepted, answers were refused for an outdated version, and consumers were paused.
    outcomes = {(c.kind, c.outcome) for c in model.claims}
    assert ("answer", "ok") in outcomes
    assert ("acknowledge", "ok") in outcomes
    assert ("amend", "202") in outcomes
    assert sum(model.pauses.values()) > 0
