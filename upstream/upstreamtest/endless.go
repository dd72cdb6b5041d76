package upstreamtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EndlessNamespace is the namespace of the synthetic servers an Endless
// fault serves: io.example.endless/s000000000, s000000001, ...
const EndlessNamespace = "io.example.endless"

// endlessPage is a list answer of an Endless fault: limit fresh versions
// following the request's position, each padded with pad bytes, and a
// cursor to more, whatever the dataset holds.
func (r *Registry) endlessPage(q *listQuery, pad int) response {
	first := 0
	if name, ok := strings.CutPrefix(q.after.name, EndlessNamespace+"/s"); ok {
		if n, err := strconv.Atoi(name); err == nil {
			first = n + 1
		}
	}
	padding := strings.Repeat("x", max(pad, 0))
	when := r.now().UTC().Format(time.RFC3339Nano)
	var b bytes.Buffer
	b.WriteString(`{"servers":[`)
	var last key
	for i := range q.limit {
		if i > 0 {
			b.WriteByte(',')
		}
		last = key{fmt.Sprintf("%s/s%09d", EndlessNamespace, first+i), "1.0.0"}
		server, _ := json.Marshal(map[string]any{ // plain values: cannot fail
			"$schema": serverSchema, "name": last.name, "version": last.version,
			"description": "Endless test server",
			"_meta":       map[string]any{"io.modelcontextprotocol.registry/publisher-provided": map[string]string{"pad": padding}},
		})
		b.WriteString(`{"server":`)
		b.Write(server)
		b.WriteString(`,"_meta":{"` + officialKey + `":{"status":"active","publishedAt":"` + when + `","updatedAt":"` + when + `","isLatest":true}}}`)
	}
	nj, _ := json.Marshal(encodeCursor(last))
	b.WriteString(`],"metadata":{"nextCursor":`)
	b.Write(nj)
	b.WriteString(`,"count":` + strconv.Itoa(q.limit) + `}}`)
	return response{status: http.StatusOK, ctype: ctypeJSON, body: b.Bytes()}
}

// Cursors of a NoProgress fault carry a sequence number before the
// position, so each is new while the position stays: "r<seq>." + the
// cursor's own text.
const repeatTag = "r"

func (r *Registry) noProgressCursor(at key) string {
	seq := r.repeatSeq.Add(1)
	raw, _ := base64.RawURLEncoding.DecodeString(encodeCursor(at)) // our own encoding: cannot fail
	return base64.RawURLEncoding.EncodeToString(append([]byte(repeatTag+strconv.FormatInt(seq, 10)+"."), raw...))
}

// stripRepeat removes a NoProgress cursor's sequence number.
func stripRepeat(raw []byte) []byte {
	s, ok := strings.CutPrefix(string(raw), repeatTag)
	if !ok {
		return raw
	}
	seq, rest, ok := strings.Cut(s, ".")
	if _, err := strconv.ParseUint(seq, 10, 64); !ok || err != nil {
		return raw
	}
	return []byte(rest)
}
