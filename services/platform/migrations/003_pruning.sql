-- What is done with is deleted (services.platform.pruning), in small batches found through
-- these indexes rather than by reading the tables: outbox rows once published and kept for
-- SUPERVISION_OUTBOX_RETENTION_SECONDS, inbox ids once applied longer ago than
-- SUPERVISION_INBOX_RETENTION_SECONDS.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- A row marked sent leaves a dead entry in outbox_pending that the relay's next SELECT reads
-- until a vacuum removes it: vacuumed after a thousand such rows, not after a fifth of the table
-- (the default), so that the relay never reads more than a few thousand of them, however large
-- the outbox's retention keeps it.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

CREATE INDEX inbox_applied ON inbox (applied_at);

-- Per consumer and partition, the highest offset whose inbox id was pruned. A consumer applies a
-- partition's records in order, so every record at or below it was dealt with: one delivered
-- again at its old offset (a group that lost its committed offsets reads its topics again from
-- the beginning) is dropped as the inbox would have dropped it. A message published again at a
-- new offset (a dead letter replayed) is recognised by its id while the inbox still holds it.
CREATE TABLE inbox_pruned (
    consumer text NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    PRIMARY KEY (consumer, topic, kafka_partition)
);
