-- Privileges injection (membership and season cards, DOMAIN.md §5.5).

-- A card's linked tickets (the season's match tickets); NULL when none. Sent as the
-- privilege's linkedTicketIds.
ALTER TABLE tickets ADD COLUMN linked_ticket_ids BIGINT[];

-- The privilege definition last sent to the wallet for a card product: the SHA-256 of
-- its JSON. A product whose definition now hashes differently is sent again.
CREATE TABLE privilege_definitions (
    product_id BIGINT PRIMARY KEY REFERENCES products(id),
    definition_hash TEXT NOT NULL,
    pushed_at TIMESTAMPTZ NOT NULL
);

-- A ticket is replaced once (a reprint, or an imported row with replaces_ticket_id);
-- the index also finds the ticket that replaces another.
CREATE UNIQUE INDEX tickets_replaces ON tickets (replaces_ticket_id)
    WHERE replaces_ticket_id IS NOT NULL;
