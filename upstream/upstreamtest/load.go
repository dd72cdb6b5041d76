package upstreamtest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/mcpfed/mcpfed/upstream"
)

// LoadFile adds every server in a registry data file (any format
// upstream.Parse detects: the upstream registry format, ToolHive's legacy
// registry.json, a ServerList dump, a server.json or an array of them) and
// returns how many versions it read. The skills and plugins of an upstream
// registry file (data.skills, data.plugins) are added too (PutArtifact).
// It fails the test on error.
func (r *Registry) LoadFile(path string) int {
	r.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatalf("upstreamtest: LoadFile: %v", err)
		return 0
	}
	n, err := r.load(data)
	if err != nil {
		r.t.Fatalf("upstreamtest: LoadFile %s: %v", path, err)
		return 0
	}
	return n
}

// LoadJSON is LoadFile for data already in memory.
func (r *Registry) LoadJSON(data []byte) int {
	r.t.Helper()
	n, err := r.load(data)
	if err != nil {
		r.t.Fatalf("upstreamtest: LoadJSON: %v", err)
		return 0
	}
	return n
}

// load keeps an official block when the data has one. Otherwise the status
// is ToolHive's (when its publisher extension gives one, lower-cased) and the
// version counts as published at the file's own timestamp, else now.
func (r *Registry) load(data []byte) (int, error) {
	doc, err := upstream.Parse(data)
	if err != nil {
		return 0, err
	}
	items := make([]pending, 0, len(doc.Entries))
	for _, e := range doc.Entries {
		rec, err := newRecord(e.Server)
		if err != nil {
			return 0, fmt.Errorf("%s@%s: %w", e.Name, e.Version, err)
		}
		var meta Official
		if e.HasOfficialMeta() {
			meta = Official{
				Status:          Status(e.Status),
				StatusMessage:   e.StatusMessage,
				StatusChangedAt: e.StatusChangedAt,
				PublishedAt:     e.PublishedAt,
				UpdatedAt:       e.UpdatedAt,
			}
		} else {
			meta = Official{Status: toolHiveStatus(rec.server), PublishedAt: doc.LastUpdated}
		}
		for _, f := range e.ExtraMeta {
			if meta.ExtraMeta == nil {
				meta.ExtraMeta = make(map[string]json.RawMessage)
			}
			meta.ExtraMeta[f.Key] = f.Value
		}
		items = append(items, pending{rec, meta})
	}
	for kind, arts := range doc.Artifacts {
		raws := make([]json.RawMessage, len(arts))
		for i, a := range arts {
			raws[i] = a.Raw
		}
		if err := r.putArtifacts(string(kind), raws); err != nil {
			return 0, err
		}
	}
	r.data.mu.Lock()
	defer r.data.mu.Unlock()
	r.upsertLocked(items)
	return len(items), nil
}

// toolHiveStatus reads the status ToolHive records in its publisher
// extension (_meta.publisher-provided["io.github.stacklok"][image].status).
func toolHiveStatus(server json.RawMessage) Status {
	var s struct {
		Meta struct {
			Publisher struct {
				ToolHive map[string]struct {
					Status string `json:"status"`
				} `json:"io.github.stacklok"`
			} `json:"io.modelcontextprotocol.registry/publisher-provided"`
		} `json:"_meta"`
	}
	if json.Unmarshal(server, &s) != nil {
		return StatusActive
	}
	for _, ext := range s.Meta.Publisher.ToolHive {
		switch st := Status(strings.ToLower(ext.Status)); st {
		case StatusActive, StatusDeprecated, StatusDeleted:
			return st
		}
	}
	return StatusActive
}
