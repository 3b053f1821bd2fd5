-- Amendments, withdrawals and decisions on extensions are asked of submission but decided by
-- tracking, which alone knows whether the agency has acknowledged or answered meanwhile. Each
-- is held here as pending until tracking's decision is heard, then accepted or refused with the
-- reason. A retry with the same Idempotency-Key finds the same request.
CREATE TABLE change_requests (
    id uuid PRIMARY KEY,
    critique_id uuid NOT NULL REFERENCES critiques (id),
    kind text NOT NULL CHECK (kind IN ('amendment', 'withdrawal', 'extension_decision')),
    status text NOT NULL CHECK (status IN ('pending', 'accepted', 'refused')),
    idempotency_key text,
    fingerprint bytea,
    requested_at timestamptz NOT NULL,
    decided_at timestamptz,
    expected_version integer,
    content jsonb,
    reason text NOT NULL DEFAULT '',
    extension_id uuid,
    grant_extension boolean,
    note text NOT NULL DEFAULT '',
    version integer,
    refusal_reason text,
    refusal_detail text,
    UNIQUE (critique_id, idempotency_key)
);

CREATE INDEX change_requests_by_critique ON change_requests (critique_id, requested_at);

ALTER TABLE critiques ADD COLUMN answered_version integer;
