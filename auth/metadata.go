package auth

import (
	"encoding/json"
	"net/http"
	"strings"
)

// WellKnownPath is the RFC 9728 metadata path of the root resource.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// ViewResource is the resource identifier of a view: the root's for ""
// (the default view), else {root}/registry/{view}.
func ViewResource(root, view string) string {
	root = strings.TrimRight(root, "/")
	if view == "" {
		return root
	}
	return root + "/registry/" + view
}

// MetadataURL is where the metadata of a view's resource is served:
// {root}/.well-known/oauth-protected-resource[/registry/{view}].
func MetadataURL(root, view string) string {
	u := strings.TrimRight(root, "/") + WellKnownPath
	if view != "" {
		u += "/registry/" + view
	}
	return u
}

// ProtectedResourceMetadata is the RFC 9728 document of a resource: the
// issuers as authorization_servers (omitted when there are none: static
// tokens only), and bearer tokens in the header only.
func ProtectedResourceMetadata(resource string, issuers []string) []byte {
	doc := struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers,omitempty"`
		BearerMethods        []string `json:"bearer_methods_supported"`
	}{resource, issuers, []string{"header"}}
	b, err := json.Marshal(doc)
	if err != nil {
		// Marshalling strings cannot fail.
		panic(err)
	}
	return b
}

// WWWAuthenticate is the challenge of a 401 from a view (view "" is the
// root): Bearer realm="mcpfed", resource_metadata="…", and
// error="invalid_token" when the token failed verification.
func WWWAuthenticate(root, view string, invalidToken bool) string {
	v := `Bearer realm="mcpfed", resource_metadata=` + quote(MetadataURL(root, view))
	if invalidToken {
		v += `, error="invalid_token"`
	}
	return v
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			// Not allowed in a header value; dropped.
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// RequestResource is the root resource identifier derived from a request
// (when auth.resourceURL is not set): its scheme (X-Forwarded-Proto only
// from a trusted proxy) and host. A Host that is not a plain host[:port]
// gives "localhost", so the value reflected to clients cannot carry
// arbitrary text.
func (p Proxies) RequestResource(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p.trusted(remoteAddr(r)) {
		switch fp := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); fp {
		case "http", "https":
			scheme = fp
		}
	}
	host := r.Host
	if !validHost(host) {
		host = "localhost"
	}
	return scheme + "://" + host
}

func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
