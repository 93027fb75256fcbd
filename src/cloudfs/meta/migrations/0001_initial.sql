-- 0001: the first metadata schema.
--
-- Written once for every SQL engine: {int}, {blob}, {text}, {serial} and {without_rowid}
-- are replaced by the engine's dialect (see cloudfs.meta.migrations).  Statements are
-- separated by a semicolon at the end of a line.

-- The filespace's descriptor (opaque, versioned for compare-and-set) and block size.
CREATE TABLE settings (
    id {int} PRIMARY KEY CHECK (id = 1),
    descriptor {blob} NOT NULL,
    descriptor_version {int} NOT NULL,
    block_size {int} NOT NULL,
    formatted_ns {int} NOT NULL
);

-- Totals kept up to date by every transaction, so statfs never scans; last_seq numbers
-- the change log (see changelog below).
CREATE TABLE counters (
    id {int} PRIMARY KEY CHECK (id = 1),
    files {int} NOT NULL,
    directories {int} NOT NULL,
    symlinks {int} NOT NULL,
    data_bytes {int} NOT NULL,
    stored_bytes {int} NOT NULL,
    garbage_blocks {int} NOT NULL,
    last_seq {int} NOT NULL
);
INSERT INTO counters VALUES (1, 0, 0, 0, 0, 0, 0, 0);

-- One row per inode.  Inode numbers are never reused.  parent is the directory holding
-- a directory's one entry (NULL for the root and for non-directories): it answers "is A
-- inside B" for rename without a join per level.
CREATE TABLE inodes (
    ino {serial},
    kind {int} NOT NULL,
    mode {int} NOT NULL,
    uid {int} NOT NULL,
    gid {int} NOT NULL,
    nlink {int} NOT NULL,
    size {int} NOT NULL,
    atime_ns {int} NOT NULL,
    mtime_ns {int} NOT NULL,
    ctime_ns {int} NOT NULL,
    btime_ns {int} NOT NULL,
    version {int} NOT NULL,
    parent {int},
    target {blob}
);
CREATE INDEX inodes_orphans ON inodes (ino) WHERE nlink = 0;

-- Directory entries.  The cookie is the row's never-reused key: readdir pages by it.
CREATE TABLE entries (
    cookie {serial},
    parent {int} NOT NULL REFERENCES inodes (ino),
    name {blob} NOT NULL,
    ino {int} NOT NULL REFERENCES inodes (ino),
    kind {int} NOT NULL
);
CREATE UNIQUE INDEX entries_by_name ON entries (parent, name);
CREATE INDEX entries_by_cookie ON entries (parent, cookie);
CREATE INDEX entries_by_ino ON entries (ino);

-- Block maps: block idx of file ino is the immutable object id.
CREATE TABLE blocks (
    ino {int} NOT NULL REFERENCES inodes (ino),
    idx {int} NOT NULL,
    id {blob} NOT NULL,
    size {int} NOT NULL,
    stored {int} NOT NULL,
    PRIMARY KEY (ino, idx)
) {without_rowid};

CREATE TABLE xattrs (
    ino {int} NOT NULL REFERENCES inodes (ino) ON DELETE CASCADE,
    name {blob} NOT NULL,
    value {blob} NOT NULL,
    PRIMARY KEY (ino, name)
) {without_rowid};

-- Objects no block map references any more, oldest first, until the collector forgets them.
CREATE TABLE garbage (
    seq {serial},
    id {blob} NOT NULL UNIQUE,
    stored {int} NOT NULL,
    since_ns {int} NOT NULL
);

-- One row per inode an operation touched; seq is assigned from counters.last_seq inside
-- the writing transaction, so it is gap-free and in commit order on every engine.
CREATE TABLE changelog (
    seq {int} PRIMARY KEY,
    ino {int} NOT NULL,
    parent {int},
    kind {text} NOT NULL,
    at_ns {int} NOT NULL
);
