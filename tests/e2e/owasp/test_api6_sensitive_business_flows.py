"""API6:2023 Unrestricted Access to Sensitive Business Flows — no flooding an agency.

The flow worth abusing is submission itself: critiques an agency must answer point by point
within a deadline, whose lateness is published. A script holding one organisation's token could
bury an agency under critiques. Each organisation is held to its own rate
(``SUPERVISION_SUBMISSION_RATE_PER_SECOND``, ``_BURST``): past it, every request, a valid
critique too, is refused 429 with ``Retry-After`` and nothing is stored, while the other
organisations submit as before. (The public API's own per-client limit, raised for the tests'
deployment, is resource consumption: API4.)"""

from __future__ import annotations

import asyncpg
import httpx

from tests.e2e.owasp.calls import assert_problem, bearer, submit
from tests.support.directory import register
from tests.support.journeys import critique_body
from tests.support.services import Deployment

MOST_REQUESTS = 1000
"""Far beyond the default burst (100) and what 20 a second refills meanwhile."""


async def test_an_organisation_flooding_submissions_is_held_back_and_others_are_not(
    deployment: Deployment, submission_client: httpx.AsyncClient
) -> None:
    flooding = await register(deployment)
    other = await register(deployment)
    headers = bearer(flooding.organisation_token)
    # Bodies that store nothing (no point), sent as fast as one client can.
    empty = critique_body(flooding, points=[])
    sent = 0
    while sent < MOST_REQUESTS:
        sent += 1
        reply = await submission_client.post("/v1/critiques", json=empty, headers=headers)
        if reply.status_code == 429:
            break
        assert_problem(reply, 422, "invalid-request")
    assert reply.status_code == 429, f"no limit after {sent} requests"
    assert sent > 1

    held = await submission_client.post(
        "/v1/critiques", json=critique_body(flooding), headers=headers
    )
    assert_problem(held, 429, "rate-limited")
    assert int(held.headers["retry-after"]) >= 1
    assert held.headers["cache-control"] == "no-store"
    theirs = await submit(submission_client, other)  # another organisation: as before

    connection = await asyncpg.connect(deployment.database_urls["submission"])
    try:
        stored = await connection.fetch(
            "SELECT organisation_id FROM critiques WHERE organisation_id = ANY($1::text[])",
            [flooding.organisation_id, other.organisation_id],
        )
    finally:
        await connection.close()
    assert [row["organisation_id"] for row in stored] == [other.organisation_id]
    assert theirs["organisation_id"] == other.organisation_id
