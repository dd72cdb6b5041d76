package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// airtable is a server of the built-in catalogue with an npm, an oci and
// an mcpb package and a secret variable: its VS Code snippet is checked
// against the packages.
const airtable = "io.github.domdomegg/airtable-mcp-server"

// TestSearchThenOpenServer: a person types in the search box, submits,
// finds the server among the results, opens it, and reads its page: title,
// versions, source, the raw server.json as served by the API, and a VS
// Code snippet that parses and runs the server's own package. Without
// JavaScript too.
func TestSearchThenOpenServer(t *testing.T) {
	t.Parallel()
	for _, js := range []bool{true, false} {
		name := "javascript"
		if !js {
			name = "no-javascript"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := setup(t)
			tab := newTab(t, ctx, TabOptions{})
			if !js {
				mustRun(t, ctx, tab, "disable scripts", chromedp.Steps(call(emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})))
			}
			visit(t, ctx, tab, "/", 200)
			all := readCatalogue(t, ctx, tab)

			// "\r" is the Enter key: the form submits as a person's would.
			follow(t, ctx, tab, "search", chromedp.SendKeys(chromedp.ID("q"), "airtable\r"), 200)
			if u := location(t, ctx, tab); u.Path != "/" || u.Query().Get("q") != "airtable" {
				t.Errorf("the search went to %s, want /?q=airtable", u)
			}
			found := readCatalogue(t, ctx, tab)
			if !slices.Contains(found.Names, airtable) {
				t.Fatalf("searching airtable lists %v, not %s", found.Names, airtable)
			}
			if len(found.Names) >= len(all.Names) && all.HasNext {
				t.Errorf("the search did not narrow the list: %d results", len(found.Names))
			}
			if q := mustRun(t, ctx, tab, "search box", chromedp.Value(chromedp.ID("q"))); q != "airtable" {
				t.Errorf("the search box holds %q after the search, want airtable", q)
			}

			follow(t, ctx, tab, "open the server",
				chromedp.Click(chromedp.CSS(fmt.Sprintf(`#results li.server[data-name=%q] a.server-link`, airtable))), 200)
			if u := location(t, ctx, tab); u.EscapedPath() != serverPath("", airtable) {
				t.Errorf("the server page is %s, want %s", u.EscapedPath(), serverPath("", airtable))
			}
			checkServerPage(t, ctx, tab, "", airtable)
			if js {
				checkClean(t, ctx, tab, nil)
			}
		})
	}
}

// serverPage is what a server's page shows.
type serverPage struct {
	Title    string            `json:"title"`
	Versions int               `json:"versions"`
	Source   string            `json:"source"`
	Raw      string            `json:"raw"`
	Snippets map[string]string `json:"snippets"`
	Copies   []string          `json:"copies"`
}

const readServer = `(() => {
  const text = (id) => { const e = document.getElementById(id); return e ? e.textContent : ''; };
  const snippets = {};
  for (const pre of document.querySelectorAll('#install pre[id^="snippet-"]')) snippets[pre.id.slice(8)] = pre.textContent;
  return {
    title: text('title'),
    versions: document.querySelectorAll('table#versions tbody tr').length,
    source: text('source'),
    raw: text('raw'),
    snippets,
    copies: Array.from(document.querySelectorAll('#install button.copy[type="button"]'), b => b.dataset.copy),
  };
})()`

// checkServerPage checks a server page against the API's latest version
// of name and returns what it shows.
func checkServerPage(t *testing.T, ctx context.Context, tab *Tab, view, name string) serverPage {
	t.Helper()
	p := mustRun(t, ctx, tab, "read the server page", chromedp.Evaluate[serverPage](readServer))
	served := latestServer(t, ctx, view, name)
	title := collapse(str(served["title"]))
	if got := collapse(p.Title); !strings.Contains(got, name) && (title == "" || !strings.Contains(got, title)) {
		t.Errorf("#title is %q: neither the name %q nor the title %q", got, name, title)
	}
	if p.Versions == 0 {
		t.Error("table#versions has no rows")
	}
	if strings.TrimSpace(p.Source) == "" {
		t.Error("#source is empty")
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(p.Raw), &raw); err != nil {
		t.Errorf("#raw is not JSON: %v\n%s", err, p.Raw)
	} else if !jsonEqual(raw, served) {
		t.Errorf("#raw differs from the API's server.json\npage: %s\napi:  %s", mustJSON(raw), mustJSON(served))
	}
	for id := range p.Snippets {
		if !slices.Contains(p.Copies, "snippet-"+id) {
			t.Errorf("snippet %s has no button.copy[data-copy=snippet-%s]", id, id)
		}
	}
	return p
}

