package publish

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/registry/pkg/model"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, one per problem; none: valid
	}{
		{name: "empty"},
		{name: "the issue's example", cfg: Config{
			Publishers: []Publisher{{Claims: map[string]any{"groups": []any{"team-a"}}, Namespaces: []string{"com.acme.team-a/*"}}},
			GitHubOIDC: GitHubOIDC{Issuer: DefaultGitHubIssuer, Audience: "mcp-registry"},
		}},
		{name: "patterns", cfg: Config{Publishers: []Publisher{{Namespaces: []string{"*", "com.acme.*", "com.acme/x", "com.acme*", "com.acme", "a/b/c", "c*m/*", "com acme/*", ""}}}},
			want: []string{"publishers[0].namespaces[3]", "publishers[0].namespaces[4]", "publishers[0].namespaces[5]", "publishers[0].namespaces[6]", "publishers[0].namespaces[7]", "publishers[0].namespaces[8]"}},
		{name: "no namespaces", cfg: Config{Publishers: []Publisher{{Claims: map[string]any{"groups": "x"}}}}, want: []string{"publishers[0].namespaces: required"}},
		{name: "bad claims", cfg: Config{Publishers: []Publisher{{Claims: map[string]any{"": "x", "groups": []any{}}, Namespaces: []string{"*"}}}},
			want: []string{"publishers[0].claims", "publishers[0].claims.groups"}},
		{name: "issuer", cfg: Config{GitHubOIDC: GitHubOIDC{Issuer: "http://github.example.com"}}, want: []string{"githubOIDC.issuer"}},
		{name: "loopback http issuer", cfg: Config{GitHubOIDC: GitHubOIDC{Issuer: "http://127.0.0.1:8080"}}},
		{name: "audience with spaces", cfg: Config{GitHubOIDC: GitHubOIDC{Audience: " x"}}, want: []string{"githubOIDC.audience"}},
		{name: "body limit", cfg: Config{MaxBodyBytes: -1}, want: []string{"maxBodyBytes"}},
		{name: "blank key file", cfg: Config{TokenKeyFile: " "}, want: []string{"tokenKeyFile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("valid, want %v", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), "publishing."+w) {
					t.Errorf("no problem at publishing.%s:\n%v", w, err)
				}
			}
		})
	}
}

func TestIntersect(t *testing.T) {
	t.Parallel()
	tests := []struct{ a, b, want string }{
		{"*", "io.github.acme/*", "io.github.acme/*"},
		{"io.github.*", "io.github.acme/*", "io.github.acme/*"},
		{"io.github.acme/*", "io.github.acme/x", "io.github.acme/x"},
		{"io.github.acme/x", "io.github.acme/x", "io.github.acme/x"},
		{"io.github.acme/x", "io.github.acme/y", ""},
		{"io.github.acme/*", "io.github.acme.sub/*", ""},
		{"com.acme.*", "com.acme/*", ""},
		{"*", "*", "*"},
	}
	for _, tt := range tests {
		for _, pair := range [][2]string{{tt.a, tt.b}, {tt.b, tt.a}} {
			got, ok := intersect(pair[0], pair[1])
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("intersect(%q, %q) = %q %t, want %q", pair[0], pair[1], got, ok, tt.want)
			}
		}
	}
	if covers("com.acme/*", "com.acmecorp/x") || !covers("com.acme.*", "com.acme.team/x") || covers("com.acme/x", "com.acme/xy") {
		t.Error("covers")
	}
}

func TestTokenKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Two processes racing on one state directory end with one key.
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := loadKey("", dir, false)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("racing loads made different keys")
		}
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if _, err := loadKey("", t.TempDir(), true); err == nil {
		t.Error("read-only with no key: created one")
	}
	// A configured file: Ed25519 only.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecFile := filepath.Join(t.TempDir(), "ec.pem")
	writeFile(t, ecFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if _, err := loadKey(ecFile, "", false); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("ECDSA key: %v", err)
	}
	if _, err := loadKey(filepath.Join(t.TempDir(), "missing.pem"), "", false); err == nil {
		t.Error("missing key file accepted")
	}
	// openssl's output is accepted as it is, when openssl is there.
	if openssl, err := exec.LookPath("openssl"); err == nil {
		f := filepath.Join(t.TempDir(), "key.pem")
		if out, err := exec.Command(openssl, "genpkey", "-algorithm", "ed25519", "-out", f).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v %s", err, out)
		}
		if _, err := loadKey(f, "", false); err != nil {
			t.Errorf("openssl key: %v", err)
		}
	}
	// Replicas sharing the key accept each other's tokens.
	a := newEnv(t, Config{TokenKeyFile: filepath.Join(dir, KeyFileName)})
	b := newEnv(t, Config{}, func(o *Options) { o.StateDir = dir })
	if w := b.do("POST", "/v0.1/publish", a.token(Permission{ActionPublish, "*"}), serverJSON(acme, "1.0.0")); w.Code != 200 {
		t.Errorf("token from a replica sharing the key: %d %s", w.Code, w.Body)
	}
}

// TestEmbeddedSchema: the embedded schema is the current official one, byte
// for byte the registry module's copy when the module cache has it.
func TestEmbeddedSchema(t *testing.T) {
	t.Parallel()
	var doc struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(serverSchema, &doc); err != nil || doc.ID != model.CurrentSchemaURL {
		t.Fatalf("$id %q (%v), want %s", doc.ID, err, model.CurrentSchemaURL)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/modelcontextprotocol/registry").Output()
	if err != nil {
		t.Skipf("registry module source not available: %v", err)
	}
	orig, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "validators", "schemas", model.CurrentSchemaVersion+".json"))
	if err != nil {
		t.Skipf("registry module source not available: %v", err)
	}
	if !bytes.Equal(orig, serverSchema) {
		t.Error("publish/server.schema.json differs from the registry module's schema of the current version: copy it again")
	}
}
