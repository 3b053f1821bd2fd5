"""The benchmark's preloaded history (``bench.history``) on the real PostgreSQL: as many rows as
it says, read back by the services' own functions as if the services had written them, each
record's public document the one disclosure would build from its raw read model, and the
transparency log the tree of those documents under a checkpoint that verifies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bench import history
from contracts.disclosure_api import PublicRecord
from contracts.lifecycle import CaseStatus, Change
from services.disclosure import commands as disclosure_commands
from services.disclosure import merkle, queries, transparency
from services.disclosure.checkpoints import Signer, SigningKeys, verify_checkpoint
from services.disclosure.domain import DisclosurePolicy, canonical
from services.disclosure.main import MIGRATIONS as DISCLOSURE
from services.platform import db
from services.submission import store as submission_store
from services.submission.main import MIGRATIONS as SUBMISSION
from services.tracking import store as tracking_store
from services.tracking.main import MIGRATIONS as TRACKING
from tests.support.engines import Engines

COUNT = 2_000
NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
ORIGIN = "supervision.mttq.vn/disclosure/bench-history"


@pytest.fixture(scope="module")
async def pools(engines: Engines) -> AsyncIterator[dict[str, db.Pool]]:
    """The three databases, migrated, with the history preloaded in chunks (the last short)."""
    urls = {
        name: await engines.migrated_database(name, folder, prefix=f"history_{name}")
        for name, folder in (
            ("submission", SUBMISSION),
            ("tracking", TRACKING),
            ("disclosure", DISCLOSURE),
        )
    }
    await history.preload(urls, COUNT, now=NOW, chunk=700)
    pools = {name: await db.create_pool(url, min_size=1, max_size=2) for name, url in urls.items()}
    try:
        yield pools
    finally:
        for pool in pools.values():
            await pool.close()


async def count(pool: db.Pool, table: str, where: str = "true") -> int:
    counted: int = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE {where}")
    return counted


async def test_every_database_holds_the_whole_history(pools: dict[str, db.Pool]) -> None:
    submission, tracking, disclosure = (pools[n] for n in ("submission", "tracking", "disclosure"))
    overdue = COUNT // 10

    assert await count(submission, "critiques") == COUNT
    assert await count(submission, "critiques", "status = 'answered'") == COUNT - overdue
    assert await count(submission, "critique_points") == 2 * COUNT
    assert await count(submission, "outbox", "published_at < now()") == COUNT
    assert await count(tracking, "cases") == COUNT
    assert await count(tracking, "cases", "overdue_at IS NOT NULL") == overdue
    assert await count(tracking, "case_history") == 3 * (COUNT - overdue) + 6 * overdue
    assert await count(tracking, "deadline_steps") == (COUNT - overdue) + 5 * overdue
    assert await count(disclosure, "records", "public_document IS NOT NULL") == COUNT
    assert await count(disclosure, "record_timeline") == 3 * COUNT
    assert await count(disclosure, "log_leaves") == COUNT
    for pool in pools.values():
        assert await count(pool, "inbox", "applied_at < now()") == COUNT

    # Nothing left to do: no step to fire, no event to send, every change number drawn.
    assert await count(tracking, "deadline_steps", "fired_at IS NULL") == 0
    assert await count(submission, "outbox", "published_at IS NULL") == 0
    assert await queries.last_change(disclosure) == COUNT
    assert await disclosure.fetchval("SELECT nextval('record_changes')") == COUNT + 1
    # Analysed: the planner knows how large the tables are.
    assert await tracking.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'cases'") == (
        COUNT
    )


async def test_the_services_read_a_preloaded_case_and_record(pools: dict[str, db.Pool]) -> None:
    submission, tracking, disclosure = (pools[n] for n in ("submission", "tracking", "disclosure"))
    answered, overdue = [
        await tracking.fetchrow("SELECT * FROM cases WHERE status = $1 LIMIT 1", status.value)
        for status in (CaseStatus.ANSWERED, CaseStatus.AWAITING_ANSWER)
    ]
    assert answered is not None
    assert overdue is not None

    case = await tracking_store.get_case(tracking, answered["id"], with_history=True)
    assert [p.disposition for p in case.answers] == ["accepted", "partly_accepted"]
    assert [h.change for h in case.history] == [Change.OPENED, Change.REMINDER, Change.ANSWERED]
    late = await tracking_store.get_case(tracking, overdue["id"], with_history=True)
    assert late.overdue_at is not None
    assert [h.change for h in late.history][-2:] == [Change.OVERDUE, Change.ESCALATED]

    rows = await submission.fetch(
        submission_store.SELECT_CRITIQUES + " WHERE c.id = $1", case.critique_id
    )
    [critique] = submission_store.load(rows)
    assert (critique.content.title, critique.due_date) == (case.title, case.due_date)
    assert critique.answers == case.answers

    published = await queries.record(disclosure, overdue["critique_id"])
    assert published is not None
    assert published.record.status == "overdue"
    assert published.record.agency.name == "Ủy ban nhân dân tỉnh " + overdue["agency_id"][-2:]
    found = await queries.records(
        disclosure,
        where=queries.RecordFilter(agency_id=answered["agency_id"], query="thu tuc hanh chinh"),
        after=None,
        limit=5,
    )
    assert found
    assert all(r.record.agency.id == answered["agency_id"] for r in found)


async def test_each_document_is_the_one_disclosure_would_publish(
    pools: dict[str, db.Pool],
) -> None:
    disclosure = pools["disclosure"]
    rows = await disclosure.fetch(
        "SELECT critique_id, public_document FROM records ORDER BY change_seq LIMIT 20"
    )
    rows += await disclosure.fetch(
        "SELECT critique_id, public_document FROM records WHERE public_status = 'overdue' LIMIT 5"
    )
    async with disclosure.acquire() as connection:
        for row in rows:
            [leaf] = await transparency.leaves_of(connection, row["critique_id"])
            assert canonical(PublicRecord.model_validate_json(leaf.document)) == leaf.document
            assert json.loads(leaf.document) == json.loads(row["public_document"])
            # Rebuilt from the raw read model, the same: nothing to publish again.
            async with connection.transaction():
                assert not await disclosure_commands.publish(
                    connection, [row["critique_id"]], policy=DisclosurePolicy(), now=NOW
                )


async def test_the_log_is_the_tree_of_the_published_documents(
    pools: dict[str, db.Pool],
) -> None:
    disclosure = pools["disclosure"]
    rows = await disclosure.fetch(
        "SELECT r.public_document, l.data FROM records r"
        " JOIN log_leaves l ON l.critique_id = r.critique_id ORDER BY r.change_seq"
    )
    assert len(rows) == COUNT
    assert all(json.loads(row["data"]) == json.loads(row["public_document"]) for row in rows)
    hashes = [merkle.leaf_hash(bytes(row["data"])) for row in rows]
    keys = SigningKeys([Signer.generate(ORIGIN)])

    note = await transparency.sign(disclosure, keys, origin=ORIGIN)

    assert note is not None
    signed = verify_checkpoint(note, keys.verifier_keys, origin=ORIGIN)
    assert (signed.size, signed.root) == (COUNT, merkle.root(hashes))
    for index in (0, 699, 700, COUNT - 1):
        proof = await transparency.inclusion(disclosure, index, COUNT)
        merkle.verify_inclusion(index, COUNT, hashes[index], proof.hashes, signed.root)
