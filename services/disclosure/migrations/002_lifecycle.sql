ALTER TABLE records
    ADD COLUMN version integer NOT NULL DEFAULT 0,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN withdrawn_at timestamptz;
