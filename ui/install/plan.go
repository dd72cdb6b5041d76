package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Transport kinds of an option.
const (
	kindStdio = "stdio"
	kindHTTP  = "streamable-http"
	kindSSE   = "sse"
)

// pair is a named value: an environment variable or a header.
type pair struct {
	name  string
	value tmpl
}

// option is one way to run or reach the server, independent of any client.
type option struct {
	label string // e.g. "npm airtable-mcp-server@1.7.2", shown in titles
	kind  string

	// stdio: the command the client starts.
	command string
	args    []tmpl
	env     []pair

	// streamable-http / sse: where the client connects.
	url     tmpl
	headers []pair

	// A package with an HTTP transport runs on this machine: start is the
	// command line (after startEnv assignments) that starts it before a
	// client can connect. Nil for remotes and stdio packages.
	start    []tmpl
	startEnv []pair

	vars  *varSet
	notes []string
}

// plan is everything the renderers need.
type plan struct {
	options []*option
	notes   []string // why packages or remotes got no snippet

	// ToolHive runs a server by name when the entry has exactly one OCI
	// package, or no OCI package and a remote (its registry conversion).
	ociPackages   int
	ociValid      int      // OCI packages with a valid image reference
	remotes       int      // remotes over streamable-http or sse
	firstRemoteOK bool     // ToolHive uses the first remote
	thvRequired   []string // required settings of the OCI package

	truncated bool
}

func buildPlan(doc serverDoc) *plan {
	p := &plan{notes: append([]string(nil), doc.notes...)}
	if len(doc.packages) == 0 && len(doc.remotes) == 0 {
		p.notes = append(p.notes, "This server lists no packages or remotes; its website or repository says how to set it up.")
	}
	for i, raw := range doc.packages {
		if i == maxPackages {
			p.notes = append(p.notes, fmt.Sprintf("%d more packages were not considered.", len(doc.packages)-maxPackages))
			break
		}
		var pk pkg
		if err := json.Unmarshal(raw, &pk); err != nil {
			p.notes = append(p.notes, fmt.Sprintf("Package %d has no snippet: %s.", i+1, decodeErr(err)))
			continue
		}
		if pk.RegistryType == "oci" {
			p.ociPackages++
			if len(pk.Identifier) <= 512 && ociIdent.MatchString(pk.Identifier) {
				p.ociValid++
			}
			p.thvRequired = append(p.thvRequired, requiredNames(pk.EnvironmentVariables)...)
		}
		o, err := packageOption(pk)
		if err != nil {
			p.notes = append(p.notes, fmt.Sprintf("%s has no snippet: %v.", packageLabel(pk, i), err))
			continue
		}
		p.add(o)
	}
	for i, raw := range doc.remotes {
		if i == maxRemotes {
			p.notes = append(p.notes, fmt.Sprintf("%d more remotes were not considered.", len(doc.remotes)-maxRemotes))
			break
		}
		var r transport
		if err := json.Unmarshal(raw, &r); err != nil {
			p.notes = append(p.notes, fmt.Sprintf("Remote %d has no snippet: %s.", i+1, decodeErr(err)))
			continue
		}
		if r.Type == kindHTTP || r.Type == kindSSE {
			p.remotes++
		}
		o, err := remoteOption(r)
		if i == 0 {
			p.firstRemoteOK = err == nil
		}
		if err != nil {
			p.notes = append(p.notes, fmt.Sprintf("Remote %d (%s) has no snippet: %v.", i+1, clip(r.Type, 20), err))
			continue
		}
		p.add(o)
	}
	return p
}

func (p *plan) add(o *option) {
	if len(p.options) < maxOptions {
		p.options = append(p.options, o)
		return
	}
	if !p.truncated {
		p.truncated = true
		p.notes = append(p.notes, fmt.Sprintf("Only the first %d ways to run this server are shown.", maxOptions))
	}
}

func packageLabel(pk pkg, i int) string {
	id := clip(pk.Identifier, 80)
	if id == "" {
		return fmt.Sprintf("Package %d", i+1)
	}
	t := clip(pk.RegistryType, 20)
	if pk.Version != "" && pk.RegistryType != "oci" {
		return fmt.Sprintf("%s package %s@%s", t, id, clip(pk.Version, 40))
	}
	return fmt.Sprintf("%s package %s", t, id)
}

func requiredNames(kvs []keyValue) []string {
	var names []string
	for i, kv := range kvs {
		if i == maxKeyValues {
			break
		}
		if kv.IsRequired && envName.MatchString(kv.Name) && kv.Value == nil && (kv.Default == nil || *kv.Default == "") {
			names = append(names, kv.Name)
		}
	}
	return names
}

