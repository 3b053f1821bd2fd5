-- The transparency log: every public document, in the order it was published, as the leaves of
-- an RFC 9162 Merkle tree, and the signed checkpoints (C2SP signed notes) of that tree.
-- Indexes are dense from 0: appends are serialised by a transaction-level advisory lock.
CREATE TABLE log_leaves (
    index bigint PRIMARY KEY CHECK (index >= 0),
    leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
    data bytea NOT NULL,
    critique_id uuid NOT NULL,
    appended_at timestamptz NOT NULL
);

CREATE INDEX log_leaves_by_critique ON log_leaves (critique_id, index);

CREATE TABLE log_checkpoints (
    size bigint PRIMARY KEY CHECK (size >= 0),
    root bytea NOT NULL CHECK (length(root) = 32),
    note text NOT NULL,
    signed_at timestamptz NOT NULL
);

-- Append-only by construction: no statement may change or remove a leaf or a checkpoint. This
-- stops mistakes; a deliberate change by someone who can drop the trigger is what the signed
-- checkpoints and the proofs make visible to everyone.
CREATE FUNCTION log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the transparency log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$;

CREATE TRIGGER log_leaves_append_only BEFORE UPDATE OR DELETE ON log_leaves
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_leaves_no_truncate BEFORE TRUNCATE ON log_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();
