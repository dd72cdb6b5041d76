package credential

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Files names the credential files of an outbound HTTP source: a bearer
// token, or a user name and a password. Zero: none.
type Files struct {
	Token, Username, Password string
}

// Authorize sets req's credentials, read afresh from their files (a
// rotated Secret applies at the next request).
func (f Files) Authorize(req *http.Request) error {
	switch {
	case f.Token != "":
		token, err := ReadFile(f.Token)
		if err != nil {
			return fmt.Errorf("tokenFile: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	case f.Username != "":
		user, err := ReadFile(f.Username)
		if err != nil {
			return fmt.Errorf("usernameFile: %w", err)
		}
		pass, err := ReadFile(f.Password)
		if err != nil {
			return fmt.Errorf("passwordFile: %w", err)
		}
		req.SetBasicAuth(user, pass)
	}
	return nil
}

// StayOnHost returns a copy of c that refuses to follow a redirect to
// another scheme or host than base's, so credentials go to the configured
// host only (and at most 10 redirects, unless c bounds them itself).
func StayOnHost(c *http.Client, base *url.URL) *http.Client {
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != base.Host || req.URL.Scheme != base.Scheme {
			return fmt.Errorf("redirect to %s refused: credentials are sent to %s only", req.URL.Host, base.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}
