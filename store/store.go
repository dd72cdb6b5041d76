// Package store is mcpfed's durable state: the entries published to it
// (the managed source), curation decisions, and the append-only history of
// every write. SQLite (one file in the state directory, pure Go) is the
// default; PostgreSQL serves many replicas, which see each other's writes
// through change notification. Schema changes are versioned migrations
// embedded in the binary.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors callers test (the HTTP layer maps them to statuses).
var (
	// ErrExists is a write of a server version that is already stored
	// (published versions are immutable).
	ErrExists = errors.New("already exists")
	// ErrNotFound is a change to something that is not stored.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable is a database that cannot be reached or answered
	// with an error that is not the caller's (the API answers 503).
	ErrUnavailable = errors.New("store unavailable")
)

// Server is one published server version.
type Server struct {
	Name    string
	Version string
	// Server is the server.json object as published (compacted).
	Server          json.RawMessage
	Status          string // active, deprecated or deleted
	StatusMessage   string
	PublishedAt     time.Time
	UpdatedAt       time.Time
	StatusChangedAt time.Time
	// IsLatest is kept by the store: the latest non-deleted version by
	// the official rules, else the latest deleted one.
	IsLatest bool
	// Publisher is the subject of the token that published it.
	Publisher string
}

// StatusChange changes the status of one version, or of every version of
// a server when Version is empty.
type StatusChange struct {
	Name, Version string
	Status        string
	StatusMessage string
}

// Decision is a curation record: which versions of a server the
// organisation approved or denied.
type Decision struct {
	ServerName string
	// Versions is "*", an exact version, or a semver range (">=1.2 <2").
	Versions string
	Decision string // approved or denied
	Note     string
	Who      string
	At       time.Time
}

// Change is one entry of the append-only history.
type Change struct {
	Seq     int64
	At      time.Time
	Who     string
	Kind    string // publish, status, decision, decision-delete
	Server  string
	Version string
	// Detail is the write as JSON (the decision, the status change, …).
	Detail json.RawMessage
}

// The kinds of Change.
const (
	ChangePublish        = "publish"
	ChangeStatus         = "status"
	ChangeDecision       = "decision"
	ChangeDecisionDelete = "decision-delete"
)

// Store is what mcpfed keeps durably. Every write appends its Change in
// the same transaction and bumps the revision; every method honours ctx.
type Store interface {
	// Publish stores a new server version (ErrExists when that name and
	// version are stored) and recomputes isLatest of the name.
	Publish(ctx context.Context, s Server, who string) (Server, error)
	// SetStatus changes statuses (ErrNotFound when nothing matches) and
	// returns the versions changed.
	SetStatus(ctx context.Context, c StatusChange, who string) ([]Server, error)
	// Servers returns every stored version, ordered by name then version.
	Servers(ctx context.Context) ([]Server, error)

	// PutDecision adds or replaces the decision for (ServerName, Versions).
	PutDecision(ctx context.Context, d Decision) error
	// DeleteDecision removes decisions of a server: the one for versions,
	// or all of them when versions is empty (ErrNotFound when none).
	DeleteDecision(ctx context.Context, serverName, versions, who string) error
	// Decisions returns every decision, ordered by server name, versions.
	Decisions(ctx context.Context) ([]Decision, error)

	// Changes returns history after seq (0: from the start), oldest
	// first, at most limit.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)

	// Revision is a number that grows with every write (any replica's).
	Revision(ctx context.Context) (int64, error)
	// Watch returns a channel that receives after writes (this process's
	// or, on PostgreSQL, any replica's: LISTEN/NOTIFY plus a periodic
	// revision check, so a lost notification heals). It is closed when
	// ctx ends.
	Watch(ctx context.Context) <-chan struct{}

	Close() error
}

// Config is the store: block of the configuration.
type Config struct {
	// Driver is sqlite (default: one file in the state directory) or postgres.
	Driver string `yaml:"driver"`
	// URL is the PostgreSQL connection URL (no password in it).
	URL string `yaml:"url"`
	// PasswordFile holds the serving user's password.
	PasswordFile string `yaml:"passwordFile"`
	// Path is the SQLite file (default: mcpfed.db in the state directory).
	Path string `yaml:"path"`
	// MigrationURL and MigrationPasswordFile, when set, are a separate
	// user that owns the schema; the serving user then needs only data
	// privileges.
	MigrationURL          string `yaml:"migrationURL"`
	MigrationPasswordFile string `yaml:"migrationPasswordFile"`
}
