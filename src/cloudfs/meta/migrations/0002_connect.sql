-- 0002: Connect — data stores and external files (filespace format 3).
--
-- An external file is an ordinary inode (kind FILE) with ``external`` = 1 and a row in
-- external_links; its content is the linked object, never blocks.

ALTER TABLE inodes ADD COLUMN external {int} NOT NULL DEFAULT 0;

-- Registered data stores.  config is the non-secret part as JSON (bucket, region,
-- endpoint, expiry, addressing, access key id); secret is the secret key sealed under the
-- filespace's secrets subkey (the engine never sees it in the clear).
CREATE TABLE data_stores (
    id {serial},
    name {text} NOT NULL UNIQUE,
    kind {text} NOT NULL,
    config {text} NOT NULL,
    secret {blob} NOT NULL,
    key_id {text} NOT NULL,
    rekey_state {int} NOT NULL,
    created_ns {int} NOT NULL
);

-- One row per external file, keyed by its inode number (never reused: it is the file's
-- file_id_external and the key list_external_files pages by).  store_id is NULL for an
-- HTTP link.  object_key is the object key (or URL) sealed like a secret; etag pins the
-- content linked.  origin is the directory a `connect import` linked it into (0: by
-- hand), which a re-run mirrors.
CREATE TABLE external_links (
    ino {int} PRIMARY KEY REFERENCES inodes (ino),
    store_id {int} REFERENCES data_stores (id),
    object_key {blob} NOT NULL,
    etag {text} NOT NULL,
    size {int} NOT NULL,
    origin {int} NOT NULL
) {without_rowid};
CREATE INDEX external_links_by_store ON external_links (store_id, ino);
CREATE INDEX external_links_by_origin ON external_links (origin, store_id, ino);

-- Per-store totals kept by every link and unlink, so counting never scans (store_id 0:
-- HTTP links).
CREATE TABLE external_counts (
    store_id {int} PRIMARY KEY,
    files {int} NOT NULL,
    bytes {int} NOT NULL
);
