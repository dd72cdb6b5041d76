package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/auth"
)

// thvView is a ToolHive registry and the view it became.
type thvView struct {
	name    string
	path    string // registries[i]
	line    int
	index   int // in cfg.Views
	sources []*thvSource
	// claims: the registry's access gate.
	claims     map[string]any
	claimsPath string
	claimsLine int
}

// readAuth maps auth: onto cfg.Auth and decides whether views need a
// token. required: the form has auth (toolhive-registry-server refuses to
// start without providers, its default being oauth); the single-source
// form predates auth and served everyone.
func (st *thvState) readAuth(top *thvMap, required bool) {
	r := st.r
	n, _ := top.take("auth")
	a := r.mapping(n, "auth")
	if a == nil {
		switch {
		case n != nil:
			// Not a mapping: the problem is reported.
		case required:
			r.fail(top.line, "auth", "missing: toolhive-registry-server then requires OAuth (its default mode) with auth.oauth.providers; write auth: {mode: anonymous} for a registry without tokens")
		}
		return
	}
	mode, ml, ok := a.str("mode")
	from := "auth.mode"
	if !ok {
		mode, ml, from = "oauth", a.line, "auth (mode oauth: toolhive-registry-server's default)"
	}
	st.authLine = ml
	switch mode {
	case "anonymous":
		r.rule(ml, from, "views[*].access.anonymous: true", "")
		a.ignore("oauth", false, "ignored: auth.mode is anonymous, as toolhive-registry-server ignores it")
	case "oauth":
		st.oauth = true
		r.rule(ml, from, "views[*].access: a token is required", "")
		st.readOAuth(a)
	default:
		r.fail(ml, "auth.mode", "%q is not anonymous or oauth", mode)
	}
	a.ignore("publicPaths", false, "no mcpfed equivalent: mcpfed's health, readiness, metrics and discovery endpoints are always public and the registry API follows the views' access; ignored")
	a.ignore("authz", true, "no mcpfed equivalent: mcpfed has no admin roles (who reads a view is its access.claims; admin.claims guards resync); ignored")
	a.finish("mode", "oauth", "publicPaths", "authz")
}

// whyNoIntrospection is said of the provider fields for opaque tokens.
const whyNoIntrospection = "no mcpfed equivalent: mcpfed verifies JWTs with the issuer's published keys and does not introspect opaque tokens; ignored"

func (st *thvState) readOAuth(a *thvMap) {
	r, cfg := st.r, st.cfg
	on, ol := a.take("oauth")
	o := r.mapping(on, "auth.oauth")
	providers, _ := o.list("providers")
	if len(providers) == 0 {
		r.fail(max(ol, a.line), "auth.oauth.providers", "required when auth.mode is oauth: the issuers whose tokens are accepted")
	}
	for i, pn := range providers {
		path := fmt.Sprintf("auth.oauth.providers[%d]", i)
		pm := r.mapping(pn, path)
		if pm == nil {
			continue
		}
		at := fmt.Sprintf("auth.oidc[%d]", len(cfg.Auth.OIDC))
		var oc auth.OIDCConfig
		for _, f := range []struct {
			key, to string
			dst     *string
		}{
			{"name", "name", &oc.Name}, {"issuerUrl", "issuer", &oc.Issuer}, {"audience", "audience", &oc.Audience},
			{"caCertPath", "caFile", &oc.CAFile}, {"authTokenFile", "jwksTokenFile", &oc.JWKSTokenFile},
		} {
			if v, l, ok := pm.str(f.key); ok {
				*f.dst = v
				r.rule(l, path+"."+f.key, at+"."+f.to, at+"."+f.to)
			}
		}
		pm.ignore("jwksUrl", false, "no mcpfed equivalent: mcpfed finds the keys by OIDC discovery at {issuerUrl}/.well-known/openid-configuration (sending authTokenFile's token if set); ignored")
		for _, k := range []string{"clientId", "clientSecretFile", "introspectionUrl"} {
			pm.ignore(k, false, whyNoIntrospection)
		}
		pm.ignore("allowPrivateIP", false, "no mcpfed equivalent: mcpfed does not restrict the addresses of issuers; ignored")
		pm.finish("name", "issuerUrl", "jwksUrl", "audience", "clientId", "clientSecretFile", "caCertPath", "authTokenFile", "introspectionUrl", "allowPrivateIP")
		cfg.Auth.OIDC = append(cfg.Auth.OIDC, oc)
		r.place(at, pm.line, path)
	}
	if v, l, ok := o.str("resourceUrl"); ok {
		cfg.Auth.ResourceURL = v
		r.rule(l, "auth.oauth.resourceUrl", "auth.resourceURL", "auth.resourceURL")
	}
	o.ignore("realm", false, "no mcpfed equivalent: mcpfed's WWW-Authenticate realm is \"mcpfed\"; ignored")
	o.ignore("scopesSupported", false, "no mcpfed equivalent: mcpfed's protected-resource metadata names no scopes; ignored")
	o.finish("resourceUrl", "providers", "scopesSupported", "realm")
}

