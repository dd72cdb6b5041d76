package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// vsServer is one server in VS Code's mcp.json (and in `code --add-mcp`).
type vsServer struct {
	Type    string            `json:"type"`
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// vsInput is a VS Code input variable: a prompt (password for secrets) or a
// pick list when the value is one of fixed choices.
type vsInput struct {
	Type        string   `json:"type"`
	ID          string   `json:"id"`
	Description string   `json:"description"`
	Password    bool     `json:"password,omitempty"`
	Options     []string `json:"options,omitempty"`
}

type vsFile struct {
	Inputs  []vsInput           `json:"inputs"`
	Servers map[string]vsServer `json:"servers"`
}

// vsAdd is the argument of `code --add-mcp`: the server with its name and
// inputs alongside.
type vsAdd struct {
	Name string `json:"name"`
	vsServer
	Inputs []vsInput `json:"inputs,omitempty"`
}

// cursorServer is one entry of the mcpServers map Cursor and Claude Desktop
// read.
type cursorServer struct {
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

type cursorFile struct {
	MCPServers map[string]cursorServer `json:"mcpServers"`
}

// toJSON encodes without HTML escaping (the page escapes; a <placeholder>
// must read as itself) and never fails for the types above.
func toJSON(v any, indent bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return "{}"
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// renderer renders templates with one client's variable syntax and records
// which variables a snippet used.
type renderer struct {
	ph   func(*variable) string
	used []*variable
	seen map[*variable]bool
}

func newRenderer(ph func(*variable) string) *renderer {
	return &renderer{ph: ph, seen: map[*variable]bool{}}
}

func (r *renderer) str(t tmpl) string {
	return t.render(func(v *variable) string {
		if !r.seen[v] {
			r.seen[v] = true
			r.used = append(r.used, v)
		}
		return r.ph(v)
	})
}

func (r *renderer) list(ts []tmpl) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = r.str(t)
	}
	return out
}

func (r *renderer) pairs(ps []pair) map[string]string {
	if len(ps) == 0 {
		return nil
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.name] = r.str(p.value)
	}
	return m
}

func (r *renderer) assignments(ps []pair) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.name + "=" + r.str(p.value)
	}
	return out
}

// suffix tells apart the snippets of the second and later options.
func suffix(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf("-%d", i+1)
}

// titled adds the option's label to a title.
func titled(title string, o *option) string {
	return title + " (" + o.label + ")"
}

// startSnippet is the command that starts a package serving HTTP locally;
// it is the same for every client, with <placeholders>.
// It renders with r, so r records the variables it uses.
func startSnippet(clientID string, i int, o *option, r *renderer) Snippet {
	line := shellLine(r.assignments(o.startEnv), r.list(o.start))
	return Snippet{
		ID:       clientID + "-start" + suffix(i),
		Title:    titled("Start the server", o),
		Language: LangShell,
		Text:     line,
	}
}

// commonNotes are the notes every launching client shows: why packages or
// remotes have no snippet, then each option's own notes.
func commonNotes(p *plan) []string {
	notes := append([]string(nil), p.notes...)
	for _, o := range p.options {
		for _, n := range o.notes {
			notes = append(notes, o.label+": "+n)
		}
		if o.start != nil {
			u, _ := o.url.literal()
			notes = append(notes, o.label+": it serves "+o.kind+" on "+u+" once started; start it first (the \"Start the server\" snippet) and keep it running.")
		}
	}
	return notes
}

// placeholderNote tells the user what to replace in a snippet that uses
// <placeholders>.
func placeholderNote(o *option, used []*variable) string {
	if len(used) == 0 {
		return ""
	}
	parts := make([]string, len(used))
	for i, v := range used {
		s := placeholder(v)
		switch {
		case v.secret:
			s += " (secret)"
		case len(v.choices) > 0:
			s += " (one of: " + clip(strings.Join(v.choices, ", "), 200) + ")"
		}
		parts[i] = s
	}
	return o.label + ": replace " + strings.Join(parts, ", ") + " before use."
}

func renderVSCode(key string, p *plan) Client {
	c := Client{ID: ClientVSCode, Label: "VS Code", Notes: commonNotes(p)}
	for i, o := range p.options {
		if o.start != nil {
			sr := newRenderer(placeholder)
			c.Snippets = append(c.Snippets, startSnippet(c.ID, i, o, sr))
			if n := placeholderNote(o, sr.used); n != "" {
				c.Notes = append(c.Notes, n)
			}
		}
		r := newRenderer(vscodeInput)
		srv := vsServer{}
		switch o.kind {
		case kindStdio:
			srv.Type, srv.Command, srv.Args, srv.Env = "stdio", o.command, r.list(o.args), r.pairs(o.env)
		case kindHTTP:
			srv.Type, srv.URL, srv.Headers = "http", r.str(o.url), r.pairs(o.headers)
		default:
			srv.Type, srv.URL, srv.Headers = "sse", r.str(o.url), r.pairs(o.headers)
		}
		inputs := make([]vsInput, 0, len(r.used))
		var prompted []string
		for _, v := range r.used {
			in := vsInput{Type: "promptString", ID: v.id, Description: v.description, Password: v.secret}
			if len(v.choices) > 0 {
				in.Type, in.Options = "pickString", v.choices
			}
			inputs = append(inputs, in)
			prompted = append(prompted, v.id)
		}
		c.Snippets = append(c.Snippets,
			Snippet{
				ID:       "vscode-json" + suffix(i),
				Title:    titled(".vscode/mcp.json", o),
				Language: LangJSON,
				Text:     toJSON(vsFile{Inputs: inputs, Servers: map[string]vsServer{key: srv}}, true),
			},
			Snippet{
				ID:       "vscode-cli" + suffix(i),
				Title:    titled("Add with the code command", o),
				Language: LangShell,
				Text:     "code --add-mcp " + shellQuote(toJSON(vsAdd{Name: key, vsServer: srv, Inputs: inputs}, false)),
			})
		if len(prompted) > 0 {
			c.Notes = append(c.Notes, o.label+": VS Code asks for "+strings.Join(prompted, ", ")+" when the server first starts.")
		}
	}
	return c
}

