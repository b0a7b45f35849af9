-- A correction (import --update) of a ticket already injected: the wallet's copy is out
-- of date since then, and injection sends the ticket again.
ALTER TABLE processed_markers ADD COLUMN corrected_at TEXT;
CREATE INDEX processed_markers_corrected ON processed_markers (ticket_id)
    WHERE corrected_at IS NOT NULL AND function = 'INJECTION';