// readRegistries reads the multi-source form's registries: each becomes
// the view of its name, merging its sources in the order listed.
func (st *thvState) readRegistries(top *thvMap) {
	r := st.r
	if !top.has("registries") {
		r.warn(top.line, "registries", "none: toolhive-registry-server serves no registry without one; mcpfed serves the sources at its root (/v0.1, /v0)")
		return
	}
	items, _ := top.list("registries")
	for i, n := range items {
		path := fmt.Sprintf("registries[%d]", i)
		m := r.mapping(n, path)
		if m == nil {
			continue
		}
		v := &thvView{path: path, line: m.line}
		name, nl, ok := m.str("name")
		if !ok {
			r.fail(m.line, path+".name", "required")
		}
		v.name = name
		at := fmt.Sprintf("views[%d]", len(st.cfg.Views))
		vc := ViewConfig{Name: name}
		listed, _ := m.list("sources")
		if !m.has("sources") {
			r.fail(m.line, path+".sources", "required: the sources the registry serves, in priority order")
		} else {
			vc.Sources = []string{}
		}
		for j, sn := range listed {
			sp := fmt.Sprintf("%s.sources[%d]", path, j)
			sn = resolve(sn)
			if sn.Kind != yaml.ScalarNode {
				r.fail(sn.Line, sp, "expects a source's name, not %s", describe(sn))
				continue
			}
			src := st.byName[sn.Value]
			if src != nil && src.index < 0 {
				r.rule(sn.Line, sp, fmt.Sprintf("(left out with source %q)", sn.Value), "")
				continue
			}
			to := fmt.Sprintf("%s.sources[%d]", at, len(vc.Sources))
			vc.Sources = append(vc.Sources, sn.Value)
			r.rule(sn.Line, sp, to, to)
			if src != nil {
				v.sources = append(v.sources, src)
			}
		}
		if c, cl := m.take("claims"); c != nil {
			v.claims, v.claimsPath, v.claimsLine = r.claims(c, path+".claims"), path+".claims", cl
		}
		m.finish("name", "sources", "claims")
		if len(listed) > 0 && len(vc.Sources) == 0 {
			r.warn(m.line, path, "every source it lists is left out: registry %q is not served", name)
			continue
		}
		st.addView(v, vc, nl, at)
	}
}

func (st *thvState) addView(v *thvView, vc ViewConfig, nameLine int, at string) {
	v.index = len(st.cfg.Views)
	st.cfg.Views = append(st.cfg.Views, vc)
	st.views = append(st.views, v)
	st.r.place(at, v.line, v.path)
	to := at + ".name"
	if vc.Name == DefaultView {
		to += " (default: the root, /v0.1 and /v0)"
	}
	st.r.rule(nameLine, v.path+".name", to, at+".name")
}

