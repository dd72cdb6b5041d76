package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PutDecision implements Store. The decision is stamped with the store's
// clock (d.At is ignored). Whether Versions is a valid range is the
// curation rule's to say; the store bounds its length.
func (s *sqlStore) PutDecision(ctx context.Context, d Decision) error {
	for _, err := range []error{
		checkLen("serverName", d.ServerName, MaxNameBytes, true),
		checkLen("versions", d.Versions, MaxRangeBytes, true),
		checkLen("note", d.Note, MaxNoteBytes, false),
		checkLen("who", d.Who, MaxWhoBytes, false),
	} {
		if err != nil {
			return err
		}
	}
	if d.Decision != DecisionApproved && d.Decision != DecisionDenied {
		return fmt.Errorf("%w: decision %q (want approved or denied)", ErrInvalid, d.Decision)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, now time.Time) (Change, error) {
		var n, same int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*), count(CASE WHEN server_name = ? AND versions = ? THEN 1 END) FROM mcpfed_decisions`),
			d.ServerName, d.Versions).Scan(&n, &same); err != nil {
			return Change{}, err
		}
		if same == 0 && n >= MaxDecisions {
			return Change{}, fmt.Errorf("%w: the store holds %d decisions, the most it keeps", ErrInvalid, n)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO mcpfed_decisions (server_name, versions, decision, note, who, at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (server_name, versions) DO UPDATE SET decision = excluded.decision, note = excluded.note, who = excluded.who, at = excluded.at`),
			d.ServerName, d.Versions, d.Decision, d.Note, d.Who, s.ts(now)); err != nil {
			return Change{}, err
		}
		detail, _ := json.Marshal(struct {
			Versions string `json:"versions"`
			Decision string `json:"decision"`
			Note     string `json:"note,omitempty"`
		}{d.Versions, d.Decision, d.Note})
		return Change{Who: d.Who, Kind: ChangeDecision, Server: d.ServerName, Detail: detail}, nil
	})
}

// DeleteDecision implements Store.
func (s *sqlStore) DeleteDecision(ctx context.Context, serverName, versions, who string) error {
	for _, err := range []error{
		checkLen("serverName", serverName, MaxNameBytes, true),
		checkLen("versions", versions, MaxRangeBytes, false),
		checkLen("who", who, MaxWhoBytes, false),
	} {
		if err != nil {
			return err
		}
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ time.Time) (Change, error) {
		query, args := `DELETE FROM mcpfed_decisions WHERE server_name = ?`, []any{serverName}
		if versions != "" {
			query += ` AND versions = ?`
			args = append(args, versions)
		}
		res, err := tx.ExecContext(ctx, s.q(query), args...)
		if err != nil {
			return Change{}, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return Change{}, err
		}
		if n == 0 {
			return Change{}, fmt.Errorf("%w: no decision for %s %s", ErrNotFound, serverName, versions)
		}
		detail, _ := json.Marshal(struct {
			Versions string `json:"versions,omitempty"`
			Deleted  int64  `json:"deleted"`
		}{versions, n})
		return Change{Who: who, Kind: ChangeDecisionDelete, Server: serverName, Detail: detail}, nil
	})
}

// Decisions implements Store.
func (s *sqlStore) Decisions(ctx context.Context) ([]Decision, error) {
	opCtx, cancel := s.op(ctx)
	defer cancel()
	out, err := s.decisions(opCtx)
	if err != nil {
		return nil, unavailable(ctx, fmt.Errorf("read decisions: %w", err))
	}
	return out, nil
}

func (s *sqlStore) decisions(ctx context.Context) ([]Decision, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT server_name, versions, decision, note, who, at FROM mcpfed_decisions LIMIT ?`), MaxDecisions+1)
	if err != nil {
		return nil, err
	}
	out, err := scanAll(rows, MaxDecisions, "decisions", func(rows *sql.Rows) (Decision, error) {
		var d Decision
		err := rows.Scan(&d.ServerName, &d.Versions, &d.Decision, &d.Note, &d.Who, dbTime{&d.At})
		return d, err
	})
	if err != nil {
		return nil, err
	}
	// Byte order, the same on both databases whatever their collation.
	slices.SortFunc(out, func(a, b Decision) int {
		if c := strings.Compare(a.ServerName, b.ServerName); c != 0 {
			return c
		}
		return strings.Compare(a.Versions, b.Versions)
	})
	return out, nil
}

// Changes implements Store. A limit outside 1..MaxChanges is MaxChanges.
// Seq is the revision of the write, so it grows in commit order on every
// replica and a reader that pages by it misses nothing.
func (s *sqlStore) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	if limit <= 0 || limit > MaxChanges {
		limit = MaxChanges
	}
	opCtx, cancel := s.op(ctx)
	defer cancel()
	out, err := s.changes(opCtx, after, limit)
	if err != nil {
		return nil, unavailable(ctx, fmt.Errorf("read history: %w", err))
	}
	return out, nil
}

func (s *sqlStore) changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, at, who, kind, server, version, detail FROM mcpfed_changes WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Change, 0, min(limit, 64))
	for rows.Next() {
		var c Change
		var detail string
		if err := rows.Scan(&c.Seq, dbTime{&c.At}, &c.Who, &c.Kind, &c.Server, &c.Version, &detail); err != nil {
			return nil, err
		}
		c.Detail = json.RawMessage(detail)
		out = append(out, c)
	}
	return out, rows.Err()
}

// scanAll reads every row with scan, at most max of them (a query asks
// for max+1 to tell a full table from a complete one), and closes rows.
func scanAll[T any](rows *sql.Rows, max int, what string, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		if len(out) == max {
			return nil, fmt.Errorf("more than %d %s stored", max, what)
		}
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
