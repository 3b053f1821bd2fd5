-- Names of private persons the organisation marks in its text, hidden before publication.
ALTER TABLE critiques ADD COLUMN redact_names text[] NOT NULL DEFAULT '{}';
