-- The registered draft version a case's critique is about, and the parts each point cites.
ALTER TABLE cases ADD COLUMN draft_version jsonb;
ALTER TABLE case_points ADD COLUMN cites jsonb NOT NULL DEFAULT '[]';
