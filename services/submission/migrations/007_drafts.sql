-- The drafts tracking announced (tracking.drafts), as far as submission needs them: which
-- agency leads each, and each version's parts, to check a critique's citations against.
CREATE TABLE heard_drafts (
    id uuid PRIMARY KEY,
    agency_id text NOT NULL,
    title text NOT NULL
);

CREATE TABLE heard_draft_versions (
    draft_id uuid NOT NULL,
    version integer NOT NULL,
    -- contracts.events.DraftPart, in document order.
    parts jsonb NOT NULL,
    PRIMARY KEY (draft_id, version)
);

-- The registered draft version a critique is about, and what each point cites of it: the ids,
-- and the cited parts' text as it stood in that version (contracts.drafts.CitedPart).
ALTER TABLE critiques ADD COLUMN draft_version jsonb;
ALTER TABLE critique_points
    ADD COLUMN cites jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN cited jsonb NOT NULL DEFAULT '[]';
