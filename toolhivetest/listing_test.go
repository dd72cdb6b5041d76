package toolhivetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/mcpfed/mcpfed"
)

const (
	// maxPages bounds every paged walk; maxBody one response.
	maxPages = 500
	maxBody  = 32 << 20
)

// getJSON fetches u and decodes a 200 answer into v.
func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.300s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// serverRef is what the tests need of one server of mcpfed's listing.
type serverRef struct {
	Name string
	// Runnable: ToolHive can represent it, as a remote or as exactly one
	// OCI image (thv skips any other server of an API registry).
	Runnable bool
}

// mcpfedServers walks mcpfed's /v0.1/servers (latest versions).
func mcpfedServers(ctx context.Context, base string) ([]serverRef, error) {
	var out []serverRef
	cursor := ""
	for range maxPages {
		q := url.Values{"limit": {"100"}, "version": {"latest"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Servers []struct {
				Server struct {
					Name     string `json:"name"`
					Packages []struct {
						RegistryType string `json:"registryType"`
					} `json:"packages"`
					Remotes []json.RawMessage `json:"remotes"`
				} `json:"server"`
			} `json:"servers"`
			Metadata struct {
				NextCursor string `json:"nextCursor"`
			} `json:"metadata"`
		}
		if err := getJSON(ctx, base+"/v0.1/servers?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		for _, s := range page.Servers {
			oci := 0
			for _, p := range s.Server.Packages {
				if p.RegistryType == "oci" {
					oci++
				}
			}
			out = append(out, serverRef{Name: s.Server.Name, Runnable: len(s.Server.Remotes) > 0 || oci == 1})
		}
		if page.Metadata.NextCursor == "" {
			return out, nil
		}
		cursor = page.Metadata.NextCursor
	}
	return nil, fmt.Errorf("/v0.1/servers: more than %d pages", maxPages)
}

// artifactRef identifies one skill or plugin version.
type artifactRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Version   string `json:"version"`
}

func (a artifactRef) ID() string { return a.Namespace + "/" + a.Name }

// mcpfedArtifacts walks mcpfed's /v0.1/x/dev.toolhive/{kind} with its
// cursors, the way ToolHive's registry client does.
func mcpfedArtifacts(ctx context.Context, base, kind string) ([]artifactRef, error) {
	var out []artifactRef
	cursor := ""
	for range maxPages {
		q := url.Values{"limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page map[string]json.RawMessage
		if err := getJSON(ctx, base+"/v0.1/x/dev.toolhive/"+kind+"?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		var items []artifactRef
		if err := json.Unmarshal(page[kind], &items); err != nil || page[kind] == nil {
			return nil, fmt.Errorf("/v0.1/x/dev.toolhive/%s: no %q array (%v)", kind, kind, err)
		}
		var meta struct {
			NextCursor string `json:"nextCursor"`
		}
		if err := json.Unmarshal(page["metadata"], &meta); err != nil {
			return nil, fmt.Errorf("/v0.1/x/dev.toolhive/%s: metadata: %w", kind, err)
		}
		out = append(out, items...)
		if meta.NextCursor == "" {
			return out, nil
		}
		cursor = meta.NextCursor
	}
	return nil, fmt.Errorf("/v0.1/x/dev.toolhive/%s: more than %d pages", kind, maxPages)
}

// serveArtifacts walks `thv serve`'s /registry/default/v0.1/x/dev.toolhive/{kind}
// (page numbers, a total) and returns its items and that total.
func serveArtifacts(ctx context.Context, base, kind string) ([]artifactRef, int, error) {
	var out []artifactRef
	for page := 1; page <= maxPages; page++ {
		var resp map[string]json.RawMessage
		u := base + "/registry/default/v0.1/x/dev.toolhive/" + kind + "?limit=200&page=" + strconv.Itoa(page)
		if err := getJSON(ctx, u, &resp); err != nil {
			return nil, 0, err
		}
		var items []artifactRef
		if err := json.Unmarshal(resp[kind], &items); err != nil || resp[kind] == nil {
			return nil, 0, fmt.Errorf("thv serve %s: no %q array (%v)", kind, kind, err)
		}
		var meta struct {
			Total int `json:"total"`
		}
		if err := json.Unmarshal(resp["metadata"], &meta); err != nil {
			return nil, 0, fmt.Errorf("thv serve %s: metadata: %w", kind, err)
		}
		out = append(out, items...)
		if len(items) == 0 || len(out) >= meta.Total {
			return out, meta.Total, nil
		}
	}
	return nil, 0, fmt.Errorf("thv serve %s: more than %d pages", kind, maxPages)
}

// catalogueIDs returns the namespace/name of every skill or plugin in
// mcpfed's built-in catalogue files: what a listing of the latest
// versions must hold.
func catalogueIDs(kind string) (map[string]bool, error) {
	ids := map[string]bool{}
	for _, name := range mcpfed.BuiltinSources {
		b, err := fs.ReadFile(mcpfed.Builtin(), name+".json")
		if err != nil {
			return nil, err
		}
		// The official registry's seed format is a bare array of
		// servers: it carries neither skills nor plugins.
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
			continue
		}
		var doc struct {
			Data map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("built-in %s: %w", name, err)
		}
		if doc.Data[kind] == nil {
			continue
		}
		var items []artifactRef
		if err := json.Unmarshal(doc.Data[kind], &items); err != nil {
			return nil, fmt.Errorf("built-in %s: data.%s: %w", name, kind, err)
		}
		for _, a := range items {
			ids[a.ID()] = true
		}
	}
	return ids, nil
}

// diff lists what is in a but not in b, sorted.
func diff[A, B any](a map[string]A, b map[string]B) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
