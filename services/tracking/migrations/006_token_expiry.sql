-- A token may be issued for a time (`supervision admin agency token … --expires-in 90d`): once
-- expires_at has passed it is refused exactly as a revoked one is. NULL: until revoked.
ALTER TABLE agency_tokens ADD COLUMN expires_at timestamptz;
