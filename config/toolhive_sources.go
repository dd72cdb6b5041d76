package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/kube"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// Why fields are not used, said once.
const (
	whyDatabase  = "no mcpfed equivalent: mcpfed keeps what it syncs in memory and its state directory (stateDir, MCPFED_STATE_DIR), not in PostgreSQL; ignored"
	whyTelemetry = "no mcpfed equivalent: mcpfed exports Prometheus metrics at /metrics and no OpenTelemetry; ignored"
	whyStorage   = "no mcpfed equivalent: mcpfed keeps its state in stateDir (MCPFED_STATE_DIR); ignored"
)

// readToolHive maps the ToolHive document doc (read from origin) onto
// cfg's sources, views and auth. where receives the line of every mcpfed
// field set; the problems found are returned.
func readToolHive(origin string, doc *yaml.Node, cfg *Config, where map[string]position) (*ToolHiveMapping, []error) {
	r := &thvReader{out: &ToolHiveMapping{Origin: origin, trans: map[string]string{}}, where: where}
	top := r.mapping(doc.Content[0], "")
	if top == nil {
		return r.out, r.probs
	}
	st := &thvState{r: r, cfg: cfg, byName: map[string]*thvSource{}}
	switch {
	case top.has("source") || (top.has("registryName") && !top.has("sources") && !top.has("registries")):
		r.out.Form = ToolHiveSingleSource
		st.readAuth(top, false)
		st.readSingle(top)
	case top.has("sources"):
		r.out.Form = ToolHiveMultiSource
		st.readAuth(top, true)
		items, _ := top.list("sources")
		for i, n := range items {
			path := fmt.Sprintf("sources[%d]", i)
			if m := r.mapping(n, path); m != nil {
				st.readSourceItem(m, path, true)
			} else if n := resolve(n); isNull(n) {
				r.fail(n.Line, path, "expects a source (name: ..., and one of git, api, file, managed or kubernetes), not an empty value")
			}
		}
		if len(items) == 0 {
			r.fail(top.line, "sources", "lists no source: mcpfed needs at least one")
		}
		st.readRegistries(top)
	default:
		r.out.Form = ToolHiveRegistries
		st.readAuth(top, true)
		st.readRegistrySources(top)
	}
	if top.has("registryName") && r.out.Form != ToolHiveSingleSource {
		top.ignore("registryName", false, "no mcpfed equivalent: each registry's name is its view's; ignored")
	}
	top.ignore("database", true, whyDatabase)
	top.ignore("telemetry", true, whyTelemetry)
	top.ignore("fileStorage", true, whyStorage)
	top.finish("sources", "registries", "auth", "database", "telemetry", "registryName", "source", "syncPolicy", "filter")
	st.finishViews()
	// In the order of the file; what no line says (the root view) last.
	slices.SortStableFunc(r.out.Rules, func(a, b ToolHiveRule) int { return byLine(a.Line, b.Line) })
	if !r.capped {
		slices.SortStableFunc(r.out.Warnings, func(a, b ToolHiveWarning) int { return byLine(a.Line, b.Line) })
	}
	if len(cfg.Sources) == 0 && len(r.probs) == 0 {
		r.fail(0, "", "no source mcpfed can run: without one mcpfed would serve its built-in catalogue instead")
	}
	return r.out, r.probs
}

// thvState is what is known while a file is read.
type thvState struct {
	r   *thvReader
	cfg *Config
	// oauth: callers need a token (auth.mode oauth); authLine places
	// the access rules made from it.
	oauth    bool
	authLine int
	sources  []*thvSource
	byName   map[string]*thvSource
	// views made from registries, with the claims each needs.
	views []*thvView
}

// thvSource is a ToolHive source and what became of it.
type thvSource struct {
	name string
	// index in cfg.Sources; -1 when left out.
	index int
	// claims ToolHive puts on the source's entries (synced sources only).
	claims     map[string]any
	claimsPath string
	claimsLine int
}

