package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	v0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	"github.com/modelcontextprotocol/registry/pkg/model"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mcpfed/mcpfed/upstream"
)

// The annotations read from a watched resource. Those under ToolHive's
// prefix are the ones ToolHive's registry server reads, with the same
// meaning, so a cluster annotated for it is read the same way here.
const (
	AnnotationPrefix = "toolhive.stacklok.dev/"
	// AnnotationExport must be exactly "true" for the resource to become a
	// registry entry.
	AnnotationExport = AnnotationPrefix + "registry-export"
	// AnnotationURL is the URL clients reach the server at: the entry's
	// streamable-http remote. Required.
	AnnotationURL = AnnotationPrefix + "registry-url"
	// AnnotationDescription is the entry's description. Required.
	AnnotationDescription = AnnotationPrefix + "registry-description"
	AnnotationTitle       = AnnotationPrefix + "registry-title"
	// AnnotationIcon is one icon URL.
	AnnotationIcon = AnnotationPrefix + "registry-icon"
	// AnnotationCategory becomes a ToolHive tag.
	AnnotationCategory = AnnotationPrefix + "registry-category"
	// AnnotationVersion is the entry's version (a semantic version).
	AnnotationVersion = AnnotationPrefix + "registry-version"
	// AnnotationTools is a JSON array of tool names.
	AnnotationTools = AnnotationPrefix + "tools"
	// AnnotationToolDefinitions is a JSON array of MCP tool definitions.
	AnnotationToolDefinitions = AnnotationPrefix + "tool-definitions"
	// AnnotationAuthzClaims is a JSON object of the claims a caller needs
	// to see the entry.
	AnnotationAuthzClaims = AnnotationPrefix + "authz-claims"
	// AnnotationServerName names the catalogue server a deployed instance
	// runs (mcpfed's own annotation; see upstream.Instance.ServerName).
	AnnotationServerName = "mcpfed.io/server-name"
)

// EntryPrefix starts the name of every entry this source makes:
// com.toolhive.k8s.<namespace>/<name>, as ToolHive names them.
const EntryPrefix = "com.toolhive.k8s."

// Bounds of what an annotation may put into an entry: every tenant of a
// watched namespace can write annotations, and each entry is kept in
// memory and in every answer that lists it.
const (
	maxIconURL         = 255
	maxToolDefinitions = 64 << 10
)

// MetaKey is mcpfed's publisher-provided `_meta` key on the entries of
// this source; it holds the authorization claims (authzClaims).
const MetaKey = upstream.MCPFedNamespace

// DefaultVersion is the version of an entry whose resource carries neither
// a usable registry-version annotation nor an image tag that is a semantic
// version (ToolHive's registry server uses the same).
const DefaultVersion = "1.0.0"

// Reasons an exported resource is left out of the snapshot (Report.Skipped).
const (
	SkipMissingURL         = "missing-url"
	SkipInvalidURL         = "invalid-url"
	SkipMissingDescription = "missing-description"
	SkipInvalidClaims      = "invalid-authz-claims"
	SkipInvalidEntry       = "invalid-entry" // the server.json is not servable (name too long, description over 100 characters, …)
	SkipDuplicateName      = "duplicate-name"
)

// Annotations ignored while the resource is still exported (Report.Warnings).
const (
	WarnInvalidVersion         = "invalid-version"
	WarnInvalidTools           = "invalid-tools"
	WarnInvalidToolDefinitions = "invalid-tool-definitions"
	WarnInvalidIcon            = "invalid-icon"
	WarnToolDefinitionsTooLong = "tool-definitions-too-long"
)

// The kinds of the watched resources.
const (
	KindMCPServer        = "MCPServer"
	KindMCPRemoteProxy   = "MCPRemoteProxy"
	KindVirtualMCPServer = "VirtualMCPServer"
	KindService          = "Service"
)

// maxVersionLen is the official schema's bound on a version.
const maxVersionLen = 255

// converted is what one watched resource yields.
type converted struct {
	Instance upstream.Instance
	// Entry is the registry entry, nil when the resource is not exported;
	// Server and Meta are what it was indexed from: the server.json and
	// the response `_meta` (the official block).
	Entry        *upstream.Entry
	Server, Meta json.RawMessage
	// Claims are the entry's authorization claims, nil when none.
	Claims map[string]any
	// Skip is why an exported resource cannot be an entry; Detail says
	// more, for the log.
	Skip   string
	Detail error
	// Warnings name annotations that were ignored.
	Warnings []string
}

