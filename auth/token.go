package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// MaxTokenBytes bounds a bearer token: larger is refused unread.
const MaxTokenBytes = 8 << 10

// ErrInvalidToken is wrapped by every error that means "the request
// carried credentials that are not acceptable": 401 with
// error="invalid_token", on every view, never anonymous.
var ErrInvalidToken = errors.New("invalid token")

// The causes, each wrapped together with ErrInvalidToken. Their texts are
// fixed: they never contain any part of a token.
var (
	ErrMalformedHeader = errors.New("authorization header is not a bearer token")
	ErrTokenTooLarge   = errors.New("token is larger than 8 KiB")
	ErrTokenInQuery    = errors.New("token in the query string")
	ErrMalformedToken  = errors.New("malformed token or algorithm not allowed")
	ErrUnknownIssuer   = errors.New("token issuer is not trusted")
	ErrIssuerNotReady  = errors.New("token issuer is not reachable yet")
	ErrSignature       = errors.New("signature does not verify")
	ErrAudience        = errors.New("audience does not match")
	ErrExpired         = errors.New("token has expired")
	ErrNotYetValid     = errors.New("token is not valid yet")
	ErrIssuedInFuture  = errors.New("token is issued in the future")
	ErrMissingSubject  = errors.New("token has no subject")
	ErrVerification    = errors.New("token does not verify")
	ErrUnknownToken    = errors.New("token is not known")
)

func invalid(cause error) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, cause)
}

// BearerToken returns the request's bearer token: "" without an
// Authorization header; an error wrapping ErrInvalidToken for a token in
// the query string, several Authorization headers, another scheme, a value
// that is not RFC 6750 b64token syntax, or a token over MaxTokenBytes.
func BearerToken(r *http.Request) (string, error) {
	if r.URL != nil && r.URL.RawQuery != "" {
		// The parameters RFC 6750 §2.3 (and common clients) put tokens
		// in: their presence is refused, their values are not read.
		q := r.URL.Query()
		for _, p := range []string{"access_token", "token", "id_token"} {
			if q.Has(p) {
				return "", invalid(ErrTokenInQuery)
			}
		}
	}
	return ParseAuthorization(r.Header.Values("Authorization"))
}

// ParseAuthorization parses the values of the Authorization header (see
// BearerToken).
func ParseAuthorization(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", invalid(ErrMalformedHeader)
	}
	v := values[0]
	if len(v) > len("Bearer ")+MaxTokenBytes+16 {
		return "", invalid(ErrTokenTooLarge)
	}
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", invalid(ErrMalformedHeader)
	}
	tok = strings.TrimLeft(tok, " ")
	tok = strings.TrimRight(tok, " \t")
	if len(tok) > MaxTokenBytes {
		return "", invalid(ErrTokenTooLarge)
	}
	if !isB64Token(tok) {
		return "", invalid(ErrMalformedHeader)
	}
	return tok, nil
}

// isB64Token reports whether s is RFC 6750 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Reason is the fixed, token-free text of an authentication error, for the
// audit log and for problem details.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range []error{
		ErrMalformedHeader, ErrTokenTooLarge, ErrTokenInQuery, ErrMalformedToken,
		ErrUnknownIssuer, ErrIssuerNotReady, ErrSignature, ErrAudience, ErrExpired,
		ErrNotYetValid, ErrIssuedInFuture, ErrMissingSubject, ErrVerification, ErrUnknownToken,
	} {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	if errors.Is(err, ErrInvalidToken) {
		return ErrInvalidToken.Error()
	}
	return "authentication failed"
}
