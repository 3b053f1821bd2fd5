-- Drafts (dự thảo) registered by their drafting agency, each version's file kept as received
-- with its structure, and the draft's submission to the issuing authority. A version is never
-- changed: a different text is a new version.
CREATE TABLE drafts (
    id uuid PRIMARY KEY,
    agency_id text NOT NULL REFERENCES agencies (id),
    request_id text NOT NULL,
    draft_type text NOT NULL,
    title text NOT NULL,
    issuing_authority text NOT NULL,
    registered_at timestamptz NOT NULL,
    versions integer NOT NULL DEFAULT 0,
    UNIQUE (agency_id, request_id)
);
-- ListDrafts: an agency's drafts, newest first, a page after a cursor.
CREATE INDEX drafts_by_agency ON drafts (agency_id, registered_at DESC, id DESC);

CREATE TABLE draft_versions (
    draft_id uuid NOT NULL REFERENCES drafts (id),
    number integer NOT NULL CHECK (number >= 1),
    request_id text NOT NULL,
    received_at timestamptz NOT NULL,
    sha256 text NOT NULL,
    original bytea NOT NULL,
    -- The version as announced (contracts.events.DraftVersionRegistered): parts, window, changes.
    facts jsonb NOT NULL,
    PRIMARY KEY (draft_id, number),
    UNIQUE (draft_id, request_id)
);

CREATE TABLE draft_submissions (
    draft_id uuid PRIMARY KEY REFERENCES drafts (id),
    request_id text NOT NULL,
    original bytea NOT NULL,
    -- As announced (contracts.events.DraftSentToAuthority).
    facts jsonb NOT NULL
);