// TestVSCodeSnippetRunsTheServersPackage reads the VS Code snippet off
// the page of a server with packages and checks it parses and runs one of
// the server's packages, with its variables, secrets as ${input:…}
// prompts that the snippet declares.
func TestVSCodeSnippetRunsTheServersPackage(t *testing.T) {
	t.Parallel()
	ctx := setup(t)
	tab := newTab(t, ctx, TabOptions{})
	visit(t, ctx, tab, serverPath("", airtable), 200)
	p := checkServerPage(t, ctx, tab, "", airtable)
	text, ok := p.Snippets["vscode-json"]
	if !ok {
		t.Fatalf("no #snippet-vscode-json on the page of %s (snippets: %v)", airtable, keys(p.Snippets))
	}
	if err := checkVSCode([]byte(text), latestServer(t, ctx, "", airtable)); err != nil {
		t.Errorf("%v\nsnippet:\n%s", err, text)
	}
	checkClean(t, ctx, tab, nil)
}

// TestKeyboardReachesCopyButton: from the top of a server page, Tab alone
// reaches a copy button, which then shows a visible focus indicator.
func TestKeyboardReachesCopyButton(t *testing.T) {
	t.Parallel()
	ctx := setup(t)
	tab := newTab(t, ctx, TabOptions{})
	if err := tab.GrantClipboard(ctx, env.server.URL); err != nil {
		t.Fatal(err)
	}
	visit(t, ctx, tab, serverPath("", airtable), 200)
	const active = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return {tag: ''};
  const s = getComputedStyle(e);
  return {
    tag: e.tagName.toLowerCase(),
    copy: e.matches('button.copy'),
    focusVisible: e.matches(':focus-visible'),
    outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
    shadow: s.boxShadow !== 'none',
    text: (e.textContent || '').trim().slice(0, 40),
  };
})()`
	type focus struct {
		Tag          string `json:"tag"`
		Copy         bool   `json:"copy"`
		FocusVisible bool   `json:"focusVisible"`
		Outline      bool   `json:"outline"`
		Shadow       bool   `json:"shadow"`
		Text         string `json:"text"`
	}
	var path []string
	for range 80 {
		mustRun(t, ctx, tab, "Tab", chromedp.KeyEvent(kb.Tab))
		f := mustRun(t, ctx, tab, "focused element", chromedp.Evaluate[focus](active))
		path = append(path, f.Tag+" "+f.Text)
		if !f.Copy {
			continue
		}
		if !f.FocusVisible {
			t.Error("the copy button has focus but not :focus-visible")
		}
		if !f.Outline && !f.Shadow {
			t.Error("the focused copy button shows no outline or box-shadow")
		}
		// Enter presses the button: the clipboard then holds the snippet.
		mustRun(t, ctx, tab, "Enter", chromedp.KeyEvent(kb.Enter))
		want := mustRun(t, ctx, tab, "snippet", chromedp.Evaluate[string](
			`document.getElementById(document.activeElement.dataset.copy).textContent`))
		got, err := Run(ctx, tab, chromedp.Poll[string](
			`navigator.clipboard.readText().then(s => s === `+jsString(want)+` ? s : null)`,
			chromedp.WithPollingTimeout(5*time.Second)))
		if err != nil {
			clip, _ := Run(ctx, tab, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
			t.Errorf("after Enter on the copy button the clipboard holds %q, want the snippet %q (%v)", clip, want, err)
		} else if got != want {
			t.Errorf("clipboard %q, want %q", got, want)
		}
		checkClean(t, ctx, tab, nil)
		return
	}
	t.Fatalf("80 Tabs did not reach a button.copy; focus went: %s", strings.Join(path, " → "))
}

// vscodeServer is an entry of .vscode/mcp.json's "servers".
type vscodeServer struct {
	Type    string            `json:"type"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// checkVSCode checks a VS Code snippet against the server it is for. The
