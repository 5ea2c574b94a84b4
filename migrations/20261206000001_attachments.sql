-- Files sent with messages (issue 12). The bytes never go into an event
-- (NATS's 1 MB message limit would stop the relay): a message's
-- CommunicationDrafted names each file by id and SHA-256, and the file is
-- here, sealed (AES-256-GCM) with the data key of `sealed_with`: the
-- customer it was uploaded for (forgetting them destroys the key, so the
-- file can no longer be read), else the file's own key. The file name is
-- sealed too; the type and size are not. A row never changes.
CREATE TABLE attachments
(
    tenant_id     text        NOT NULL,
    attachment_id uuid        NOT NULL,
    -- The data key's subject: the customer's id, or attachment_id.
    sealed_with   uuid        NOT NULL,
    customer_id   uuid,
    -- SHA-256 of the plain bytes, hex.
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size          bigint      NOT NULL CHECK (size > 0),
    content_type  text        NOT NULL,
    -- nonce ‖ AES-GCM ciphertext of the name and of the bytes.
    file_name     bytea       NOT NULL,
    content       bytea       NOT NULL,
    uploaded_by   uuid        NOT NULL,
    uploaded_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, attachment_id),
    CHECK (customer_id IS NULL OR sealed_with = customer_id)
);
-- The bytes are sealed: compressing them gains nothing.
ALTER TABLE attachments ALTER COLUMN content SET STORAGE EXTERNAL;