// readRegistrySources reads the registries form: each registry is a
// source and the view serving it alone.
func (st *thvState) readRegistrySources(top *thvMap) {
	items, _ := top.list("registries")
	for i, n := range items {
		path := fmt.Sprintf("registries[%d]", i)
		m := st.r.mapping(n, path)
		if m == nil {
			continue
		}
		src := st.readSourceItem(m, path, false)
		if src == nil || src.index < 0 {
			continue
		}
		at := fmt.Sprintf("views[%d]", len(st.cfg.Views))
		v := &thvView{name: src.name, path: path, line: m.line, sources: []*thvSource{src}}
		st.addView(v, ViewConfig{Name: src.name, Sources: []string{src.name}}, m.entryLine("name"), at)
		st.r.rule(m.line, path, at+".sources: ["+src.name+"]", "")
	}
	if len(items) == 0 {
		st.r.fail(top.line, "registries", "lists no registry: mcpfed needs at least one source")
	}
}

// finishViews sets each view's access, adds the root when no registry is
// named default, and says what became of claims.
func (st *thvState) finishViews() {
	r, cfg := st.r, st.cfg
	for _, v := range st.views {
		at := fmt.Sprintf("views[%d]", v.index)
		cfg.Views[v.index].Access = st.access(v.path, v.line, at, []*thvView{v})
	}
	hasRoot := slices.ContainsFunc(cfg.Views, func(v ViewConfig) bool { return v.Name == DefaultView })
	if !hasRoot && (len(st.views) > 0 || st.oauth) {
		at := fmt.Sprintf("views[%d]", len(cfg.Views))
		root := ViewConfig{Name: DefaultView}
		var union []string
		for _, v := range st.views {
			for _, s := range v.sources {
				if !slices.Contains(union, s.name) {
					union = append(union, s.name)
				}
			}
		}
		all := make([]string, len(cfg.Sources))
		for i, s := range cfg.Sources {
			all[i] = s.Name
		}
		what := "every source"
		if len(st.views) > 0 && !slices.Equal(union, all) {
			root.Sources, what = union, "the registries' sources"
		}
		views := st.views
		if len(views) == 0 {
			views = []*thvView{{sources: st.sources}}
		}
		root.Access = st.access("(no registry named default)", 0, at, views)
		cfg.Views = append(cfg.Views, root)
		r.rule(0, "(no registry named default)", fmt.Sprintf("%s default: the root (/v0.1, /v0) serves %s, to callers every registry admits", at, what), "")
		r.out.trans[at] = "registries"
	}
	for _, s := range st.sources {
		if s.claims == nil {
			continue
		}
		var in []string
		for _, v := range st.views {
			if slices.Contains(v.sources, s) {
				in = append(in, v.name)
			}
		}
		if len(st.views) == 0 && st.oauth {
			in = []string{DefaultView} // no registries: the root serves every source, gated by their claims
		}
		switch {
		case !st.oauth:
			r.warn(s.claimsLine, s.claimsPath, "ignored: auth.mode is anonymous (toolhive-registry-server applies claims to callers with a token only)")
		case s.index < 0:
			r.warn(s.claimsLine, s.claimsPath, "ignored with the source it belongs to")
		case st.kindOf(s) == "kubernetes":
			r.warn(s.claimsLine, s.claimsPath, "ignored: toolhive-registry-server does not put a kubernetes source's claims on its entries (they guard its admin API, which mcpfed does not have)")
		case len(in) == 0:
			r.warn(s.claimsLine, s.claimsPath, "ignored: no registry serves the source")
		default:
			r.warn(s.claimsLine, s.claimsPath, "mcpfed has no claims on entries: they are required by every view serving the source (%s), so a caller without them sees none of those views, where toolhive-registry-server shows them the rest", strings.Join(in, ", "))
		}
	}
	for _, v := range st.views {
		if v.claims != nil && !st.oauth {
			r.warn(v.claimsLine, v.claimsPath, "ignored: auth.mode is anonymous (toolhive-registry-server applies claims to callers with a token only)")
		}
	}
}

