package mcpfedtest

import (
	"net/http"
	"strings"
	"testing"
)

func TestListeningAddr(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"mcpfed listening","addr":"127.0.0.1:41234","sources":1}`, "127.0.0.1:41234"},
		{`time=2026-01-01T00:00:00.000Z level=INFO msg="mcpfed listening" addr=127.0.0.1:41234 sources=1`, "127.0.0.1:41234"},
		{`{"msg":"source loaded","addr":"127.0.0.1:1"}`, ""},
		{`time=2026-01-01T00:00:00.000Z level=INFO msg="source loaded" addr=127.0.0.1:1`, ""},
		{`not a log line`, ""},
	} {
		if got := listeningAddr([]byte(tc.line)); got != tc.want {
			t.Errorf("listeningAddr(%s) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	s := "a\nb\nc\n"
	if got := LastLines(s, 2); got != "b\nc" {
		t.Errorf("LastLines(2) = %q", got)
	}
	if got := LastLines(s, 0); got != "a\nb\nc" {
		t.Errorf("LastLines(0) = %q", got)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &TailBuffer{Max: 4}
	_, _ = b.Write([]byte("abc"))
	_, _ = b.Write([]byte("def"))
	if got := b.String(); got != "cdef" {
		t.Errorf("String() = %q, want cdef", got)
	}
}

// TestStart builds mcpfed and serves its built-in catalogue.
func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mcpfed")
	}
	bin := Build(t, NoCgo())
	dir := t.TempDir()
	p := Start(t, bin, []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "MCPFED_STATE_DIR=" + dir + "/state", "MCPFED_LOG_FORMAT=text"})
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q", p.URL)
	}
	resp, err := http.Get(p.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %s", resp.Status)
	}
	if !strings.Contains(p.Log(), "mcpfed listening") {
		t.Errorf("log has no listening line:\n%s", p.Log())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v\n%s", err, p.Log())
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
