-- Ticketing operations (cancel, invalidate, …): the causes an organization added to
-- the default list, and every operation on a ticket, one row each.
CREATE TABLE causes (
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    code TEXT NOT NULL,
    PRIMARY KEY (organization_id, code)
) WITHOUT ROWID;

CREATE TABLE ticket_operations (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    operation TEXT NOT NULL,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    cause TEXT,
    -- A reprint: the new ticket.
    related_ticket_id INTEGER
);
CREATE INDEX ticket_operations_ticket ON ticket_operations (ticket_id, id);

-- Push Cancelled walks the cancelled and invalidated tickets of an organization in id
-- order, never the live ones.
CREATE INDEX tickets_cancelled ON tickets (organization_id, id)
    WHERE status IN ('CANCELLED', 'INVALIDATED');

-- A controlled ticket's gate scan time (the earliest scan).
ALTER TABLE tickets ADD COLUMN controlled_at TEXT;
-- Push Controlled walks the controlled tickets of an organization in id order.
CREATE INDEX tickets_controlled ON tickets (organization_id, id)
    WHERE status = 'CONTROLLED';