// snippet may be the whole file ({"servers": {…}, "inputs": […]}) or only
// the server's entry; it must run one of the server's packages (npm →
// npx -y id@version, pypi → uvx id==version, oci → docker run … image,
// nuget → dnx id@version --yes) or name one of its remotes, and every
// ${input:id} it uses must be declared in its inputs.
func checkVSCode(text []byte, server map[string]any) error {
	var file struct {
		Servers map[string]vscodeServer `json:"servers"`
		Inputs  []struct {
			ID string `json:"id"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(text, &file); err != nil {
		return fmt.Errorf("the VS Code snippet is not JSON: %w", err)
	}
	var entry vscodeServer
	switch len(file.Servers) {
	case 1:
		for _, e := range file.Servers {
			entry = e
		}
	case 0:
		var named map[string]vscodeServer
		if err := json.Unmarshal(text, &entry); err != nil || (entry.Command == "" && entry.URL == "") {
			if json.Unmarshal(text, &named) != nil || len(named) != 1 {
				return fmt.Errorf("no server entry in the VS Code snippet")
			}
			for _, e := range named {
				entry = e
			}
		}
	default:
		return fmt.Errorf("the VS Code snippet has %d servers, want 1", len(file.Servers))
	}

	if err := matchPackage(entry, server); err != nil {
		return err
	}
	declared := map[string]bool{}
	for _, in := range file.Inputs {
		declared[in.ID] = true
	}
	used := slices.Concat(entry.Args, values(entry.Env), values(entry.Headers))
	for _, v := range used {
		for _, id := range inputRefs(v) {
			if len(file.Inputs) > 0 && !declared[id] {
				return fmt.Errorf("${input:%s} is used but not declared in inputs", id)
			}
		}
	}
	return nil
}

// matchPackage finds the package or remote of server that entry runs.
func matchPackage(entry vscodeServer, server map[string]any) error {
	if entry.URL != "" {
		for _, r := range list(server["remotes"]) {
			if str(r["url"]) == entry.URL {
				return nil
			}
		}
		for _, p := range list(server["packages"]) {
			if tr, _ := p["transport"].(map[string]any); tr != nil && str(tr["url"]) == entry.URL {
				return nil
			}
		}
		return fmt.Errorf("url %q is none of the server's remotes", entry.URL)
	}
	if entry.Type != "" && entry.Type != "stdio" {
		return fmt.Errorf("a command entry of type %q, want stdio", entry.Type)
	}
	for _, p := range list(server["packages"]) {
		id, version := str(p["identifier"]), str(p["version"])
		var ok bool
		switch str(p["registryType"]) {
		case "npm":
			ok = entry.Command == "npx" && slices.Contains(entry.Args, "-y") && slices.Contains(entry.Args, id+"@"+version)
		case "pypi":
			ok = entry.Command == "uvx" && slices.Contains(entry.Args, id+"=="+version)
		case "oci":
			ok = entry.Command == "docker" && len(entry.Args) > 0 && entry.Args[0] == "run" &&
				slices.Contains(entry.Args, "-i") && slices.Contains(entry.Args, "--rm") && slices.Contains(entry.Args, id)
		case "nuget":
			ok = entry.Command == "dnx" && slices.Contains(entry.Args, id+"@"+version) && slices.Contains(entry.Args, "--yes")
		}
		if !ok {
			continue
		}
		var names []string
		for _, v := range list(p["environmentVariables"]) {
			names = append(names, str(v["name"]))
		}
		for k := range entry.Env {
			if !slices.Contains(names, k) {
				return fmt.Errorf("env %s is not a variable of the %s package %s", k, str(p["registryType"]), id)
			}
		}
		for _, v := range list(p["environmentVariables"]) {
			if b, _ := v["isSecret"].(bool); b {
				if val, set := entry.Env[str(v["name"])]; set && len(inputRefs(val)) == 0 {
					return fmt.Errorf("secret %s is written into the snippet (%q), not prompted with ${input:…}", str(v["name"]), val)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("command %q %q runs none of the server's packages", entry.Command, entry.Args)
}

// inputRefs returns the ids of the ${input:id} in s.
func inputRefs(s string) []string {
	var ids []string
	for {
		i := strings.Index(s, "${input:")
		if i < 0 {
			return ids
		}
		s = s[i+len("${input:"):]
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return ids
		}
		ids = append(ids, s[:j])
		s = s[j+1:]
	}
}

func list(v any) []map[string]any {
	a, _ := v.([]any)
	var out []map[string]any
	for _, x := range a {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// collapse folds runs of white space to one space and trims, as HTML
// renders text.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// jsString is s as a JavaScript string literal.
func jsString(s string) string { return mustJSON(s) }

func jsonEqual(a, b any) bool { return mustJSON(a) == mustJSON(b) }

// mustJSON is a canonical form: encoding/json sorts map keys.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