// EntryName is the registry entry name of a resource.
func EntryName(namespace, name string) string {
	return EntryPrefix + strings.ToLower(namespace) + "/" + strings.ToLower(name)
}

// isInstance reports whether a resource is a deployed MCP server: every
// ToolHive resource is; a Service only when it carries the export
// annotation (whatever its value) or names its catalogue server, since
// most Services of a cluster have nothing to do with MCP.
func isInstance(kind string, ann map[string]string) bool {
	if kind != KindService {
		return true
	}
	_, export := ann[AnnotationExport]
	_, named := ann[AnnotationServerName]
	return export || named
}

// convert reads one resource of kind. The instance is always filled; the
// entry only when the resource is exported and valid.
func convert(obj *unstructured.Unstructured, kind string) converted {
	ann := obj.GetAnnotations()
	c := converted{Instance: instanceOf(obj, kind, ann)}
	if ann[AnnotationExport] != "true" {
		return c
	}
	if err := c.buildEntry(obj, kind, ann); err != nil {
		c.Entry, c.Server, c.Meta, c.Claims = nil, nil, nil, nil
		c.Detail = err
		return c
	}
	c.Instance.Entry = EntryName(obj.GetNamespace(), obj.GetName())
	return c
}

// skipError carries the reason an exported resource is left out.
type skipError struct {
	reason string
	err    error
}

func (e *skipError) Error() string { return e.err.Error() }
func (e *skipError) Unwrap() error { return e.err }

func skip(reason, format string, args ...any) error {
	return &skipError{reason: reason, err: fmt.Errorf(format, args...)}
}

func (c *converted) buildEntry(obj *unstructured.Unstructured, kind string, ann map[string]string) error {
	err := c.entry(obj, kind, ann)
	var se *skipError
	switch {
	case err == nil:
	case errors.As(err, &se):
		c.Skip = se.reason
	default:
		c.Skip = SkipInvalidEntry
	}
	return err
}

func (c *converted) entry(obj *unstructured.Unstructured, kind string, ann map[string]string) error {
	remote := strings.TrimSpace(ann[AnnotationURL])
	desc := strings.TrimSpace(ann[AnnotationDescription])
	switch {
	case remote == "":
		return skip(SkipMissingURL, "annotation %s is missing or empty", AnnotationURL)
	case desc == "":
		return skip(SkipMissingDescription, "annotation %s is missing or empty", AnnotationDescription)
	}
	if u, err := url.Parse(remote); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return skip(SkipInvalidURL, "annotation %s: %q is not an http(s) URL", AnnotationURL, remote)
	}
	claims, err := parseClaims(ann[AnnotationAuthzClaims])
	if err != nil {
		return skip(SkipInvalidClaims, "annotation %s: %w", AnnotationAuthzClaims, err)
	}
	c.Claims = claims

	image := c.Instance.Image
	version, ok := entryVersion(ann[AnnotationVersion], image)
	if !ok {
		c.Warnings = append(c.Warnings, WarnInvalidVersion)
	}
	name := EntryName(obj.GetNamespace(), obj.GetName())
	server := v0.ServerJSON{
		Schema:      model.CurrentSchemaURL,
		Name:        name,
		Title:       strings.TrimSpace(ann[AnnotationTitle]),
		Description: desc,
		Version:     version,
		Remotes:     []model.Transport{{Type: model.TransportTypeStreamableHTTP, URL: remote}},
	}
	if icon := strings.TrimSpace(ann[AnnotationIcon]); icon != "" {
		// The official schema: an https URI of at most 255 characters.
		if u, err := url.Parse(icon); err == nil && u.Scheme == "https" && u.Host != "" && len(icon) <= maxIconURL {
			server.Icons = []model.Icon{{Src: icon}}
		} else {
			c.Warnings = append(c.Warnings, WarnInvalidIcon)
		}
	}
	transport := ""
	if kind == KindMCPServer {
		transport, _, _ = unstructured.NestedString(obj.Object, "spec", "transport")
		if image != "" {
			server.Packages = []model.Package{imagePackage(obj, image, transport)}
		}
	}
	ext := toolHiveExtension{
		Status: "active",
		Metadata: toolHiveMetadata{Kubernetes: kubernetesMetadata{
			Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID()),
			Image: image, Transport: transport,
		}},
	}
	if cat := strings.TrimSpace(ann[AnnotationCategory]); cat != "" {
		ext.Tags = []string{cat}
	}
	if raw, ok := ann[AnnotationTools]; ok && strings.TrimSpace(raw) != "" {
		if err := json.Unmarshal([]byte(raw), &ext.Tools); err != nil {
			ext.Tools = nil
			c.Warnings = append(c.Warnings, WarnInvalidTools)
		}
	}
	if raw, ok := ann[AnnotationToolDefinitions]; ok && len(raw) > maxToolDefinitions {
		c.Warnings = append(c.Warnings, WarnToolDefinitionsTooLong)
	} else if ok && strings.TrimSpace(raw) != "" {
		defs, err := toolDefinitions(raw)
		if err != nil {
			c.Warnings = append(c.Warnings, WarnInvalidToolDefinitions)
		}
		ext.ToolDefinitions = defs
	}
	publisher := map[string]any{upstream.ToolHiveNamespace: map[string]any{remote: ext}}
	if claims != nil {
		publisher[MetaKey] = map[string]any{"authzClaims": claims}
	}
	server.Meta = &v0.ServerMeta{PublisherProvided: publisher}
	if c.Server, err = json.Marshal(server); err != nil {
		return err
	}
	published, updated := times(obj)
	meta := map[string]v0.RegistryExtensions{upstream.OfficialMetaKey: {
		Status: model.StatusActive, PublishedAt: published, UpdatedAt: updated, IsLatest: true,
	}}
	if c.Meta, err = json.Marshal(meta); err != nil {
		return err
	}
	// Index it now: an entry the snapshot would refuse is skipped here,
	// with its reason, instead of failing the whole rebuild.
	c.Entry, err = upstream.NewEntry(c.Server, c.Meta)
	return err
}

