-- Drafts as tracking announces them (tracking.drafts), and what a record says of its draft:
-- the draft named in words, the registered version it criticises, and each point's citations.
ALTER TABLE records ADD COLUMN draft jsonb, ADD COLUMN draft_version jsonb;
ALTER TABLE record_points ADD COLUMN cites jsonb NOT NULL DEFAULT '[]';

-- The records of one draft version: its page lists them beside the parts they cite.
CREATE INDEX records_by_draft_version
    ON records ((draft_version ->> 'draft_id'), ((draft_version ->> 'version')::integer))
    WHERE draft_version IS NOT NULL;

CREATE TABLE drafts (
    id uuid PRIMARY KEY,
    agency_id text,
    draft_type text,
    title text,
    issuing_authority text,
    registered_at timestamptz,
    -- contracts.events.DraftSentToAuthority, once heard.
    sent jsonb,
    -- The public document (contracts.disclosure_api.PublicDraft), as last published.
    public_document text,
    sent_late boolean NOT NULL DEFAULT false,
    changed_without_new_version boolean NOT NULL DEFAULT false,
    versions integer NOT NULL DEFAULT 0
);
-- GET /v1/drafts: newest first.
CREATE INDEX drafts_by_registration ON drafts (registered_at DESC, id DESC)
    WHERE public_document IS NOT NULL;

CREATE TABLE draft_versions (
    draft_id uuid NOT NULL,
    version integer NOT NULL,
    -- contracts.events.DraftVersionRegistered, as heard.
    facts jsonb NOT NULL,
    PRIMARY KEY (draft_id, version)
);

-- A leaf of the transparency log is a record's document or a draft's: log_leaves.critique_id
-- holds the id of either (both are UUIDs drawn at random, and the document says which it is).
COMMENT ON COLUMN log_leaves.critique_id IS 'The record''s critique id, or the draft''s id';
