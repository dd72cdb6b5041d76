// Package cache holds mcpfed's caches and the HTTP validator helpers they
// share: ETags and conditional-request matching.
package cache

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// ETag returns a strong entity tag for body: a quoted, URL-safe digest.
func ETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:15]) + `"`
}

// EncodedETag derives the tag of an encoded representation (e.g. gzip) of the
// same body, so caches never confuse the two.
func EncodedETag(etag, coding string) string {
	return strings.TrimSuffix(etag, `"`) + "-" + coding + `"`
}

// NoneMatch reports whether an If-None-Match header value matches etag or
// any of its encoded variants: the weak comparison RFC 9110 asks for.
func NoneMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	base := strings.TrimSuffix(etag, `"`)
	for _, candidate := range strings.Split(header, ",") {
		c := strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if c == "*" || c == etag {
			return true
		}
		// An encoded variant is the same content: "<digest>-<coding>".
		if strings.HasPrefix(c, base+"-") && strings.HasSuffix(c, `"`) {
			return true
		}
	}
	return false
}
