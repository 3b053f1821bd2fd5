"""Smoke test for the local Kafka broker (infra/bin/kafka-server) with aiokafka.

Not part of any test suite; run it by hand against a running broker:

    infra/bin/kafka-wait 60 && python infra/kafka/smoke.py [HOST:PORT]

HOST:PORT defaults to $SUPERVISION_KAFKA_HOST:$SUPERVISION_KAFKA_PORT
(127.0.0.1:9092). Needs aiokafka (tested with 0.14.0).

It checks, on a fresh topic each run (so it can be re-run on a reused data dir):
  a. the admin client creates a 3-partition topic;
  b. an idempotent producer (acks=all) sends 100 keyed messages with headers;
  c. a consumer group with enable_auto_commit=False processes half of them,
     commits explicitly and stops; a second consumer in the same group resumes
     exactly at the committed offsets (nothing lost, nothing redelivered);
  d. per key, messages arrive in the order they were produced.
Exit status 0 on success; an AssertionError otherwise.
"""

import asyncio
import os
import sys
import time
import uuid
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

N_MESSAGES = 100
N_KEYS = 7
PARTITIONS = 3

# (key, per-key sequence number, partition, offset) of every processed message
Seen = list[tuple[str, int, int, int]]


def log(msg: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {msg}", flush=True)


async def create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)]
        )
        described = await admin.describe_topics([topic])
        partitions = described[0]["partitions"]
        assert len(partitions) == PARTITIONS, described
    finally:
        await admin.close()
    log(f"(a) created topic {topic} with {PARTITIONS} partitions")


async def produce(bootstrap: str, topic: str) -> dict[str, int]:
    """Send N_MESSAGES; value = per-key sequence number. Returns {key: count}."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    seq: defaultdict[str, int] = defaultdict(int)
    try:
        for i in range(N_MESSAGES):
            key = f"key-{i % N_KEYS}"
            headers = [("seq", str(seq[key]).encode()), ("origin", b"smoke")]
            await producer.send_and_wait(
                topic, value=str(seq[key]).encode(), key=key.encode(), headers=headers
            )
            seq[key] += 1
    finally:
        await producer.stop()
    log(f"(b) produced {N_MESSAGES} messages over {N_KEYS} keys (idempotent, acks=all)")
    return dict(seq)


def make_consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def consume(consumer: AIOKafkaConsumer, limit: int, seen: Seen) -> dict[TopicPartition, int]:
    """Process up to `limit` messages; return {tp: next offset} for what was processed."""
    processed: dict[TopicPartition, int] = {}
    deadline = time.monotonic() + 30
    while len(seen) < limit and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        for tp, records in batches.items():
            for rec in records:
                if len(seen) >= limit:
                    break  # fetched but not processed: must come back after restart
                headers = dict(rec.headers)
                assert headers["seq"] == rec.value, rec
                assert headers["origin"] == b"smoke", rec
                seen.append((rec.key.decode(), int(rec.value), tp.partition, rec.offset))
                processed[tp] = rec.offset + 1
    return processed


async def consume_and_check(bootstrap: str, topic: str, produced: dict[str, int]) -> None:
    group = f"smoke-group-{uuid.uuid4().hex[:8]}"
    seen: Seen = []
    half = N_MESSAGES // 2

    t0 = time.monotonic()
    first = make_consumer(bootstrap, topic, group)
    await first.start()
    try:
        processed = await consume(first, half, seen)
        assert len(seen) == half, f"first consumer got {len(seen)} messages"
        await first.commit({tp: OffsetAndMetadata(off, "") for tp, off in processed.items()})
        committed = {tp: await first.committed(tp) for tp in processed}
        assert committed == processed, (committed, processed)
    finally:
        await first.stop()
    commits = sorted((tp.partition, off) for tp, off in processed.items())
    log(
        f"(c) consumer 1 processed {half}, committed (partition, offset) {commits} "
        f"(group join + consume took {time.monotonic() - t0:.2f}s)"
    )

    second = make_consumer(bootstrap, topic, group)
    await second.start()
    try:
        # Where the restarted consumer starts = what it read from the group's commits.
        await consume(second, N_MESSAGES, seen)
        for tp in (TopicPartition(topic, p) for p in range(PARTITIONS)):
            assert await second.committed(tp) == processed.get(tp), tp
    finally:
        await second.stop()
    offsets = [(p, o) for _, _, p, o in seen]
    assert len(seen) == N_MESSAGES, f"total {len(seen)} messages, expected {N_MESSAGES}"
    assert len(set(offsets)) == N_MESSAGES, "a message was delivered twice"
    for tp, off in processed.items():
        resumed = [o for _, _, p, o in seen[half:] if p == tp.partition]
        assert not resumed or min(resumed) == off, (tp, off, min(resumed))
    log(
        f"(c) consumer 2 (same group) resumed at committed offsets: got the other "
        f"{N_MESSAGES - half}, no duplicates, no gaps"
    )

    by_key: defaultdict[str, list[int]] = defaultdict(list)
    partition_of: defaultdict[str, set[int]] = defaultdict(set)
    for key, s, p, _ in seen:
        by_key[key].append(s)
        partition_of[key].add(p)
    for key, seqs in by_key.items():
        assert seqs == list(range(produced[key])), f"{key} out of order: {seqs}"
        assert len(partition_of[key]) == 1, f"{key} spread over {partition_of[key]}"
    log(
        f"(d) per-key order preserved for all {len(by_key)} keys; "
        f"partitions used: {sorted({p for _, _, p, _ in seen})}"
    )


async def main() -> None:
    if len(sys.argv) > 1:
        bootstrap = sys.argv[1]
    else:
        bootstrap = "{}:{}".format(
            os.environ.get("SUPERVISION_KAFKA_HOST", "127.0.0.1"),
            os.environ.get("SUPERVISION_KAFKA_PORT", "9092"),
        )
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    await create_topic(bootstrap, topic)
    produced = await produce(bootstrap, topic)
    await consume_and_check(bootstrap, topic, produced)
    log(f"OK against {bootstrap} in {time.monotonic() - t0:.2f}s")


if __name__ == "__main__":
    asyncio.run(main())
