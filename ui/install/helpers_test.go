package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// splitShell splits a command line the way a POSIX shell does for the
// subset of syntax a snippet may use: words separated by blanks, '…'
// quoting, "…" quoting with \ escapes, and \ outside quotes. Anything a
// shell would act on instead of passing it as an argument — an unquoted
// operator, expansion, glob, comment or tilde — is an error, so a snippet
// that passes splitShell means the same argv in every POSIX shell.
func splitShell(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				switch line[i] {
				case '\\':
					if i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
						i++
					}
				case '$', '`':
					return nil, errors.New("expansion inside double quotes")
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, errors.New("unterminated double quote")
			}
			in = true
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(line[i])
			in = true
		case strings.IndexByte("|&;<>()$`*?[#\n", c) >= 0:
			return nil, errors.New("unquoted shell metacharacter " + string(c))
		case c == '~' && !in:
			return nil, errors.New("unquoted tilde at the start of a word")
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// shArgv asks /bin/sh how it splits line; ok is false without a shell.
func shArgv(t *testing.T, line string) (argv []string, ok bool) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		return nil, false
	}
	// printf repeats its format for every argument: each word of line,
	// NUL-terminated, exactly as the shell passed it.
	out, err := exec.Command("/bin/sh", "-c", `printf '%s\0' `+line).Output()
	if err != nil {
		t.Fatalf("sh -c failed on %q: %v", line, err)
	}
	parts := strings.Split(string(out), "\x00")
	return parts[:len(parts)-1], true
}

// argvOf splits a shell snippet with both splitters and checks they agree.
func argvOf(t *testing.T, line string) []string {
	t.Helper()
	words, err := splitShell(line)
	if err != nil {
		t.Fatalf("snippet is not a plain command line: %v\n%s", err, line)
	}
	if sh, ok := shArgv(t, line); ok && !reflect.DeepEqual(sh, words) {
		t.Fatalf("sh splits differently:\nsh:    %q\nsplit: %q", sh, words)
	}
	return words
}

// checkClients asserts what holds for every answer: the four clients in
// order, unique snippet IDs, JSON snippets that parse, shell snippets that
// split, and VS Code's two snippets describing the same server.
func checkClients(t testing.TB, clients []Client) {
	t.Helper()
	wantIDs := []string{ClientVSCode, ClientClaudeCode, ClientCursor, ClientToolHive}
	if len(clients) != len(wantIDs) {
		t.Fatalf("got %d clients, want %d", len(clients), len(wantIDs))
	}
	seen := map[string]bool{}
	for i, c := range clients {
		if c.ID != wantIDs[i] || c.Label == "" {
			t.Fatalf("client %d is %q/%q, want %q", i, c.ID, c.Label, wantIDs[i])
		}
		for _, s := range c.Snippets {
			if seen[s.ID] || s.ID == "" || s.Title == "" || s.Text == "" {
				t.Fatalf("bad or repeated snippet %+v", s)
			}
			seen[s.ID] = true
			switch s.Language {
			case LangJSON:
				if !json.Valid([]byte(s.Text)) {
					t.Fatalf("snippet %s is not JSON:\n%s", s.ID, s.Text)
				}
			case LangShell:
				if _, err := splitShell(s.Text); err != nil {
					t.Fatalf("snippet %s: %v\n%s", s.ID, err, s.Text)
				}
				if strings.HasPrefix(s.Text, "code --add-mcp ") {
					words, _ := splitShell(s.Text)
					if len(words) != 3 || !json.Valid([]byte(words[2])) {
						t.Fatalf("snippet %s: --add-mcp argument is not one JSON word:\n%s", s.ID, s.Text)
					}
				}
			default:
				t.Fatalf("snippet %s has language %q", s.ID, s.Language)
			}
		}
	}
}

func find(clients []Client, id string) (Snippet, bool) {
	for _, c := range clients {
		for _, s := range c.Snippets {
			if s.ID == id {
				return s, true
			}
		}
	}
	return Snippet{}, false
}

func client(clients []Client, id string) Client {
	for _, c := range clients {
		if c.ID == id {
			return c
		}
	}
	return Client{}
}

// decodeStrict decodes JSON into v, failing on unknown fields, so a test
// notices a field a client would not expect.
func decodeStrict(t *testing.T, text string, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, text)
	}
}