// readSingle reads the single-source form: registryName names the one
// source, served at the root.
func (st *thvState) readSingle(top *thvMap) {
	r := st.r
	name, line, ok := top.str("registryName")
	namePath := "registryName"
	if !ok {
		// toolhive-registry-server's default name.
		name, line, namePath = "default", top.line, ""
	}
	src, _ := top.take("source")
	m := r.mapping(src, "source")
	if m == nil {
		if src == nil {
			r.fail(top.line, "source", "required: the registry's data source (type and one of git, api or file)")
		}
		return
	}
	typ, typLine, hasType := m.str("type")
	// On a problem with the type, the rest belongs to no source.
	defer top.take("syncPolicy")
	defer top.take("filter")
	if hasType {
		switch typ {
		case "git", "api", "file":
			if !m.has(typ) {
				r.fail(typLine, "source.type", "is %s but there is no source.%s block", typ, typ)
				return
			}
			for _, other := range []string{"git", "api", "file"} {
				if other != typ && m.has(other) {
					m.ignore(other, false, "ignored: source.type is %s, as toolhive-registry-server does", typ)
				}
			}
		case "configmap":
			r.fail(typLine, "source.type", "configmap (a Kubernetes ConfigMap) has no mcpfed equivalent: mount the ConfigMap as a file and use type file")
			return
		default:
			r.fail(typLine, "source.type", "%q is not git, api or file", typ)
			return
		}
		r.rule(typLine, "source.type", "sources[0].kind", "")
	}
	in := thvSourceIn{
		item: m, path: "source", name: name, nameLine: line, namePath: namePath,
		policy: top, policyPath: "syncPolicy", filter: top, filterPath: "filter", only: typ,
	}
	st.readSource(in)
	m.finish("type", "format", "git", "api", "file")
}

// thvSourceIn is where a source's fields are: in the multi-source form
// all in its item; in the single-source form, syncPolicy and filter at
// the top.
type thvSourceIn struct {
	item                   *thvMap
	path                   string
	name                   string
	nameLine               int
	namePath               string
	policy, filter         *thvMap
	policyPath, filterPath string
	// only: the block source.type chose ("" for any).
	only string
}

// readSourceItem reads sources[i], or registries[i] of the registries
// form (claimsHere false: that form had no claims).
func (st *thvState) readSourceItem(m *thvMap, path string, claimsHere bool) *thvSource {
	name, line, ok := m.str("name")
	if !ok {
		st.r.fail(m.line, path+".name", "required")
	}
	var claims map[string]any
	c, cl := m.take("claims")
	if c != nil && claimsHere {
		claims = st.r.claims(c, path+".claims")
	} else if c != nil {
		st.r.warn(cl, path+".claims", "not a field of this form of the file; ignored")
	}
	src := st.readSource(thvSourceIn{
		item: m, path: path, name: name, nameLine: line, namePath: path + ".name",
		policy: m, policyPath: path + ".syncPolicy", filter: m, filterPath: path + ".filter",
	})
	if src != nil && claims != nil {
		src.claims, src.claimsPath, src.claimsLine = claims, path+".claims", cl
	}
	m.finish("name", "format", "claims", "git", "api", "file", "managed", "kubernetes", "syncPolicy", "filter")
	return src
}

