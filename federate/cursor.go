package federate

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// cursorVersion is the layout version of the cursor structure.
const cursorVersion = 1

// maxCursorLen bounds what is decoded (a live source's upstream cursor is
// opaque, so leave room for it).
const maxCursorLen = 8192

// cursor is the decoded form of metadata.nextCursor: base64url (unpadded) of
// this structure as JSON. It records the last key emitted, which source owns
// that key's name (so a name's versions never mix sources across pages), a
// fingerprint of the query it belongs to, and each live source's position.
type cursor struct {
	V int    `json:"v"`
	Q string `json:"q"`
	// Name and Version are the last emitted key.
	Name    string `json:"n"`
	Version string `json:"ver"`
	// Owner is the source that owned Name.
	Owner string `json:"o"`
	// Live holds, for each live source, its upstream cursor and how many
	// entries of that upstream page were consumed.
	Live []liveCursor `json:"l,omitempty"`
}

type liveCursor struct {
	Source   string `json:"s"`
	Upstream string `json:"c,omitempty"`
	Used     int    `json:"u,omitempty"`
	// Done marks a source whose listing is exhausted.
	Done bool `json:"d,omitempty"`
}

func (c cursor) key() upstream.Key { return upstream.Key{Name: c.Name, Version: c.Version} }

// liveFor returns the position recorded for a live source.
func (c cursor) liveFor(source string) (liveCursor, bool) {
	for _, l := range c.Live {
		if l.Source == source {
			return l, true
		}
	}
	return liveCursor{}, false
}

func encodeCursor(c cursor) string {
	c.V = cursorVersion
	b, _ := json.Marshal(c) // plain struct: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor is strict: anything but a cursor this build wrote for the same
// query is a bad request.
func decodeCursor(s, fingerprint string) (cursor, error) {
	var c cursor
	if len(s) > maxCursorLen {
		return c, badRequest("cursor is too long")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return c, badRequest("cursor is not a cursor issued by this registry")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return c, badRequest("cursor is not a cursor issued by this registry")
	}
	switch {
	case c.V != cursorVersion:
		return c, badRequest("cursor version %d is not supported", c.V)
	case c.Name == "" || c.Version == "" || c.Owner == "":
		return c, badRequest("cursor is incomplete")
	case c.Q != fingerprint:
		return c, badRequest("cursor belongs to a different query: keep search, version, updated_since and include_deleted unchanged while paging")
	}
	for _, l := range c.Live {
		if l.Source == "" || l.Used < 0 || l.Used > MaxLimit {
			return c, badRequest("cursor is incomplete")
		}
	}
	return c, nil
}

// key identifies a list request for the response cache.
func (q Query) key() string {
	// Plain fields, not the fingerprint's hash: this runs for every request.
	var updated string
	if !q.UpdatedSince.IsZero() {
		updated = q.UpdatedSince.UTC().Format(time.RFC3339Nano)
	}
	return strings.Join([]string{q.Search, q.Version, updated, strconv.FormatBool(q.IncludeDeleted), strconv.Itoa(q.Limit), q.Cursor}, "\x00")
}

// fingerprint identifies the filters a cursor is valid for.
func (q Query) fingerprint(view string) string {
	h := sha256.New()
	for _, part := range []string{view, q.Search, q.Version, q.UpdatedSince.UTC().Format("2006-01-02T15:04:05.999999999Z"), strconv.FormatBool(q.IncludeDeleted)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}
