-- The schema of mcpfed's store on PostgreSQL. Table names carry the
-- mcpfed_ prefix so a database shared with other software stays readable.

-- +goose Up

-- Every write locks and bumps this one row first: writes are serialized
-- across replicas, the revision grows in commit order (a replica polling it
-- cannot miss a write), and the history's seq is the revision of its write.
CREATE TABLE mcpfed_revision (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision bigint  NOT NULL
);
INSERT INTO mcpfed_revision (id, revision) VALUES (1, 0);

-- server is the server.json as published (compacted text, not jsonb: the
-- bytes served are the bytes published).
CREATE TABLE mcpfed_servers (
    name              text        NOT NULL,
    version           text        NOT NULL,
    server            text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('active', 'deprecated', 'deleted')),
    status_message    text        NOT NULL DEFAULT '',
    published_at      timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    status_changed_at timestamptz NOT NULL,
    is_latest         boolean     NOT NULL DEFAULT false,
    publisher         text        NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
-- At most one latest version per name, whatever a bug tries.
CREATE UNIQUE INDEX mcpfed_servers_latest ON mcpfed_servers (name) WHERE is_latest;

CREATE TABLE mcpfed_decisions (
    server_name text        NOT NULL,
    versions    text        NOT NULL,
    decision    text        NOT NULL CHECK (decision IN ('approved', 'denied')),
    note        text        NOT NULL DEFAULT '',
    who         text        NOT NULL DEFAULT '',
    at          timestamptz NOT NULL,
    PRIMARY KEY (server_name, versions)
);

CREATE TABLE mcpfed_changes (
    seq     bigint      PRIMARY KEY,
    at      timestamptz NOT NULL,
    who     text        NOT NULL DEFAULT '',
    kind    text        NOT NULL,
    server  text        NOT NULL DEFAULT '',
    version text        NOT NULL DEFAULT '',
    detail  text        NOT NULL DEFAULT '{}'
);

-- The history is append-only for every role but the schema's owner, who
-- could drop the trigger.
-- +goose StatementBegin
CREATE FUNCTION mcpfed_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mcpfed_changes is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER mcpfed_changes_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON mcpfed_changes
    FOR EACH STATEMENT EXECUTE FUNCTION mcpfed_changes_append_only();

-- +goose Down
DROP TABLE mcpfed_changes;
DROP FUNCTION mcpfed_changes_append_only();
DROP TABLE mcpfed_decisions;
DROP TABLE mcpfed_servers;
DROP TABLE mcpfed_revision;