// readSource maps one ToolHive source onto a mcpfed source (appended to
// cfg.Sources), or leaves it out with a warning (managed, inline data).
func (st *thvState) readSource(in thvSourceIn) *thvSource {
	r, m := st.r, in.item
	var blocks []string
	for _, b := range toolHiveBlocks {
		if m.has(b) && (in.only == "" || in.only == b) {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) != 1 {
		if len(blocks) == 0 {
			r.fail(m.line, in.path, "needs one of git, api, file, managed or kubernetes")
		} else {
			r.fail(m.line, in.path, "has %s: give one", strings.Join(blocks, ", "))
		}
		// What else it says belongs to a source that is not there.
		in.policy.take("syncPolicy")
		in.filter.take("filter")
		for _, b := range blocks {
			m.take(b)
		}
		return nil
	}
	src := &thvSource{name: in.name, index: -1}
	if _, dup := st.byName[in.name]; !dup && in.name != "" {
		st.byName[in.name] = src
	}
	st.sources = append(st.sources, src)
	k := len(st.cfg.Sources)
	at := fmt.Sprintf("sources[%d]", k)
	if f, fl, ok := m.str("format"); ok {
		if f != "toolhive" && f != "upstream" {
			r.warn(fl, in.path+".format", "%q is not toolhive or upstream; mcpfed detects the format from the data", f)
		} else {
			r.rule(fl, in.path+".format", "(mcpfed detects the format from the data)", "")
		}
	}
	sc := SourceConfig{Name: in.name}
	block := blocks[0]
	bpath := join(in.path, block)
	bnode, bline := m.take(block)
	bm := r.mapping(bnode, bpath)
	synced := true
	switch block {
	case "git":
		sc.Kind, sc.Spec = "git", st.gitSpec(bm, bpath, at)
		r.rule(bline, bpath, at+".kind: git", "")
	case "api":
		spec := &remote.Spec{Mode: remote.ModeMirror}
		if u, ul, ok := bm.str("endpoint"); ok {
			spec.URL = u
			r.rule(ul, bpath+".endpoint", at+".url", at+".url")
		} else {
			r.fail(bline, bpath+".endpoint", "required")
		}
		bm.finish("endpoint")
		sc.Kind, sc.Spec = "api", spec
		r.rule(bline, bpath, at+".kind: api, mode: mirror (toolhive-registry-server copies the upstream at each sync)", "")
	case "file":
		spec, ok := st.fileSpec(bm, bpath, at, in.name)
		if !ok {
			synced = false
			break
		}
		sc.Kind, sc.Spec = "file", spec
		r.rule(bline, bpath, at+".kind: file", "")
	case "kubernetes":
		synced = false
		spec := &kube.Spec{}
		if ns, nl, ok := bm.strs("namespaces"); ok && len(ns) > 0 {
			spec.Namespaces = ns
			r.rule(nl, bpath+".namespaces", at+".watchNamespaces", at+".watchNamespaces")
		} else {
			r.warn(bline, bpath, "no namespaces: mcpfed watches every namespace it may list; toolhive-registry-server watches THV_REGISTRY_WATCH_NAMESPACE (or its own namespace)")
		}
		bm.finish("namespaces")
		sc.Kind, sc.Spec = "kubernetes", spec
		r.rule(bline, bpath, at+".kind: kubernetes", "")
	case "managed":
		synced = false
		r.warn(bline, bpath, "no mcpfed equivalent yet: a managed source holds what is published through toolhive-registry-server's API, which mcpfed does not have; the source %q is left out, and so from the registries that list it", in.name)
		bm.finish()
	}
	if sc.Spec == nil {
		if in.namePath != "" {
			r.rule(in.nameLine, in.namePath, "(left out: see the warnings)", "")
		}
		// What else it says goes with it.
		r.ignorePolicyAndFilter(in, "ignored with the source it belongs to")
		return src
	}
	if in.namePath != "" {
		r.rule(in.nameLine, in.namePath, at+".name", at+".name")
	}
	src.index = k
	r.place(at, m.line, in.path)
	r.place(at+".kind", bline, bpath)
	if !synced {
		r.ignorePolicyAndFilter(in, fmt.Sprintf("ignored for a %s source, as toolhive-registry-server ignores it", block))
	} else {
		st.readPolicy(in, at, sc.Spec)
		sc.Filter = st.readFilter(in, at)
	}
	st.cfg.Sources = append(st.cfg.Sources, sc)
	return src
}

func (m *thvMap) entryLine(key string) int {
	e, _ := m.entry(key)
	return e.line
}

func (st *thvState) gitSpec(bm *thvMap, bpath, at string) *gitsource.Spec {
	r := st.r
	spec := &gitsource.Spec{}
	for _, f := range []struct {
		key string
		dst *string
	}{{"repository", &spec.Repository}, {"branch", &spec.Branch}, {"tag", &spec.Tag}, {"commit", &spec.Commit}, {"path", &spec.Path}} {
		if v, l, ok := bm.str(f.key); ok {
			*f.dst = v
			r.rule(l, bpath+"."+f.key, at+"."+f.key, at+"."+f.key)
		}
	}
	if spec.Repository == "" && !bm.has("repository") {
		r.fail(bm.lineOr(0), bpath+".repository", "required")
	}
	an, _ := bm.take("auth")
	if am := r.mapping(an, bpath+".auth"); am != nil {
		if v, l, ok := am.str("passwordFile"); ok {
			spec.PasswordFile = v
			r.rule(l, bpath+".auth.passwordFile", at+".passwordFile", at+".passwordFile")
		}
		am.ignore("username", false, "mcpfed reads the user name from a file (usernameFile) and otherwise sends x-access-token, which GitHub and GitLab accept with a token as the password; ignored")
		am.finish("username", "passwordFile")
	}
	bm.finish("repository", "branch", "tag", "commit", "path", "auth")
	return spec
}

func (m *thvMap) lineOr(def int) int {
	if m == nil {
		return def
	}
	return m.line
}

// fileSpec maps a file block; false when the source cannot be run (inline
// data), with a warning.
func (st *thvState) fileSpec(bm *thvMap, bpath, at, name string) (*upstream.FileSpec, bool) {
	r := st.r
	spec := &upstream.FileSpec{}
	for _, f := range []struct {
		key string
		dst *string
	}{{"path", &spec.Path}, {"url", &spec.URL}} {
		if v, l, ok := bm.str(f.key); ok {
			*f.dst = v
			r.rule(l, bpath+"."+f.key, at+"."+f.key, at+"."+f.key)
		}
	}
	if v, l, ok := bm.str("timeout"); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(v)); err != nil {
			r.fail(l, bpath+".timeout", "%v", durationError(v))
		} else {
			spec.LoadTimeout = d
			r.rule(l, bpath+".timeout", at+".loadTimeout", at+".loadTimeout")
		}
	}
	if data, dl := bm.take("data"); data != nil {
		if spec.Path != "" || spec.URL != "" {
			r.fail(dl, bpath+".data", "give one of path, url or data")
		} else {
			r.warn(dl, bpath+".data", "no mcpfed equivalent: mcpfed reads registry data from a path or url, not inline; write it to a file and give file.path; the source %q is left out, and so from the registries that list it", name)
			bm.finish("path", "url", "data", "timeout")
			return nil, false
		}
	}
	bm.finish("path", "url", "data", "timeout")
	return spec, true
}

