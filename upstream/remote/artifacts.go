package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpfed/mcpfed/upstream"
)

// ToolHive's registry extension (skills and plugins) is defined under
// /v0.1 only, whatever API version the source's servers are read with.
const artifactRoot = "/v0.1/x/dev.toolhive/"

func isArtifactOp(op upstream.Operation) bool {
	return op == upstream.OpArtifacts || op == upstream.OpArtifactVersions
}

// servesNoExtension reports an answer that means "this registry has no
// such extension": besides a 404, a 405 or 501 from a server that routes
// the path but implements nothing there. Not an upstream failure.
func servesNoExtension(err error) bool {
	var se *upstream.StatusError
	return errors.As(err, &se) && (se.Code == http.StatusMethodNotAllowed || se.Code == http.StatusNotImplemented)
}

// artifactURL translates an artifact request: the list
// ({base}/v0.1/x/dev.toolhive/{kind}?limit=&cursor=) or one artifact's
// versions (…/{kind}/{namespace}/{name}/versions, with the cursor of a
// later page).
func (c *Client) artifactURL(r upstream.Request) (string, error) {
	if !slices.Contains(upstream.ArtifactKinds, r.Kind) {
		return "", fmt.Errorf("unknown artifact kind %q", r.Kind)
	}
	root := c.base.String() + artifactRoot + string(r.Kind)
	q := url.Values{}
	if r.Cursor != "" {
		q.Set("cursor", r.Cursor)
	}
	if r.Op == upstream.OpArtifactVersions {
		ns, name, ok := strings.Cut(r.Name, "/")
		if !ok || ns == "" || name == "" {
			return "", fmt.Errorf("artifact request without a namespace/name: %q", r.Name)
		}
		root += "/" + escapeSegment(ns) + "/" + escapeSegment(name) + "/versions"
	} else if r.Limit > 0 {
		q.Set("limit", strconv.Itoa(r.Limit))
	}
	if len(q) == 0 {
		return root, nil
	}
	return root + "?" + q.Encode(), nil
}

// decodeArtifacts reads {"<kind>":[…],"metadata":{"nextCursor":…}}. An
// artifact that fails validation is skipped and counted, as a bad server
// record is.
func (c *Client) decodeArtifacts(kind upstream.ArtifactKind, body []byte) (*upstream.Response, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the JSON document")
	}
	rawItems, ok := top[string(kind)]
	if !ok || firstByte(rawItems) != '[' {
		return nil, fmt.Errorf("answer has no %q array", kind)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(rawItems, &items); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	out := &upstream.Response{}
	if raw, ok := top["metadata"]; ok && firstByte(raw) == '{' {
		var meta struct {
			NextCursor string `json:"nextCursor"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		out.NextCursor = meta.NextCursor
	}
	var firstBad error
	for i, raw := range items {
		a, err := upstream.NewArtifact(kind, raw)
		if err != nil {
			if firstBad == nil {
				firstBad = fmt.Errorf("%s[%d]: %w", kind, i, err)
			}
			out.Dropped++
			out.DropReason = upstream.DropInvalid
			continue
		}
		a.Source = c.o.Source
		out.Artifacts = append(out.Artifacts, a)
	}
	if firstBad != nil {
		c.o.Logger.Warn("skipping invalid upstream artifacts", "source", c.o.Source, "kind", kind, "skipped", out.Dropped, "first", firstBad)
	}
	return out, nil
}

func firstByte(raw json.RawMessage) byte {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return 0
	}
	return t[0]
}
