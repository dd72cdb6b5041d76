package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

const serverColumns = `name, version, server, status, status_message, published_at, updated_at, status_changed_at, is_latest, publisher`

type rowScanner interface{ Scan(dest ...any) error }

func scanServer(r rowScanner) (Server, error) {
	var sv Server
	var body string
	err := r.Scan(&sv.Name, &sv.Version, &body, &sv.Status, &sv.StatusMessage,
		dbTime{&sv.PublishedAt}, dbTime{&sv.UpdatedAt}, dbTime{&sv.StatusChangedAt}, &sv.IsLatest, &sv.Publisher)
	sv.Server = json.RawMessage(body)
	return sv, err
}

// compactObject returns the server.json compacted, or ErrInvalid when it
// is not one bounded JSON object.
func compactObject(raw json.RawMessage) ([]byte, error) {
	if len(raw) > 4*MaxServerBytes {
		return nil, fmt.Errorf("%w: server.json is larger than %d bytes", ErrInvalid, MaxServerBytes)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fmt.Errorf("%w: server.json: %v", ErrInvalid, err)
	}
	if b.Len() == 0 || b.Bytes()[0] != '{' {
		return nil, fmt.Errorf("%w: server.json is not a JSON object", ErrInvalid)
	}
	if b.Len() > MaxServerBytes {
		return nil, fmt.Errorf("%w: server.json is larger than %d bytes", ErrInvalid, MaxServerBytes)
	}
	return b.Bytes(), nil
}

// Publish implements Store. The version is stored active, stamped with
// the store's clock (the times in s are ignored) and published by who.
func (s *sqlStore) Publish(ctx context.Context, sv Server, who string) (Server, error) {
	for _, err := range []error{
		checkLen("name", sv.Name, MaxNameBytes, true),
		checkLen("version", sv.Version, MaxVersionBytes, true),
		checkLen("publisher", who, MaxWhoBytes, false),
	} {
		if err != nil {
			return Server{}, err
		}
	}
	body, err := compactObject(sv.Server)
	if err != nil {
		return Server{}, err
	}
	var out Server
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, now time.Time) (Change, error) {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM mcpfed_servers WHERE name = ? AND version = ?`), sv.Name, sv.Version).Scan(&n); err != nil {
			return Change{}, err
		}
		if n > 0 {
			return Change{}, fmt.Errorf("%w: %s version %s", ErrExists, sv.Name, sv.Version)
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM mcpfed_servers WHERE name = ?`), sv.Name).Scan(&n); err != nil {
			return Change{}, err
		}
		if n >= MaxVersionsPerServer {
			return Change{}, fmt.Errorf("%w: %s has %d versions, the most a server may have", ErrInvalid, sv.Name, n)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mcpfed_servers`).Scan(&n); err != nil {
			return Change{}, err
		}
		if n >= MaxServers {
			return Change{}, fmt.Errorf("%w: the store holds %d server versions, the most it keeps", ErrInvalid, n)
		}
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO mcpfed_servers (`+serverColumns+`)
			VALUES (?, ?, ?, ?, '', ?, ?, ?, FALSE, ?) ON CONFLICT (name, version) DO NOTHING`),
			sv.Name, sv.Version, string(body), StatusActive, s.ts(now), s.ts(now), s.ts(now), who)
		if err != nil {
			return Change{}, err
		}
		if k, err := res.RowsAffected(); err != nil {
			return Change{}, err
		} else if k == 0 {
			return Change{}, fmt.Errorf("%w: %s version %s", ErrExists, sv.Name, sv.Version)
		}
		if err := s.recomputeLatest(ctx, tx, sv.Name); err != nil {
			return Change{}, err
		}
		if out, err = scanServer(tx.QueryRowContext(ctx, s.q(`SELECT `+serverColumns+` FROM mcpfed_servers WHERE name = ? AND version = ?`), sv.Name, sv.Version)); err != nil {
			return Change{}, err
		}
		detail, _ := json.Marshal(struct {
			Status   string `json:"status"`
			IsLatest bool   `json:"isLatest"`
		}{out.Status, out.IsLatest})
		return Change{Who: who, Kind: ChangePublish, Server: sv.Name, Version: sv.Version, Detail: detail}, nil
	})
	if err != nil {
		return Server{}, err
	}
	return out, nil
}

// validStatus reports whether status is one a version may have.
func validStatus(status string) bool {
	return status == StatusActive || status == StatusDeprecated || status == StatusDeleted
}

