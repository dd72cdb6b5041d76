package upstream

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    FileOptions
		want []string // each must appear; none: valid
	}{
		{"minimal path", FileOptions{Path: "/srv/reg.json"}, nil},
		{"https with token", FileOptions{Path: "https://example.com/r.json", TokenFile: "/t"}, nil},
		{"https with basic", FileOptions{Path: "https://example.com/r.json", UsernameFile: "/u", PasswordFile: "/p"}, nil},
		{"no path", FileOptions{}, []string{"path or url is required"}},
		{"builtin without name", FileOptions{Path: "builtin:"}, []string{"path builtin: needs the name"}},
		{"url without host", FileOptions{Path: "https:///x"}, []string{"has no host"}},
		{"negatives", FileOptions{Path: "/x", Interval: -1, LoadTimeout: -time.Second, MaxBytes: -1, MaxFiles: -2},
			[]string{"interval must not be negative (write a duration like 30s)", "loadTimeout must not be negative", "maxBytes must not be negative", "maxFiles must not be negative"}},
		{"token on a path", FileOptions{Path: "/x", TokenFile: "/t"}, []string{"apply only to an https url"}},
		{"token over http", FileOptions{Path: "http://example.com/r.json", TokenFile: "/t"}, []string{"apply only to an https url"}},
		{"username alone", FileOptions{Path: "https://example.com/r", UsernameFile: "/u"}, []string{"usernameFile and passwordFile go together"}},
		{"both kinds", FileOptions{Path: "https://example.com/r", TokenFile: "/t", UsernameFile: "/u", PasswordFile: "/p"}, []string{"exclude each other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.o)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, nerr := NewFileSource(tt.o); nerr == nil {
				t.Error("NewFileSource accepted what Validate refuses")
			}
		})
	}
}

func TestFileOptionsDefaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path     string
		interval time.Duration
	}{
		{"/srv/reg.json", DefaultFileInterval},
		{"https://example.com/reg.json", DefaultURLInterval},
		{"builtin:toolhive", 0},
	} {
		o := FileOptions{Path: tt.path, StateDir: "/state"}.withDefaults()
		if o.Interval != tt.interval || o.MaxBytes != DefaultMaxBytes || o.MaxFiles != DefaultMaxFiles || o.LoadTimeout != DefaultLoadTimeout || o.HTTPClient == nil {
			t.Errorf("%s: defaults %+v", tt.path, o)
		}
		if (o.Store == nil) != strings.HasPrefix(tt.path, BuiltinPrefix) {
			t.Errorf("%s: store %v (a built-in catalogue is never persisted)", tt.path, o.Store)
		}
	}
	o := FileOptions{Path: "/x", Interval: time.Second, MaxBytes: 5, MaxFiles: 6, LoadTimeout: time.Minute}.withDefaults()
	if o.Interval != time.Second || o.MaxBytes != 5 || o.MaxFiles != 6 || o.LoadTimeout != time.Minute {
		t.Errorf("set values replaced: %+v", o)
	}
}

// TestFileSourceDirectoryBounds: the walk stops at the first file over
// maxFiles or maxBytes, before reading any content.
func TestFileSourceDirectoryBounds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var size int64
	for i := range 5 {
		body := serverJSON(fmt.Sprintf("com.example/s%d", i), "1.0.0")
		size += int64(len(body))
		writeAt(t, filepath.Join(dir, fmt.Sprintf("s%d", i), "server.json"), []byte(body), mtime0)
	}
	src, _, _ := newTestSource(t, FileOptions{Path: dir, MaxFiles: 4})
	mustFail(t, src, "failed", dir, "more than 4 server.json files (maxFiles)")
	src, _, _ = newTestSource(t, FileOptions{Path: dir, MaxFiles: 5, MaxBytes: size})
	if mustLoad(t, src).Len() != 5 {
		t.Error("5 files within the bounds not all loaded")
	}
	src, _, _ = newTestSource(t, FileOptions{Path: dir, MaxBytes: size - 1})
	mustFail(t, src, "failed", "exceed the limit of", filepath.Join(dir, "s4", "server.json"))

	// A load whose context has ended reads nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src, _, _ = newTestSource(t, FileOptions{Path: dir})
	if err := src.Load(ctx); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("Load with an ended context: %v", err)
	}
}
