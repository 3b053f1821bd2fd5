-- The public side: each published record's document as served (redacted), a change sequence for
-- mirrors and ETags, a diacritics-free search index, the redaction log, and the agencies.
CREATE TABLE agencies (
    id text PRIMARY KEY,
    name text NOT NULL,
    level text NOT NULL,
    kind text NOT NULL,
    parent_id text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE record_changes;

ALTER TABLE records
    ADD COLUMN overdue_at timestamptz,
    ADD COLUMN redact_names text[] NOT NULL DEFAULT '{}',
    ADD COLUMN publication_reason text,
    ADD COLUMN public_status text,
    ADD COLUMN public_document jsonb,
    ADD COLUMN change_seq bigint,
    ADD COLUMN search_text text,
    ADD COLUMN search tsvector
        GENERATED ALWAYS AS (to_tsvector('simple', coalesce(search_text, ''))) STORED;

CREATE INDEX records_published ON records (published_at DESC, critique_id)
    WHERE published_at IS NOT NULL;
CREATE INDEX records_changes ON records (change_seq) WHERE change_seq IS NOT NULL;
CREATE INDEX records_by_agency ON records (agency_id) WHERE published_at IS NOT NULL;
CREATE INDEX records_by_organisation ON records (organisation_id) WHERE published_at IS NOT NULL;
CREATE INDEX records_search ON records USING gin (search);

CREATE TABLE redactions (
    critique_id uuid NOT NULL REFERENCES records (critique_id),
    field text NOT NULL,
    kind text NOT NULL,
    count integer NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (critique_id, field, kind)
);
