CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    default_language TEXT NOT NULL
);

CREATE TABLE seasons (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    UNIQUE (organization_id, code)
);

CREATE TABLE sites (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    zip TEXT NOT NULL,
    country_code TEXT NOT NULL,
    line1 TEXT NOT NULL,
    line2 TEXT NOT NULL,
    UNIQUE (organization_id, code)
);

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    code TEXT NOT NULL,
    kind TEXT NOT NULL,
    family TEXT,
    name TEXT NOT NULL,
    season_code TEXT,
    site_id INTEGER REFERENCES sites(id),
    tix_start TEXT,
    tix_exp TEXT,
    tix_act TEXT,
    tix_rgrp TEXT,
    UNIQUE (organization_id, code)
);

CREATE TABLE performances (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    code TEXT NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id),
    site_id INTEGER NOT NULL REFERENCES sites(id),
    name TEXT NOT NULL,
    group_name TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT,
    UNIQUE (organization_id, code)
);

-- The contact number is the ticketing key of a contact; contacts created by Feedback
-- from an email only have none (NULLs never collide in a UNIQUE constraint).
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    number TEXT,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    gender TEXT,
    title TEXT,
    temporary INTEGER NOT NULL DEFAULT 0,
    UNIQUE (organization_id, number)
);

-- The ticket id is ticketing's own id (not generated here).
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations(id),
    tax_number TEXT NOT NULL,
    barcode TEXT NOT NULL,
    file_id TEXT,
    status TEXT NOT NULL,
    cause TEXT,
    replaces_ticket_id INTEGER,
    shipment_mode TEXT NOT NULL,
    sales_channel TEXT,
    season_code TEXT,
    product_id INTEGER NOT NULL REFERENCES products(id),
    performance_id INTEGER REFERENCES performances(id),
    tariff TEXT,
    category TEXT,
    price_cents INTEGER,
    currency TEXT,
    purchase_date TEXT,
    validity_start TEXT,
    validity_end TEXT,
    details TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    holder_first_name TEXT,
    holder_last_name TEXT,
    holder_birth_date TEXT,
    holder_id_number TEXT,
    holder_country_code TEXT,
    holder_birth_region TEXT,
    holder_birth_place TEXT,
    main_applicant INTEGER NOT NULL,
    printed_by TEXT,
    printed_at TEXT
);
CREATE UNIQUE INDEX tickets_tax_number ON tickets (organization_id, tax_number);
-- Injection walks this in id order; a ticket leaves it when printed, so it only ever
-- holds the backlog and costs nothing once a ticket is in the wallet. The product and
-- performance let those filters be checked on the index, before reading the ticket.
CREATE INDEX tickets_not_printed ON tickets (organization_id, id, product_id, performance_id)
    WHERE status = 'NOT_PRINTED';
-- A file number (order) filter finds its few tickets without walking the backlog.
CREATE INDEX tickets_not_printed_file ON tickets (organization_id, file_id)
    WHERE status = 'NOT_PRINTED' AND file_id IS NOT NULL;

CREATE TABLE processed_markers (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    function TEXT NOT NULL,
    schedule_id INTEGER NOT NULL,
    processed_at TEXT NOT NULL,
    cause TEXT,
    PRIMARY KEY (ticket_id, function)
) WITHOUT ROWID;

CREATE TABLE mobile_projections (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    wallet_status TEXT NOT NULL,
    owner TEXT,
    holder TEXT,
    transfer_level INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- One interface per organization: a second one would break the Push functions.
-- api_key holds the wallet API key in clear because the client must send it.
CREATE TABLE interfaces (
    id INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL UNIQUE REFERENCES organizations(id),
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    login TEXT NOT NULL,
    api_key TEXT NOT NULL,
    notification_emails TEXT NOT NULL,
    custom_params TEXT NOT NULL
);

CREATE TABLE schedules (
    id INTEGER PRIMARY KEY,
    interface_id INTEGER NOT NULL REFERENCES interfaces(id),
    name TEXT NOT NULL UNIQUE,
    function TEXT NOT NULL,
    launch_mode TEXT NOT NULL,
    frequency_secs INTEGER,
    starts_at TEXT,
    ends_at TEXT,
    batch_size INTEGER NOT NULL,
    params TEXT NOT NULL
);
CREATE INDEX schedules_interface ON schedules (interface_id);

CREATE TABLE executions (
    id INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES schedules(id),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    selected INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    message TEXT
);
CREATE INDEX executions_schedule ON executions (schedule_id, id);

CREATE TABLE execution_errors (
    id INTEGER PRIMARY KEY,
    execution_id INTEGER NOT NULL REFERENCES executions(id),
    ticket_id INTEGER,
    tax_number TEXT,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX execution_errors_execution ON execution_errors (execution_id, id);
