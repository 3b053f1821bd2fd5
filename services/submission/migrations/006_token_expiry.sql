-- A token may be issued for a time (`supervision admin organisation token … --expires-in 90d`):
-- once expires_at has passed it is refused exactly as a revoked one is. NULL: until revoked.
ALTER TABLE organisation_tokens ADD COLUMN expires_at timestamptz;
