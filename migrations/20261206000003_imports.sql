-- CSV imports (issue 13): the upload streams into import_rows (a bounded
-- buffer of rows at a time, never the whole file in memory); the import job
-- works through the rows in order, its progress recorded in the sync log
-- (`IntegrationSyncRecordsProcessed`), and deletes them once processed.
CREATE TABLE imports
(
    tenant_id      text        NOT NULL,
    sync_id        uuid        NOT NULL,
    integration_id uuid        NOT NULL,
    -- The CSV's header row, lowercased and trimmed.
    header         text[]      NOT NULL,
    total          integer     NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, sync_id)
);
CREATE TABLE import_rows
(
    tenant_id text    NOT NULL,
    sync_id   uuid    NOT NULL,
    -- 1 for the first row after the header.
    row_no    integer NOT NULL,
    -- The row's fields (a JSON array of strings); `null`: not UTF-8.
    fields    jsonb,
    PRIMARY KEY (tenant_id, sync_id, row_no)
);