// SetStatus implements Store. With a version it changes that one; without,
// every version whose status or message differs. It returns what the
// official registry answers with: the version changed, or every version
// of the server after the change. Status-transition rules (what may move
// where, clearing the message of an active version) are the API's.
// A change of every version that changes nothing writes nothing.
func (s *sqlStore) SetStatus(ctx context.Context, c StatusChange, who string) ([]Server, error) {
	for _, err := range []error{
		checkLen("name", c.Name, MaxNameBytes, true),
		checkLen("version", c.Version, MaxVersionBytes, false),
		checkLen("statusMessage", c.StatusMessage, MaxStatusMessageBytes, false),
		checkLen("who", who, MaxWhoBytes, false),
	} {
		if err != nil {
			return nil, err
		}
	}
	if !validStatus(c.Status) {
		return nil, fmt.Errorf("%w: status %q (want active, deprecated or deleted)", ErrInvalid, c.Status)
	}
	var out []Server
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, now time.Time) (Change, error) {
		set := `UPDATE mcpfed_servers SET status = ?, status_message = ?, updated_at = ?,
			status_changed_at = CASE WHEN status <> ? THEN ? ELSE status_changed_at END WHERE name = ?`
		args := []any{c.Status, c.StatusMessage, s.ts(now), c.Status, s.ts(now), c.Name}
		if c.Version != "" {
			set += ` AND version = ?`
			args = append(args, c.Version)
		} else {
			set += ` AND (status <> ? OR status_message <> ?)`
			args = append(args, c.Status, c.StatusMessage)
		}
		res, err := tx.ExecContext(ctx, s.q(set), args...)
		if err != nil {
			return Change{}, err
		}
		changed, err := res.RowsAffected()
		if err != nil {
			return Change{}, err
		}
		if c.Version != "" && changed == 0 {
			return Change{}, fmt.Errorf("%w: %s version %s", ErrNotFound, c.Name, c.Version)
		}
		if changed > 0 {
			if err := s.recomputeLatest(ctx, tx, c.Name); err != nil {
				return Change{}, err
			}
		}
		read, rargs := `SELECT `+serverColumns+` FROM mcpfed_servers WHERE name = ?`, []any{c.Name}
		if c.Version != "" {
			read += ` AND version = ?`
			rargs = append(rargs, c.Version)
		}
		if out, err = s.scanServers(ctx, tx, read, MaxVersionsPerServer, rargs...); err != nil {
			return Change{}, err
		}
		if len(out) == 0 {
			return Change{}, fmt.Errorf("%w: %s", ErrNotFound, c.Name)
		}
		if changed == 0 {
			return Change{}, errNoChange
		}
		detail, _ := json.Marshal(struct {
			Status        string `json:"status"`
			StatusMessage string `json:"statusMessage,omitempty"`
			Versions      int64  `json:"versions"`
		}{c.Status, c.StatusMessage, changed})
		return Change{Who: who, Kind: ChangeStatus, Server: c.Name, Version: c.Version, Detail: detail}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Servers implements Store.
func (s *sqlStore) Servers(ctx context.Context) ([]Server, error) {
	opCtx, cancel := s.op(ctx)
	defer cancel()
	out, err := s.scanServers(opCtx, s.db, `SELECT `+serverColumns+` FROM mcpfed_servers`, MaxServers)
	if err != nil {
		return nil, unavailable(ctx, fmt.Errorf("read servers: %w", err))
	}
	return out, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanServers reads at most max versions, ordered by name then version in
// byte order (the same on both databases, whatever their collation).
func (s *sqlStore) scanServers(ctx context.Context, db querier, query string, max int, args ...any) ([]Server, error) {
	rows, err := db.QueryContext(ctx, s.q(query+` LIMIT ?`), append(args, max+1)...)
	if err != nil {
		return nil, err
	}
	out, err := scanAll(rows, max, "server versions", func(rows *sql.Rows) (Server, error) { return scanServer(rows) })
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Server) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out, nil
}

// recomputeLatest flags the latest version of name by the official rules:
// the newest non-deleted version (semver first, else publication time:
// upstream.CompareVersions), else the newest deleted one. The flag is
// cleared before it is set so the one-latest-per-name index holds at
// every statement.
func (s *sqlStore) recomputeLatest(ctx context.Context, tx *sql.Tx, name string) error {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT version, published_at, status FROM mcpfed_servers WHERE name = ? LIMIT ?`), name, MaxVersionsPerServer+1)
	if err != nil {
		return err
	}
	var live, deleted *upstream.Entry
	for rows.Next() {
		var e upstream.Entry
		var status string
		if err := rows.Scan(&e.Version, dbTime{&e.PublishedAt}, &status); err != nil {
			rows.Close()
			return err
		}
		best := &live
		if status == StatusDeleted {
			best = &deleted
		}
		if *best == nil || upstream.CompareVersions(&e, *best) > 0 {
			*best = &e
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	winner := live
	if winner == nil {
		winner = deleted
	}
	if winner == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE mcpfed_servers SET is_latest = FALSE WHERE name = ? AND is_latest AND version <> ?`), name, winner.Version); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE mcpfed_servers SET is_latest = TRUE WHERE name = ? AND version = ? AND NOT is_latest`), name, winner.Version)
	return err
}
