-- The answered points of the critiques of one draft version, for the next version's uptake.
CREATE INDEX cases_by_draft_version
    ON cases ((draft_version ->> 'draft_id'), ((draft_version ->> 'version')::integer))
    WHERE draft_version IS NOT NULL;
