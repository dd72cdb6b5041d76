package federate

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// cursorVersion is the layout version of the cursor structure. Version 2
// added the MAC: a version-1 cursor (unsigned) is refused.
const cursorVersion = 2

// maxCursorLen bounds what is decoded: room for the positions of 24 live
// sources at their largest (maxUpstreamCursor each), base64 included.
const maxCursorLen = 36 << 10

// MinCursorKeyBytes is the shortest cursor key accepted: HMAC-SHA256 keys
// shorter than the hash add no strength and suggest a mistake.
const MinCursorKeyBytes = 32

// ErrCursorKey is a cursor key that cannot be used.
var ErrCursorKey = errors.New("invalid cursor key")

// cursorMACContext separates cursor MACs from any other use of the key.
const cursorMACContext = "mcpfed-cursor\x00"

// cursor is the decoded form of metadata.nextCursor: base64url (unpadded) of
// this structure as JSON, a dot, and base64url of its HMAC-SHA256 (see
// cursorCodec). It records the last key emitted, which source owns that
// key's name (so a name's versions never mix sources across pages), a
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
	// Behind marks a position the walk left behind while the source could
	// not answer: the cursor's key is past it, so entries up to the key
	// are passed over there, not taken for entries out of order.
	Behind bool `json:"b,omitempty"`
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

// cursorCodec signs and verifies cursors. Cursors are authenticated, not
// secret: a client can read one but cannot write one, so it cannot name an
// owner or an upstream position the registry did not hand out. The first
// key signs; every key verifies, so a key can be rotated in without
// invalidating the cursors of walks in progress.
type cursorCodec struct {
	keys [][]byte
}

// newCursorCodec checks keys; none means a random key, valid for this
// process only (replicas and restarts would refuse each other's cursors).
func newCursorCodec(keys [][]byte) (*cursorCodec, bool, error) {
	for i, k := range keys {
		if len(k) < MinCursorKeyBytes {
			return nil, false, fmt.Errorf("%w: key %d has %d bytes, want at least %d", ErrCursorKey, i+1, len(k), MinCursorKeyBytes)
		}
	}
	if len(keys) > 0 {
		return &cursorCodec{keys: slices.Clone(keys)}, false, nil
	}
	k := make([]byte, MinCursorKeyBytes)
	if _, err := rand.Read(k); err != nil {
		return nil, false, fmt.Errorf("generate a cursor key: %w", err)
	}
	return &cursorCodec{keys: [][]byte{k}}, true, nil
}

func cursorMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cursorMACContext))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (cc *cursorCodec) encode(c cursor) string {
	c.V = cursorVersion
	b, _ := json.Marshal(c) // plain struct: cannot fail
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(cursorMAC(cc.keys[0], payload))
}

// verify returns the payload of a cursor whose MAC one of the keys made.
func (cc *cursorCodec) verify(s string) (string, bool) {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok {
		return "", false
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(mac) != sha256.Size {
		return "", false
	}
	for _, k := range cc.keys {
		if hmac.Equal(mac, cursorMAC(k, payload)) {
			return payload, true
		}
	}
	return "", false
}

// errForeignCursor is the answer to any cursor this registry did not sign.
func errForeignCursor() error {
	return badRequest("cursor is not a cursor issued by this registry (or its key was retired): start the listing again without a cursor")
}

// decode is strict: anything but a cursor this registry signed for the same
// query is a bad request. The MAC is checked before anything else is
// parsed, so only a structure the registry wrote is ever decoded.
func (cc *cursorCodec) decode(s, fingerprint string) (cursor, error) {
	var c cursor
	if len(s) > maxCursorLen {
		return c, badRequest("cursor is too long")
	}
	payload, ok := cc.verify(s)
	if !ok {
		return c, errForeignCursor()
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return c, errForeignCursor()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return c, errForeignCursor()
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
		if l.Source == "" || l.Used < 0 || l.Used > maxUpstreamPage {
			return c, badRequest("cursor is incomplete")
		}
		// Defence in depth: an upstream cursor goes into a query string;
		// refuse what no registry hands out before sending it anywhere.
		if strings.ContainsFunc(l.Upstream, isControl) {
			return c, badRequest("cursor holds a malformed position for source %q", l.Source)
		}
	}
	return c, nil
}

// maxUpstreamPage is the largest upstream page a live position can index.
const maxUpstreamPage = 1000

// key identifies a list request for the response cache.
func (q Query) key() string {
	// Plain fields, not the fingerprint's hash: this runs for every request.
	var updated string
	if !q.UpdatedSince.IsZero() {
		updated = q.UpdatedSince.UTC().Format(time.RFC3339Nano)
	}
	parts := []string{q.Search, q.Version, updated, strconv.FormatBool(q.IncludeDeleted), strconv.Itoa(q.Limit), q.Cursor}
	return strings.Join(append(parts, q.filterParts()...), "\x00")
}

// fingerprint identifies the filters a cursor is valid for.
func (q Query) fingerprint(view string) string {
	h := sha256.New()
	parts := []string{view, q.Search, q.Version, q.UpdatedSince.UTC().Format("2006-01-02T15:04:05.999999999Z"), strconv.FormatBool(q.IncludeDeleted)}
	for _, part := range append(parts, q.filterParts()...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}
