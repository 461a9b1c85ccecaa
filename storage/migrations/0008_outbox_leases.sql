-- Claims are leases (SPEC 8c, replicas): who claimed a row and until when. A row a dead
-- leader claimed is claimed again by the next leader once its lease has run out.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;     -- host:pid of the claiming copy
ALTER TABLE outbox ADD COLUMN lease_until TEXT;    -- UTC, ISO 8601
