-- Cultural-contact distribution (DOMAIN.md §6; issue 9): contacts found by email
-- without regard to case, and the distribution history of each ticket.

-- The key a contact's email is looked up by (`lifecycle::email_key`: trimmed, ASCII
-- lower case); written by code, back-filled here.
ALTER TABLE contacts ADD COLUMN email_key TEXT;
-- Whether the contact has an internet account (preferred when an email names several).
ALTER TABLE contacts ADD COLUMN internet_account INTEGER NOT NULL DEFAULT 0;
-- INDIVIDUAL, STRUCTURE or RELAY (an individual is preferred over a relay).
ALTER TABLE contacts ADD COLUMN kind TEXT NOT NULL DEFAULT 'INDIVIDUAL';
-- SQLite's lower() folds ASCII letters only, as email_key does.
UPDATE contacts SET email_key = lower(trim(email, ' ' || char(9, 10, 13)))
    WHERE email IS NOT NULL;
CREATE INDEX contacts_email_key ON contacts (organization_id, email_key);

-- One row per transfer the wallet reported: sender -> recipient, PENDING until the
-- transfer is accepted (CONFIRMED) or ends otherwise (CANCELLED). `seq` is the wallet
-- entry that opened it, `closed_seq` the one that closed it.
CREATE TABLE ticket_distributions (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    seq INTEGER NOT NULL,
    sender_contact_id INTEGER REFERENCES contacts(id),
    recipient_contact_id INTEGER NOT NULL REFERENCES contacts(id),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'CANCELLED', 'CONFIRMED')),
    created_at TEXT NOT NULL,
    closed_seq INTEGER,
    closed_at TEXT,
    UNIQUE (ticket_id, seq)
);
CREATE INDEX ticket_distributions_recipient ON ticket_distributions (recipient_contact_id);
CREATE INDEX ticket_distributions_sender ON ticket_distributions (sender_contact_id);
-- `contact show`: the tickets a contact holds.
CREATE INDEX tickets_contact ON tickets (contact_id);
