package auth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAuditLine(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	clock := newClock()
	a := NewAuditor(&buf, clock.Now, nil)
	a.Write(Record{RequestID: "req-1", Subject: "alice", Issuer: "https://idp", View: "internal", Method: "GET",
		Route: "/registry/{view}/v0.1/servers", Status: 403, Decision: ResultForbidden, Reason: `claim "groups" does not match`, Client: "198.51.100.1"})
	var got map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"time": clock.Now().UTC().Format(time.RFC3339), "request_id": "req-1", "subject": "alice", "issuer": "https://idp",
		"view": "internal", "method": "GET", "route": "/registry/{view}/v0.1/servers", "status": float64(403),
		"decision": "forbidden", "reason": `claim "groups" does not match`, "client": "198.51.100.1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %d", got, len(want))
	}
	ts, err := time.Parse(time.RFC3339Nano, got["time"].(string))
	if err != nil || !ts.Equal(clock.Now()) {
		t.Errorf("time %v is not RFC 3339 of the clock: %v", got["time"], err)
	}
}

func TestAuditBoundedAndSerialised(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	a := NewAuditor(&buf, nil, nil)
	long := strings.Repeat("é", 1000) + "\xff"
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Write(Record{RequestID: fmt.Sprint(i), Subject: long, Reason: long, Decision: ResultAllow, Status: 200})
		}()
	}
	wg.Wait()
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	n := 0
	for sc.Scan() {
		n++
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not JSON: %v", n, err)
		}
		if len(r.Subject) > maxAuditField || len(r.Reason) > maxAuditField || !strings.HasPrefix(r.Subject, "éé") {
			t.Fatalf("subject not bounded on a rune boundary: %d bytes", len(r.Subject))
		}
		if len(sc.Bytes()) > 4096 {
			t.Fatalf("line of %d bytes", len(sc.Bytes()))
		}
	}
	if n != 50 {
		t.Fatalf("%d lines, want 50", n)
	}
}

func TestOpenAuditor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	var stderr syncBuffer
	tests := []struct {
		name       string
		cfg        AuditConfig
		wantNil    bool
		wantStderr bool
		wantFile   bool
		wantErr    bool
	}{
		{name: "disabled", cfg: AuditConfig{}, wantNil: true},
		{name: "stderr", cfg: AuditConfig{Enabled: true}, wantStderr: true},
		{name: "file", cfg: AuditConfig{Enabled: true, Path: path}, wantFile: true},
		{name: "unwritable path", cfg: AuditConfig{Enabled: true, Path: filepath.Join(dir, "missing", "a")}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := OpenAuditor(tc.cfg, &stderr, nil, nil)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (a == nil) != tc.wantNil {
				t.Fatalf("auditor %v, want nil %v", a, tc.wantNil)
			}
			before := stderr.String()
			a.Write(Record{RequestID: tc.name, Decision: ResultAllow})
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(stderr.String()[len(before):], `"request_id":"`+tc.name+`"`); got != tc.wantStderr {
				t.Errorf("written to stderr: %v, want %v", got, tc.wantStderr)
			}
			b, _ := os.ReadFile(path)
			if got := strings.Contains(string(b), `"request_id":"`+tc.name+`"`); got != tc.wantFile {
				t.Errorf("written to file: %v, want %v", got, tc.wantFile)
			}
		})
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v, %v", fi, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe("internal", ResultAllow)
	m.Observe("internal", ResultAllow)
	m.Observe("internal", ResultForbidden)
	m.Observe("default", ResultInvalidToken)
	if got := testutil.ToFloat64(m.decisions.WithLabelValues("internal", "allow")); got != 2 {
		t.Errorf("allow = %v", got)
	}
	if got := testutil.ToFloat64(m.decisions.WithLabelValues("default", "invalid_token")); got != 1 {
		t.Errorf("invalid_token = %v", got)
	}
	a := NewAuditor(failingWriter{}, nil, nil)
	m.AttachAuditor(a)
	a.Write(Record{})
	if got := testutil.ToFloat64(m.auditErrors); got != 1 {
		t.Errorf("audit errors = %v", got)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	var nilM *Metrics
	nilM.Observe("x", ResultAllow) // a nil Metrics is a no-op
}

// TestTokenNeverLogged drives every kind of token through authentication,
// decision and audit, and checks no token value appears in any audit line,
// log line or error text.
func TestTokenNeverLogged(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	ti := newTestIssuer(t, keys.rsa)
	clock := newClock()
	dir := t.TempDir()
	staticFile := filepath.Join(dir, "static")
	writeFile(t, staticFile, "static-secret-value-123")
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(Config{
		OIDC:   []OIDCConfig{{Name: "corp", Issuer: ti.srv.URL, Audience: "mcpfed", CAFile: ti.caFile(t)}},
		Tokens: []TokenConfig{{Name: "ci-bot", TokenFile: staticFile}},
	}, Options{Logger: log, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var audit syncBuffer
	aud := NewAuditor(&audit, clock.Now, log)
	good := claimsAt(ti.srv.URL, "mcpfed", clock.Now())
	tokens := []string{
		"static-secret-value-123",
		"static-secret-value-124",
		sign(t, keys.rsa, good),
		sign(t, keys.rsa, with(good, "aud", "other")),
		sign(t, keys.attacker, good),
		sign(t, keys.rsa2, good),
	}
	proxies := Proxies{}
	access := Access{Claims: map[string]any{"groups": "engineering"}}
	for i, tok := range tokens {
		for _, where := range []string{"header", "query"} {
			r := httptest.NewRequest(http.MethodGet, "/registry/internal/v0.1/servers", nil)
			if where == "header" {
				r.Header.Set("Authorization", "Bearer "+tok)
			} else {
				r.URL.RawQuery = "access_token=" + tok
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			id, err := a.Authenticate(ctx, r)
			cancel()
			rec := Record{RequestID: fmt.Sprint(i), View: "internal", Method: r.Method, Route: "/registry/{view}/v0.1/servers",
				Client: proxies.ClientAddress(r), Subject: id.Subject, Issuer: id.Issuer}
			if err != nil {
				rec.Status, rec.Decision, rec.Reason = 401, ResultInvalidToken, Reason(err)
				if strings.Contains(err.Error(), tok) {
					t.Errorf("error text contains token %d", i)
				}
			} else {
				d := Decide(access, id)
				rec.Decision, rec.Reason = d.Result, d.Reason
			}
			log.Info("request", "err", err, "identity", id.Subject, "reason", rec.Reason)
			aud.Write(rec)
		}
	}
	for i, tok := range tokens {
		// Any 16-byte piece of the token (JWT pieces: the signature).
		piece := tok[len(tok)-16:]
		for name, out := range map[string]string{"audit": audit.String(), "log": logs.String()} {
			if strings.Contains(out, piece) {
				t.Errorf("token %d appears in the %s output", i, name)
			}
		}
	}
	if !strings.Contains(audit.String(), `"subject":"alice"`) || !strings.Contains(audit.String(), `"subject":"ci-bot"`) {
		t.Errorf("audit lines lack the subjects:\n%s", audit.String())
	}
}
