package credential

import (
	"net/url"
	"strings"
)

// RedactURL is raw as it may appear in an error message or a log: without
// user info, query or fragment, any of which may carry a secret
// (https://user:pass@host, ?token=...). Scheme, host and path stay, so the
// message still says where. A URL that does not parse is cut the same way
// by hand, since the parser's own error would repeat it whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsed(raw)
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	if u.Opaque != "" {
		// "host:port@x" and the like parse as scheme:opaque; the opaque
		// part may be anything, so treat it as unparsed.
		return redactUnparsed(raw)
	}
	return u.String()
}

// redactUnparsed drops everything from the first '?' or '#', and whatever
// precedes the last '@' of the authority.
func redactUnparsed(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	return prefix + authority + path
}