// readPolicy maps syncPolicy.interval onto the kind's interval.
func (st *thvState) readPolicy(in thvSourceIn, at string, spec Spec) {
	r := st.r
	n, _ := in.policy.take("syncPolicy")
	pm := r.mapping(n, in.policyPath)
	v, l, ok := pm.str("interval")
	pm.finish("interval")
	if !ok {
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		r.fail(l, in.policyPath+".interval", "%v", durationError(v))
		return
	}
	switch s := spec.(type) {
	case *gitsource.Spec:
		s.Interval = d
	case *remote.Spec:
		s.Interval = d
	case *upstream.FileSpec:
		s.Interval = d
	}
	r.rule(l, in.policyPath+".interval", at+".interval", at+".interval")
}

// readFilter maps filter.names and filter.tags (include, exclude).
func (st *thvState) readFilter(in thvSourceIn, at string) filter.Spec {
	r := st.r
	n, _ := in.filter.take("filter")
	fm := r.mapping(n, in.filterPath)
	var spec filter.Spec
	for _, f := range []struct {
		key string
		dst *filter.IncludeExclude
	}{{"names", &spec.Names}, {"tags", &spec.Tags}} {
		fpath := in.filterPath + "." + f.key
		sn, _ := fm.take(f.key)
		sm := r.mapping(sn, fpath)
		for _, g := range []struct {
			key string
			dst *[]string
		}{{"include", &f.dst.Include}, {"exclude", &f.dst.Exclude}} {
			if v, l, ok := sm.strs(g.key); ok && len(v) > 0 {
				*g.dst = v
				to := fmt.Sprintf("%s.filter.%s.%s", at, f.key, g.key)
				r.rule(l, fpath+"."+g.key, to, to)
				r.place(fmt.Sprintf("%s.filter.%s", at, f.key), l, fpath)
			}
		}
		sm.finish("include", "exclude")
	}
	fm.finish("names", "tags")
	return spec
}

// byLine orders by line, what no line places (0) last.
func byLine(a, b int) int {
	if (a == 0) != (b == 0) {
		return b - a
	}
	return a - b
}

// ignorePolicyAndFilter warns that the source's syncPolicy and filter,
// where written, are ignored, and why.
func (r *thvReader) ignorePolicyAndFilter(in thvSourceIn, why string) {
	for _, f := range []struct {
		m    *thvMap
		key  string
		path string
	}{{in.policy, "syncPolicy", in.policyPath}, {in.filter, "filter", in.filterPath}} {
		if f.m.has(f.key) {
			f.m.take(f.key)
			r.warn(f.m.entryLine(f.key), f.path, "%s", why)
		}
	}
}
