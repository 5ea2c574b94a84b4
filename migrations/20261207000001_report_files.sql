-- The files of report runs (issue 14). Each file is a PostgreSQL large
-- object, written in chunks inside one transaction (a crash leaves
-- nothing) and read in chunks, so any process can serve a file of any
-- size without holding it in memory. The run's ReportRunCompleted event
-- names the file by id and SHA-256; the worker deletes a file (and its
-- large object) when the tenant's retention has passed or the report was
-- deleted, and records that as ReportRunFileExpired.
CREATE TABLE report_files
(
    tenant_id    text        NOT NULL,
    file_id      uuid        NOT NULL,
    report_id    uuid        NOT NULL,
    run_id       uuid        NOT NULL,
    object_id    oid         NOT NULL,
    size         bigint      NOT NULL CHECK (size >= 0),
    -- SHA-256 of the bytes, hex.
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text        NOT NULL,
    file_name    text        NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, file_id),
    UNIQUE (tenant_id, run_id)
);
