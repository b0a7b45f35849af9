-- Venue time zones (IANA names): an organization's is its sites' default; stores from
-- before zones existed read their times as UTC.
ALTER TABLE organizations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE sites ADD COLUMN time_zone TEXT;
-- The import refuses a barcode already held by a ticket of the organization. Not
-- UNIQUE: a store from before the rule may hold duplicates.
CREATE INDEX tickets_barcode ON tickets (organization_id, barcode);
