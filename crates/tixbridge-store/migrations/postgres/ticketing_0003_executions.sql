ALTER TABLE executions ADD COLUMN unsent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN lease_owner TEXT;
ALTER TABLE executions ADD COLUMN lease_expires_at TIMESTAMPTZ;
-- Executions left running before leases existed can never be told apart from live
-- ones: they are closed as interrupted, so the index below holds.
UPDATE executions SET ended_at = started_at, outcome = 'ERROR',
    message = 'interrupted: recorded before executions held leases and never ended'
WHERE ended_at IS NULL;
-- At most one running execution per schedule, whatever the number of processes.
CREATE UNIQUE INDEX executions_one_running ON executions (schedule_id)
    WHERE ended_at IS NULL;
-- The execution that marked the ticket: an interrupted execution's counts.
ALTER TABLE processed_markers ADD COLUMN execution_id BIGINT;
