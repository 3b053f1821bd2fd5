-- The version of the critique the agency answered: its answers are published only beside the
-- points of that version, and the record says which version it was.
ALTER TABLE records ADD COLUMN answered_version integer;
