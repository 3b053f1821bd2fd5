-- Acknowledgement, amendments and withdrawal; kinds of agencies; token ids for revocation.
ALTER TABLE cases
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN withdrawn_at timestamptz,
    ADD COLUMN version integer NOT NULL DEFAULT 1;

ALTER TABLE agencies ADD COLUMN kind text NOT NULL DEFAULT 'peoples_committee'
    CHECK (kind IN ('ministry', 'peoples_committee', 'department'));
ALTER TABLE agencies ALTER COLUMN kind DROP DEFAULT;

ALTER TABLE agency_tokens ADD COLUMN id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid();