func (st *thvState) kindOf(s *thvSource) string {
	if s.index < 0 {
		return ""
	}
	return st.cfg.Sources[s.index].Kind
}

// access is the access rule of a view serving views' registries: anyone
// without OAuth; else a token carrying every claim those registries and
// their synced sources require.
func (st *thvState) access(from string, line int, at string, views []*thvView) auth.Access {
	r := st.r
	if !st.oauth {
		r.place(at+".access", max(line, st.authLine), from)
		return auth.Access{Anonymous: true}
	}
	need := map[string]*claimNeed{}
	var order []string
	add := func(claims map[string]any, path string, line int) {
		for _, k := range slices.Sorted(maps.Keys(claims)) {
			nd := need[k]
			if nd == nil {
				nd = &claimNeed{}
				need[k] = nd
				order = append(order, k)
			}
			nd.add(claims[k], path+"."+k, line)
		}
	}
	for _, v := range views {
		if v.claims != nil {
			add(v.claims, v.claimsPath, v.claimsLine)
			if len(views) == 1 {
				r.rule(v.claimsLine, v.claimsPath, at+".access.claims", "")
			}
		}
		for _, s := range v.sources {
			if s.claims != nil && s.index >= 0 && st.kindOf(s) != "kubernetes" {
				add(s.claims, s.claimsPath, s.claimsLine)
				if len(views) == 1 {
					r.rule(s.claimsLine, s.claimsPath, at+".access.claims", "")
				}
			}
		}
	}
	r.place(at+".access", max(line, st.authLine), from)
	var out map[string]any
	for _, k := range order {
		nd := need[k]
		r.place(at+".access.claims."+k, nd.line, nd.paths[0])
		switch len(nd.values) {
		case 1:
			if out == nil {
				out = map[string]any{}
			}
			out[k] = nd.values[0]
		case 0:
			r.fail(nd.line, nd.paths[0], "an empty list requires the claim %q with any value, which mcpfed's access.claims cannot say; name the value", k)
		default:
			from := ""
			if len(nd.paths) > 1 {
				from = " (" + strings.Join(nd.paths, ", ") + ")"
			}
			r.fail(nd.line, nd.paths[0], "requires %q to carry every one of %s%s; mcpfed's access.claims matches one value per claim (a list there means any one of them): write such views in mcpfed's own configuration",
				k, formatValues(nd.values), from)
		}
	}
	return auth.Access{Claims: out}
}

// claimNeed is what ToolHive requires of one claim: the caller's value(s)
// must contain every one of values.
type claimNeed struct {
	values []any
	paths  []string
	line   int
}

func (nd *claimNeed) add(v any, path string, line int) {
	if len(nd.paths) == 0 {
		nd.line = line
	}
	nd.paths = append(nd.paths, path)
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	for _, x := range list {
		if !slices.ContainsFunc(nd.values, func(y any) bool { return reflect.DeepEqual(x, y) }) {
			nd.values = append(nd.values, x)
		}
	}
}

func formatValues(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%v", v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// claims reads a claims block: claim names to a string (or number,
// boolean) or a list of them, as toolhive-registry-server takes them.
func (r *thvReader) claims(n *yaml.Node, path string) map[string]any {
	m := r.mapping(n, path)
	if m == nil {
		return nil
	}
	out := map[string]any{}
	for _, e := range m.entries {
		m.used[e.key] = true
		v := resolve(e.val)
		p := join(path, e.key)
		var x any
		if err := v.Decode(&x); err != nil {
			r.fail(v.Line, p, "%v", err)
			continue
		}
		if l, ok := x.([]any); ok {
			if slices.ContainsFunc(l, func(y any) bool { return !isScalar(y) }) {
				r.fail(v.Line, p, "expects a string or a list of strings")
				continue
			}
		} else if !isScalar(x) {
			r.fail(v.Line, p, "expects a string or a list of strings")
			continue
		}
		out[e.key] = x
	}
	return out
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int, int64, uint64, float64:
		return true
	}
	return false
}
