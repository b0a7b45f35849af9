-- Feedback (DOMAIN.md §5.2): what the wallet's change feed brings back.

-- The rest of the wallet's state of a ticket (JSON for persons and the deletion).
ALTER TABLE mobile_projections ADD COLUMN status_changed_at TEXT;
ALTER TABLE mobile_projections ADD COLUMN initial_owner TEXT;
ALTER TABLE mobile_projections ADD COLUMN previous_owner TEXT;
ALTER TABLE mobile_projections ADD COLUMN deletion TEXT;

-- The wallet's status-log entries of each ticket, by their seq in the wallet's track
-- record: a page applied again appends nothing twice.
CREATE TABLE mobile_history (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (ticket_id, seq)
) WITHOUT ROWID;

-- Where the change feed of an interface's wallet organizer was read up to: saved in
-- the transaction of the page it follows.
CREATE TABLE feedback_keys (
    interface_id INTEGER PRIMARY KEY REFERENCES interfaces(id),
    pagination_key TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
