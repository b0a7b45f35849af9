-- Feedback (DOMAIN.md §5.2): what the wallet's change feed brings back.

-- The rest of the wallet's state of a ticket.
ALTER TABLE mobile_projections
    ADD COLUMN status_changed_at TIMESTAMPTZ,
    ADD COLUMN initial_owner JSONB,
    ADD COLUMN previous_owner JSONB,
    ADD COLUMN deletion JSONB;

-- The wallet's status-log entries of each ticket, by their seq in the wallet's track
-- record: a page applied again appends nothing twice.
CREATE TABLE mobile_history (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (ticket_id, seq)
);

-- Where the change feed of an interface's wallet organizer was read up to: saved in
-- the transaction of the page it follows.
CREATE TABLE feedback_keys (
    interface_id BIGINT PRIMARY KEY REFERENCES interfaces(id),
    pagination_key TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