func renderClaudeCode(key string, p *plan) Client {
	c := Client{ID: ClientClaudeCode, Label: "Claude Code", Notes: commonNotes(p)}
	for i, o := range p.options {
		// One renderer for the start command and the configuration, so
		// one note names every placeholder.
		r := newRenderer(placeholder)
		if o.start != nil {
			c.Snippets = append(c.Snippets, startSnippet(c.ID, i, o, r))
		}
		argv := []string{"claude", "mcp", "add"}
		if o.kind == kindStdio {
			// The name comes before -e: Claude Code's -e takes several
			// values, and would swallow a name that followed it.
			argv = append(argv, key)
			for _, e := range o.env {
				argv = append(argv, "-e", e.name+"="+r.str(e.value))
			}
			argv = append(argv, "--", o.command)
			argv = append(argv, r.list(o.args)...)
		} else {
			transport := "http"
			if o.kind == kindSSE {
				transport = "sse"
			}
			argv = append(argv, "--transport", transport, key, r.str(o.url))
			for _, h := range o.headers {
				argv = append(argv, "--header", h.name+": "+r.str(h.value))
			}
		}
		c.Snippets = append(c.Snippets, Snippet{
			ID:       "claude-code-cli" + suffix(i),
			Title:    titled("Add with the claude command", o),
			Language: LangShell,
			Text:     shellLine(nil, argv),
		})
		if n := placeholderNote(o, r.used); n != "" {
			c.Notes = append(c.Notes, n)
		}
	}
	return c
}

func renderCursor(key string, p *plan) Client {
	c := Client{ID: ClientCursor, Label: "Cursor / Claude Desktop", Notes: commonNotes(p)}
	remoteNote := false
	for i, o := range p.options {
		// One renderer for the start command and the configuration, so
		// one note names every placeholder.
		r := newRenderer(placeholder)
		if o.start != nil {
			c.Snippets = append(c.Snippets, startSnippet(c.ID, i, o, r))
		}
		var srv cursorServer
		title := "~/.cursor/mcp.json or claude_desktop_config.json"
		if o.kind == kindStdio {
			srv.Command, srv.Args, srv.Env = o.command, r.list(o.args), r.pairs(o.env)
		} else {
			srv.URL, srv.Headers = r.str(o.url), r.pairs(o.headers)
			title = "~/.cursor/mcp.json"
			remoteNote = true
		}
		c.Snippets = append(c.Snippets, Snippet{
			ID:       "cursor-json" + suffix(i),
			Title:    titled(title, o),
			Language: LangJSON,
			Text:     toJSON(cursorFile{MCPServers: map[string]cursorServer{key: srv}}, true),
		})
		if n := placeholderNote(o, r.used); n != "" {
			c.Notes = append(c.Notes, n)
		}
	}
	if remoteNote {
		c.Notes = append(c.Notes, "Claude Desktop does not read URL servers from claude_desktop_config.json; add those under Settings → Connectors.")
	}
	return c
}

func renderToolHive(name string, p *plan) Client {
	c := Client{ID: ClientToolHive, Label: "ToolHive"}
	if name == "" || len(name) > 256 || checkText("the name", name) != nil {
		c.Notes = append(c.Notes, "This server's name cannot be used on a command line.")
		return c
	}
	switch {
	case p.ociPackages > 1:
		c.Notes = append(c.Notes, fmt.Sprintf("ToolHive runs a registry entry by name only when it has one container image; this one has %d.", p.ociPackages))
		return c
	case p.ociPackages == 0 && p.remotes == 0:
		c.Notes = append(c.Notes, "ToolHive runs registry entries that have a container image or a remote; this one has neither.")
		return c
	case p.ociPackages == 1 && p.ociValid == 0:
		c.Notes = append(c.Notes, "ToolHive would run this entry's container image, but its image reference is not valid.")
		return c
	case p.ociPackages == 0 && !p.firstRemoteOK:
		c.Notes = append(c.Notes, "ToolHive would connect to this entry's first remote, which has no usable URL.")
		return c
	}
	c.Snippets = append(c.Snippets, Snippet{
		ID:       "toolhive-cli",
		Title:    "Run with ToolHive",
		Language: LangShell,
		Text:     shellLine(nil, []string{"thv", "run", name}),
	})
	c.Notes = append(c.Notes, "ToolHive finds the server by name in the registry it is set to use; point it at this registry first with thv config set-registry <this registry's URL>.")
	if p.ociPackages == 1 && len(p.thvRequired) > 0 {
		c.Notes = append(c.Notes, "Required settings: "+strings.Join(p.thvRequired, ", ")+". Pass them with -e NAME=value, or --secret NAME,target=NAME for a secret from ToolHive's secret store.")
	}
	return c
}
