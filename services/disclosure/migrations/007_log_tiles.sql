-- The hash of every complete subtree of the transparency log's Merkle tree: (height, index) is
-- the subtree of the 2^height leaves from index * 2^height (height 0: the leaf hashes). Each is
-- written in the transaction that appends the leaf completing it and never changes, so proofs,
-- checkpoints and C2SP tlog-tiles (a tile at level L is the rows of height 8L) read O(log n)
-- rows instead of every leaf.
CREATE TABLE log_subtrees (
    height smallint NOT NULL CHECK (height BETWEEN 0 AND 63),
    index bigint NOT NULL CHECK (index >= 0),
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (height, index)
);

-- Append-only, like the leaves and the checkpoints (004).
CREATE TRIGGER log_subtrees_append_only BEFORE UPDATE OR DELETE ON log_subtrees
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_subtrees_no_truncate BEFORE TRUNCATE ON log_subtrees
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();

-- The log's existing leaves get their subtrees here, from the leaf hashes the checkpoints were
-- signed over: each height is the pairs of the one below, SHA-256(0x01 || left || right) as in
-- RFC 9162 (services/disclosure/merkle.py computes the same for every later append).
INSERT INTO log_subtrees (height, index, hash)
    SELECT 0, index, leaf_hash FROM log_leaves;

DO $$
DECLARE
    below smallint := 0;
    added bigint;
BEGIN
    LOOP
        INSERT INTO log_subtrees (height, index, hash)
            SELECT below + 1, l.index / 2, sha256('\x01'::bytea || l.hash || r.hash)
            FROM log_subtrees l
            JOIN log_subtrees r ON r.height = below AND r.index = l.index + 1
            WHERE l.height = below AND l.index % 2 = 0;
        GET DIAGNOSTICS added = ROW_COUNT;
        EXIT WHEN added = 0;
        below := below + 1;
    END LOOP;
END
$$;

ANALYZE log_subtrees;
