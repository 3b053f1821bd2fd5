-- Kinds of organisations; token ids for revocation; the agencies tracking announced; the
-- critique's lifecycle as seen from the submitting side; its history; attachments.
ALTER TABLE organisations ADD COLUMN kind text NOT NULL DEFAULT 'front_committee'
    CHECK (kind IN ('front_committee', 'member_organisation'));
ALTER TABLE organisations ALTER COLUMN kind DROP DEFAULT;

ALTER TABLE organisation_tokens ADD COLUMN id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid();
CREATE INDEX organisation_tokens_by_organisation ON organisation_tokens (organisation_id);

-- Filled from tracking.agencies events only: submission never reads tracking's tables.
CREATE TABLE known_agencies (
    id text PRIMARY KEY,
    name text NOT NULL,
    level text NOT NULL,
    kind text NOT NULL,
    parent_id text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE critiques
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN draft jsonb,
    ADD COLUMN legal_basis text,
    ADD COLUMN case_id uuid,
    ADD COLUMN due_date date,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN answered_at timestamptz,
    ADD COLUMN answered_late boolean,
    ADD COLUMN withdrawn_at timestamptz,
    ADD COLUMN withdrawal_reason text;

CREATE INDEX critiques_by_organisation_and_status ON critiques (organisation_id, status);

CREATE TABLE critique_answers (
    critique_id uuid NOT NULL REFERENCES critiques (id),
    point_number integer NOT NULL,
    disposition text NOT NULL,
    explanation text NOT NULL,
    PRIMARY KEY (critique_id, point_number)
);

CREATE TABLE critique_history (
    id bigserial PRIMARY KEY,
    critique_id uuid NOT NULL REFERENCES critiques (id),
    at timestamptz NOT NULL,
    step text NOT NULL,
    version integer NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX critique_history_by_critique ON critique_history (critique_id, id);

CREATE TABLE attachments (
    id uuid PRIMARY KEY,
    critique_id uuid NOT NULL REFERENCES critiques (id),
    filename text NOT NULL,
    media_type text NOT NULL,
    size integer NOT NULL,
    sha256 text NOT NULL,
    content bytea NOT NULL,
    added_at timestamptz NOT NULL
);

CREATE INDEX attachments_by_critique ON attachments (critique_id, added_at);