// toolHiveExtension is ToolHive's publisher-provided extension of a
// server discovered in a cluster (under io.github.stacklok, keyed by the
// server's URL), with the fields its registry server writes.
type toolHiveExtension struct {
	Status          string           `json:"status"`
	Tools           []string         `json:"tools,omitempty"`
	Tags            []string         `json:"tags,omitempty"`
	Metadata        toolHiveMetadata `json:"metadata"`
	ToolDefinitions json.RawMessage  `json:"tool_definitions,omitempty"`
}

type toolHiveMetadata struct {
	Kubernetes kubernetesMetadata `json:"kubernetes"`
}

type kubernetesMetadata struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	Image     string `json:"image,omitempty"`
	Transport string `json:"transport,omitempty"`
}

// imagePackage is the OCI package of an MCPServer's image. Its transport
// is what ToolHive's proxy offers: stdio servers are proxied as
// streamable-http (or spec.proxyMode), reached on the proxy's port.
func imagePackage(obj *unstructured.Unstructured, image, transport string) model.Package {
	t := transport
	if t == "" || t == model.TransportTypeStdio {
		t, _, _ = unstructured.NestedString(obj.Object, "spec", "proxyMode")
		if t == "" {
			t = model.TransportTypeStreamableHTTP
		}
	}
	tr := model.Transport{Type: t}
	if t == model.TransportTypeStreamableHTTP || t == model.TransportTypeSSE {
		// The schema wants a URL for these: the local one a client running
		// the image itself would use, as for ToolHive's catalogue.
		tr.URL = "http://localhost"
		if port, ok, _ := unstructured.NestedInt64(obj.Object, "spec", "proxyPort"); ok && port > 0 && port < 65536 {
			tr.URL = fmt.Sprintf("http://localhost:%d", port)
		}
	}
	return model.Package{RegistryType: model.RegistryTypeOCI, Identifier: image, Transport: tr}
}

// entryVersion is the annotated version when it is a usable semantic
// version, else the image tag when it is one, else DefaultVersion. ok is
// false when an annotated version was refused. Only semantic versions
// (without build metadata) are used, as ToolHive does: "latest", "stable"
// or a digest would order unpredictably against other versions.
func entryVersion(annotated, image string) (string, bool) {
	annotated = strings.TrimSpace(annotated)
	if usableVersion(annotated) {
		return annotated, true
	}
	version := DefaultVersion
	if tag := imageTag(image); usableVersion(tag) {
		version = tag
	}
	return version, annotated == ""
}

