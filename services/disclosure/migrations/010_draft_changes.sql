-- Drafts in the change feed (/v1/changes) beside the records: each published draft document
-- takes a change number from the same sequence, so a mirror follows both with one `since`.
ALTER TABLE drafts ADD COLUMN change_seq bigint;
CREATE INDEX drafts_by_change ON drafts (change_seq) WHERE change_seq IS NOT NULL;
