-- The consolidated report of each draft version (contracts.disclosure_api.DraftReport), as last
-- published: a new one is stored, and logged, only when it differs.
CREATE TABLE draft_reports (
    draft_id uuid NOT NULL,
    version integer NOT NULL,
    document text NOT NULL,
    PRIMARY KEY (draft_id, version)
);