// runner is how one registry type's package is started.
type runner struct {
	command string
	hint    string // the runtimeHint its runtime arguments are written for
	ident   func(string) bool
	version bool // an exact version is required
}

var runners = map[string]runner{
	"npm":   {command: "npx", hint: "npx", ident: npmIdent.MatchString, version: true},
	"pypi":  {command: "uvx", hint: "uvx", ident: pypiIdent.MatchString, version: true},
	"nuget": {command: "dnx", hint: "dnx", ident: nugetIdent.MatchString, version: true},
	"oci":   {command: "docker", hint: "docker", ident: ociIdent.MatchString},
}

// noRunner explains registry types that have no one-line runner.
var noRunner = map[string]string{
	"mcpb":  "MCP bundles (.mcpb) are installed by opening the downloaded bundle in a client that supports them, not from a command line",
	"cargo": "cargo has no run-without-installing command like npx or uvx; install the crate with cargo install and run its binary",
}

func packageOption(pk pkg) (*option, error) {
	rn, ok := runners[pk.RegistryType]
	if !ok {
		if why, ok := noRunner[pk.RegistryType]; ok {
			return nil, errors.New(why)
		}
		return nil, fmt.Errorf("no known way to run packages from registry type %q", clip(pk.RegistryType, 20))
	}
	if len(pk.Identifier) > 512 || !rn.ident(pk.Identifier) {
		return nil, errors.New("its identifier is not a valid package name")
	}
	if !defaultIndex(pk.RegistryType, pk.RegistryBaseURL) {
		return nil, fmt.Errorf("it is hosted on %s, which %s does not use unless configured for it", clip(pk.RegistryBaseURL, 80), rn.command)
	}
	if rn.version && !exactVersionOK(pk.Version) {
		if pk.Version == "" {
			return nil, errors.New("it has no version")
		}
		return nil, errors.New("its version is not one exact version")
	}
	if len(pk.RuntimeArguments) > 0 && pk.RuntimeHint != "" && pk.RuntimeHint != rn.hint {
		return nil, fmt.Errorf("its runtime arguments are for %q, not %s", clip(pk.RuntimeHint, 20), rn.command)
	}
	if len(pk.RuntimeArguments) > maxArgs || len(pk.PackageArguments) > maxArgs || len(pk.EnvironmentVariables) > maxKeyValues {
		return nil, errors.New("it has too many arguments or environment variables")
	}
	kind := pk.Transport.Type
	if kind != kindStdio && kind != kindHTTP && kind != kindSSE {
		return nil, fmt.Errorf("its transport %q is not stdio, streamable-http or sse", clip(kind, 20))
	}

	b := &pkgBuilder{o: &option{kind: kind, vars: newVarSet()}, envAt: map[string]int{}, argVals: map[string]tmpl{}}
	b.o.label = optionLabel(pk)
	if err := b.environment(pk.EnvironmentVariables); err != nil {
		return nil, err
	}
	runtimeArgs, err := b.arguments("runtime", pk.RuntimeArguments)
	if err != nil {
		return nil, err
	}
	pkgArgs, err := b.arguments("package", pk.PackageArguments)
	if err != nil {
		return nil, err
	}
	if kind != kindStdio {
		// Before the command line: the URL may need an environment
		// variable that docker must then pass on.
		if err := b.localURL(pk.Transport); err != nil {
			return nil, err
		}
	}

	// The command line, per registry type.
	var argv []tmpl
	switch pk.RegistryType {
	case "npm":
		argv = append(argv, lit("-y"))
		argv = append(argv, runtimeArgs...)
		argv = append(argv, lit(pk.Identifier+"@"+pk.Version))
		argv = append(argv, pkgArgs...)
	case "pypi":
		argv = append(argv, runtimeArgs...)
		argv = append(argv, lit(pk.Identifier+"=="+pk.Version))
		argv = append(argv, pkgArgs...)
	case "nuget":
		argv = append(argv, runtimeArgs...)
		argv = append(argv, lit(pk.Identifier+"@"+pk.Version), lit("--yes"))
		if len(pkgArgs) > 0 {
			// dnx takes options after the package as its own unless "--"
			// ends them.
			argv = append(argv, lit("--"))
		}
		argv = append(argv, pkgArgs...)
	case "oci":
		image := pk.Identifier
		if !ociHasTagOrDigest(image) {
			if pk.Version != "" && exactVersionOK(pk.Version) && len(pk.Version) <= 128 {
				image += ":" + pk.Version
			} else {
				b.o.notes = append(b.o.notes, "The image has no tag, so Docker runs its \"latest\" tag.")
			}
		}
		argv = []tmpl{lit("run")}
		if kind == kindStdio {
			argv = append(argv, lit("-i"))
		}
		argv = append(argv, lit("--rm"))
		if kind != kindStdio {
			u, _ := b.o.url.literal()
			port, err := publishPort(u)
			if err != nil {
				return nil, err
			}
			argv = append(argv, lit("-p"), lit("127.0.0.1:"+port+":"+port))
		}
		for _, e := range b.o.env {
			if kind == kindStdio {
				// docker passes the variable on from its own environment,
				// which the client sets.
				argv = append(argv, lit("-e"), lit(e.name))
			} else {
				argv = append(argv, lit("-e"), cat(lit(e.name+"="), e.value))
			}
		}
		argv = append(argv, runtimeArgs...)
		argv = append(argv, lit(image))
		argv = append(argv, pkgArgs...)
	}

	o := b.o
	if kind == kindStdio {
		o.command, o.args = rn.command, argv
	} else {
		o.start = append([]tmpl{lit(rn.command)}, argv...)
		if pk.RegistryType != "oci" {
			o.startEnv = o.env
		}
		o.env = nil
	}
	if len(b.unset) > 0 {
		o.notes = append(o.notes, "Optional environment variables left out: "+strings.Join(b.unset, ", ")+".")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

func optionLabel(pk pkg) string {
	switch pk.RegistryType {
	case "oci":
		return "Docker image " + clip(pk.Identifier, 80)
	case "pypi":
		return "PyPI " + clip(pk.Identifier, 80) + "==" + clip(pk.Version, 40)
	case "nuget":
		return "NuGet " + clip(pk.Identifier, 80) + "@" + clip(pk.Version, 40)
	}
	return "npm " + clip(pk.Identifier, 80) + "@" + clip(pk.Version, 40)
}

// publishPort is the port a local HTTP container must publish: the explicit
// port of its loopback transport URL.
func publishPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !loopback(u) || u.Port() == "" {
		return "", errors.New("its transport URL is not a localhost URL with a port, so there is no port to publish")
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return "", errors.New("its transport URL has an invalid port")
	}
	return u.Port(), nil
}

type pkgBuilder struct {
	o       *option
	envAt   map[string]int // index in o.env of an emitted variable
	envDecl map[string]keyValue
	unset   []string        // optional variables left out
	argVals map[string]tmpl // argument values by flag name or valueHint
}

func (b *pkgBuilder) environment(kvs []keyValue) error {
	b.envDecl = map[string]keyValue{}
	for _, kv := range kvs {
		if !envName.MatchString(kv.Name) || len(kv.Name) > 128 {
			return fmt.Errorf("environment variable name %q is not valid", clip(kv.Name, 40))
		}
		if _, dup := b.envDecl[kv.Name]; dup {
			return fmt.Errorf("environment variable %s is declared twice", kv.Name)
		}
		b.envDecl[kv.Name] = kv
	}
	for _, kv := range kvs {
		t, ok, err := b.o.vars.resolve("env:"+kv.Name, kv.Name, kv.varInput, false, nil)
		if err != nil {
			return err
		}
		if !ok {
			b.unset = append(b.unset, kv.Name)
			continue
		}
		b.setEnv(kv.Name, t)
	}
	return nil
}

func (b *pkgBuilder) setEnv(name string, t tmpl) {
	b.envAt[name] = len(b.o.env)
	b.o.env = append(b.o.env, pair{name: name, value: t})
}

// envLookup lets an argument's {NAME} refer to the package's environment
// variable NAME (ToolHive's catalogue does this): the argument then gets the
// same value or the same prompt. An optional variable referenced this way
// is needed after all, so it is prompted for and set.
func (b *pkgBuilder) envLookup(name string) (tmpl, bool) {
	if i, ok := b.envAt[name]; ok {
		return b.o.env[i].value, true
	}
	kv, ok := b.envDecl[name]
	if !ok {
		return nil, false
	}
	t, _, err := b.o.vars.resolve("env:"+name, name, kv.varInput, true, nil)
	if err != nil {
		return nil, false
	}
	b.setEnv(name, t)
	for i, n := range b.unset {
		if n == name {
			b.unset = append(b.unset[:i], b.unset[i+1:]...)
			break
		}
	}
	return t, true
}

// arguments renders runtime or package arguments in order. A positional
// argument is left out only when optional, unset and no later positional
// argument is given, since leaving it out would shift the ones after it.
func (b *pkgBuilder) arguments(kind string, args []argument) ([]tmpl, error) {
	lastPositional := -1
	for i, a := range args {
		if a.Type == "positional" && emits(a.input) {
			lastPositional = i
		}
	}
	var out []tmpl
	for i, a := range args {
		key := fmt.Sprintf("%s-arg%d", kind, i)
		switch a.Type {
		case "positional":
			hint := a.ValueHint
			if hint == "" {
				hint = fmt.Sprintf("%s_arg_%d", kind, i+1)
			}
			t, ok, err := b.o.vars.resolve(key, hint, a.varInput, i < lastPositional, b.envLookup)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if a.ValueHint != "" {
				b.argVals[a.ValueHint] = t
			}
			out = append(out, t)
			b.repeated(a, hint)
		case "named":
			ts, err := b.named(key, a)
			if err != nil {
				return nil, err
			}
			out = append(out, ts...)
		default:
			return nil, fmt.Errorf("%s argument %d has type %q, not positional or named", kind, i+1, clip(a.Type, 20))
		}
	}
	return out, nil
}

// named renders a named argument as the flag followed by its value as the
// next argument (how VS Code and ToolHive pass them, and what publishers
// test against), or as one "--flag=value" argument when the publisher wrote
// the name with a trailing "=". A flag with an explicitly empty value, or a
// required boolean flag with no value, is passed alone.
func (b *pkgBuilder) named(key string, a argument) ([]tmpl, error) {
	name := a.Name
	if name == "" || strings.ContainsAny(name, " \t") || len(name) > 128 {
		return nil, fmt.Errorf("named argument %q has no usable name", clip(name, 40))
	}
	if err := checkText("an argument name", name); err != nil {
		return nil, err
	}
	flag := strings.TrimSuffix(name, "=")
	hint := strings.TrimLeft(flag, "-")
	if a.Value != nil && *a.Value == "" {
		return []tmpl{lit(flag)}, nil
	}
	if a.Value == nil && (a.Default == nil || *a.Default == "") && a.Format == "boolean" {
		if a.IsRequired {
			return []tmpl{lit(flag)}, nil
		}
		return nil, nil
	}
	t, ok, err := b.o.vars.resolve(key, hint, a.varInput, false, b.envLookup)
	if err != nil || !ok {
		return nil, err
	}
	b.argVals[flag] = t
	b.repeated(a, flag)
	if strings.HasSuffix(name, "=") {
		return []tmpl{cat(lit(name), t)}, nil
	}
	return []tmpl{lit(flag), t}, nil
}

func (b *pkgBuilder) repeated(a argument, what string) {
	if a.IsRepeated {
		b.o.notes = append(b.o.notes, fmt.Sprintf("The argument %s may be given more than once; the snippet gives it once.", clip(what, 40)))
	}
}

// localURL resolves a package's HTTP transport URL: {names} refer to the
// package's arguments (flag name or valueHint) and environment variables.
// It must come out as a fixed URL on this machine: the address the started
// package listens on.
func (b *pkgBuilder) localURL(tr transport) error {
	lookup := func(name string) (tmpl, bool) {
		if t, ok := b.argVals[name]; ok {
			return t, true
		}
		return b.envLookup(name)
	}
	t, _, err := b.o.vars.expand("url", tr.URL, nil, false, lookup)
	if err != nil {
		return err
	}
	s, ok := t.literal()
	if !ok {
		return errors.New("its transport URL depends on a value you supply, so no fixed address can be configured")
	}
	if err := checkURL(s); err != nil {
		return err
	}
	if u, _ := url.Parse(s); !loopback(u) {
		return errors.New("its transport URL is not on localhost")
	}
	b.o.url = lit(s)
	return b.o.setHeaders(tr.Headers)
}

// validate checks every literal that will reach a snippet.
func (o *option) validate() error {
	check := func(what string, ts ...tmpl) error {
		for _, t := range ts {
			if err := t.check(what); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check("an argument", o.args...); err != nil {
		return err
	}
	if err := check("a command argument", o.start...); err != nil {
		return err
	}
	for _, ps := range [][]pair{o.env, o.startEnv} {
		for _, e := range ps {
			if err := check("environment variable "+e.name, e.value); err != nil {
				return err
			}
		}
	}
	for _, h := range o.headers {
		if err := check("header "+h.name, h.value); err != nil {
			return err
		}
	}
	if err := check("the URL", o.url); err != nil {
		return err
	}
	for _, v := range o.vars.list {
		for _, c := range v.choices {
			if err := checkText("a choice", c); err != nil {
				return err
			}
		}
	}
	return nil
}