func usableVersion(v string) bool {
	return v != "" && len(v) <= maxVersionLen && !strings.Contains(v, "+") && upstream.IsSemver(v)
}

// imageTag is the tag of an image reference ("" when it has none): a digest
// is not a tag, and a colon before the last slash is a registry's port.
func imageTag(image string) string {
	if at := strings.IndexByte(image, '@'); at >= 0 {
		image = image[:at]
	}
	colon := strings.LastIndexByte(image, ':')
	if colon < 0 || strings.LastIndexByte(image, '/') > colon {
		return ""
	}
	return image[colon+1:]
}

// parseClaims reads the authz-claims annotation with upstream.ParseClaims,
// the one reader of claims (the entries' and the instances' rule): a JSON
// object of strings or non-empty lists of strings; an empty annotation is
// no claims.
func parseClaims(raw string) (map[string]any, error) {
	c := upstream.ParseClaims(json.RawMessage(raw))
	if c != nil && c.Invalid {
		return nil, errors.New("want a JSON object whose values are strings or non-empty lists of strings")
	}
	return c.Object(), nil
}

// toolDefinitions checks the tool-definitions annotation: a JSON array of
// objects, kept as written (compacted). Only the syntax is checked, as
// ToolHive does.
func toolDefinitions(raw string) (json.RawMessage, error) {
	var defs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &defs); err != nil {
		return nil, err
	}
	if len(defs) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(raw)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// times are the entry's publication time (the resource's creation) and
// its last update: the latest change of the resource that was not a status
// update, from its managed fields. Both come from the API server, so every
// replica serves the same bytes.
func times(obj *unstructured.Unstructured) (published, updated time.Time) {
	published = obj.GetCreationTimestamp().UTC()
	if published.IsZero() {
		published = upstream.UndatedTime
	}
	updated = published
	for _, mf := range obj.GetManagedFields() {
		if mf.Subresource != "" || mf.Time == nil {
			continue
		}
		if t := mf.Time.UTC(); t.After(updated) {
			updated = t
		}
	}
	return published.Truncate(time.Second), updated.Truncate(time.Second)
}

// instanceOf reads what the deployed-instances endpoint lists.
func instanceOf(obj *unstructured.Unstructured, kind string, ann map[string]string) upstream.Instance {
	in := upstream.Instance{
		Namespace: obj.GetNamespace(), Name: obj.GetName(), Kind: kind,
		URL:        strings.TrimSpace(ann[AnnotationURL]),
		ServerName: strings.TrimSpace(ann[AnnotationServerName]),
	}
	if kind == KindMCPServer {
		in.Image, _, _ = unstructured.NestedString(obj.Object, "spec", "image")
		in.Image = strings.TrimSpace(in.Image)
	}
	if in.URL == "" {
		for _, field := range []string{"externalUrl", "url"} {
			if u, _, _ := unstructured.NestedString(obj.Object, "status", field); u != "" {
				in.URL = u
				break
			}
		}
	}
	in.Ready = ready(obj, kind)
	// Invalid claims hide the instance from every view, as they hide its entry.
	in.Claims = upstream.ParseClaims(json.RawMessage(ann[AnnotationAuthzClaims]))
	return in
}

// ready reads readiness: a resource being deleted is not ready; a
// ToolHive resource is ready when its Ready condition is True, or, without
// that condition, when its phase is Ready (Running in older operators); a
// Service is ready unless it is a load balancer without an address yet.
func ready(obj *unstructured.Unstructured, kind string) bool {
	if obj.GetDeletionTimestamp() != nil {
		return false
	}
	if kind == KindService {
		if t, _, _ := unstructured.NestedString(obj.Object, "spec", "type"); t != "LoadBalancer" {
			return true
		}
		ingress, _, _ := unstructured.NestedSlice(obj.Object, "status", "loadBalancer", "ingress")
		return len(ingress) > 0
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		return m["status"] == "True"
	}
	phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
	return phase == "Ready" || phase == "Running"
}
