-- The schema of mcpfed's store on SQLite: the PostgreSQL schema with times
-- as INTEGER microseconds since the Unix epoch (UTC) and booleans as 0/1.

-- +goose Up

-- Every write bumps this one row first, so the history's seq is the
-- revision of its write.
CREATE TABLE mcpfed_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO mcpfed_revision (id, revision) VALUES (1, 0);

CREATE TABLE mcpfed_servers (
    name              TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    server            TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'deprecated', 'deleted')),
    status_message    TEXT    NOT NULL DEFAULT '',
    published_at      INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    status_changed_at INTEGER NOT NULL,
    is_latest         INTEGER NOT NULL DEFAULT 0 CHECK (is_latest IN (0, 1)),
    publisher         TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
) STRICT;
CREATE UNIQUE INDEX mcpfed_servers_latest ON mcpfed_servers (name) WHERE is_latest;

CREATE TABLE mcpfed_decisions (
    server_name TEXT    NOT NULL,
    versions    TEXT    NOT NULL,
    decision    TEXT    NOT NULL CHECK (decision IN ('approved', 'denied')),
    note        TEXT    NOT NULL DEFAULT '',
    who         TEXT    NOT NULL DEFAULT '',
    at          INTEGER NOT NULL,
    PRIMARY KEY (server_name, versions)
) STRICT;

CREATE TABLE mcpfed_changes (
    seq     INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    who     TEXT    NOT NULL DEFAULT '',
    kind    TEXT    NOT NULL,
    server  TEXT    NOT NULL DEFAULT '',
    version TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT '{}'
) STRICT;

-- +goose StatementBegin
CREATE TRIGGER mcpfed_changes_no_update BEFORE UPDATE ON mcpfed_changes
BEGIN
    SELECT RAISE(ABORT, 'mcpfed_changes is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER mcpfed_changes_no_delete BEFORE DELETE ON mcpfed_changes
BEGIN
    SELECT RAISE(ABORT, 'mcpfed_changes is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE mcpfed_changes;
DROP TABLE mcpfed_decisions;
DROP TABLE mcpfed_servers;
DROP TABLE mcpfed_revision;
