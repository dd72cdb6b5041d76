package curation

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream"
)

// pendingJSON is one version of the review queue.
type pendingJSON struct {
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Title       string          `json:"title,omitempty"`
	Description string          `json:"description,omitempty"`
	Source      string          `json:"source"`
	Status      string          `json:"status,omitempty"`
	PublishedAt *time.Time      `json:"publishedAt,omitempty"`
	IsLatest    bool            `json:"isLatest"`
	Server      json.RawMessage `json:"server"`
}

// queueKey orders the queue: newest first, then name, version and source
// (a total order, so a cursor resumes exactly).
type queueKey struct {
	At      int64  `json:"t"`
	Name    string `json:"n"`
	Version string `json:"v"`
	Source  string `json:"s"`
}

func keyOf(e *upstream.Entry) queueKey {
	var at int64
	if !e.PublishedAt.IsZero() {
		at = e.PublishedAt.UnixNano()
	}
	return queueKey{At: at, Name: e.Name, Version: e.Version, Source: e.Source}
}

func compareKeys(a, b queueKey) int {
	if c := cmp.Compare(b.At, a.At); c != 0 { // newest first
		return c
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	return strings.Compare(a.Source, b.Source)
}

// maxCursorBytes bounds a cursor before it is decoded.
const maxCursorBytes = 1024

func encodeCursor(k queueKey) string {
	b, _ := json.Marshal(k) // strings and a number: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (queueKey, error) {
	var k queueKey
	if len(s) > maxCursorBytes {
		return k, errors.New("cursor is too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &k) != nil || k.Name == "" {
		return k, errors.New("cursor is not one this endpoint gave")
	}
	return k, nil
}

// pending lists the versions of a view's sources that no decision covers,
// newest first, a page at a time (limit, cursor).
func (a *API) pending(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.authorize(w, r, a.o.Reviewer, a.o.Admin); !ok {
		return
	}
	q, ok := query(w, r, "view", "limit", "cursor")
	if !ok {
		return
	}
	view := q.Get("view")
	if view == "" {
		federate.WriteProblem(w, http.StatusBadRequest, "view is required: the name of the view whose sources to review (views[].name)")
		return
	}
	limit, ok := intParam(w, q, "limit", DefaultPendingLimit, 1, MaxPendingLimit)
	if !ok {
		return
	}
	var after *queueKey
	if c := q.Get("cursor"); c != "" {
		k, err := decodeCursor(c)
		if err != nil {
			federate.WriteProblem(w, http.StatusBadRequest, err.Error())
			return
		}
		after = &k
	}
	if a.o.Entries == nil {
		federate.WriteProblem(w, http.StatusNotFound, "no review queue: no view lists entries here")
		return
	}
	entries, err := a.o.Entries(r, view)
	switch {
	case errors.Is(err, ErrNoView):
		federate.WriteProblem(w, http.StatusNotFound, "no view named "+strconvQuote(view))
		return
	case err != nil:
		a.o.Logger.Warn("curation: cannot list the view's entries", "view", view, "error", err)
		federate.WriteProblem(w, http.StatusServiceUnavailable, "the view's sources could not be listed; retry later")
		return
	}
	var rules *Rules
	if a.o.Set != nil {
		rules = a.o.Set.Rules()
	}
	queue := make([]*upstream.Entry, 0, len(entries))
	for _, e := range entries {
		if e != nil && !rules.Decided(e.Name, e.Version) {
			queue = append(queue, e)
		}
	}
	slices.SortFunc(queue, func(x, y *upstream.Entry) int { return compareKeys(keyOf(x), keyOf(y)) })
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(queue, *after, func(e *upstream.Entry, k queueKey) int { return compareKeys(keyOf(e), k) })
		if start < len(queue) && compareKeys(keyOf(queue[start]), *after) == 0 {
			start++
		}
	}
	end := min(start+int(limit), len(queue))
	out := make([]pendingJSON, 0, end-start)
	for _, e := range queue[start:end] {
		p := pendingJSON{Name: e.Name, Version: e.Version, Title: e.Title, Description: e.Description, Source: e.Source,
			Status: string(e.Status), IsLatest: e.IsLatest, Server: e.Server}
		if !e.PublishedAt.IsZero() {
			t := e.PublishedAt.UTC()
			p.PublishedAt = &t
		}
		if len(p.Server) == 0 {
			p.Server = json.RawMessage("null")
		}
		out = append(out, p)
	}
	meta := map[string]any{"count": len(out), "total": len(queue)}
	if end < len(queue) && end > start {
		meta["nextCursor"] = encodeCursor(keyOf(queue[end-1]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"pending": out, "metadata": meta})
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(clip(s))
	return string(b)
}
