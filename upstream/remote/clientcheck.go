package remote

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/mcpfed/mcpfed/credential"
)

// ValidateBaseURL checks an api source's url: an absolute http(s) URL,
// without user info, query or fragment. Credentials belong in tokenFile or
// usernameFile/passwordFile, which are read at each request and never
// printed; a URL is printed in logs and status. The error never repeats
// the part of the URL that may hold a secret.
func ValidateBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// The parser's message repeats the URL, password and all.
		return fmt.Errorf("url %q is not a valid URL", credential.RedactURL(raw))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q must be an absolute http:// or https:// URL", credential.RedactURL(raw))
	}
	if u.User != nil {
		return fmt.Errorf("url %q must not carry user info: put the credentials in tokenFile, or usernameFile and passwordFile", credential.RedactURL(raw))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("url %q must not carry a query or fragment (a token in the URL would be logged): put credentials in tokenFile, or usernameFile and passwordFile; extra parameters in headers", credential.RedactURL(raw))
	}
	return nil
}

// ValidateHeaders checks an api source's extra request headers: valid
// names and values (net/http's rules), none that the HTTP client itself
// must control (Host, Content-Length, hop-by-hop headers), and no
// Authorization when credential files are configured (withCredentials):
// the file's credentials would be silently replaced. Every problem is
// listed, in header name order.
func ValidateHeaders(headers map[string]string, withCredentials bool) error {
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	var errs []error
	for _, k := range names {
		if err := checkHeader(k, headers[k], withCredentials); err != nil {
			errs = append(errs, fmt.Errorf("headers: %q %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// reservedHeaders are set by the HTTP client from the request and the
// connection; an override would be ignored or corrupt the exchange.
var reservedHeaders = []string{"Host", "Content-Length", "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func checkHeader(name, value string, withCredentials bool) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return errors.New("is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)")
	}
	canon := http.CanonicalHeaderKey(name)
	switch {
	case slices.Contains(reservedHeaders, canon) || strings.HasPrefix(canon, "Proxy-"):
		return errors.New("cannot be set: the HTTP client sets it (Host, Content-Length and hop-by-hop headers are refused)")
	case canon == "Authorization" && withCredentials:
		return errors.New("cannot be set with tokenFile or usernameFile/passwordFile, which set Authorization")
	case !httpguts.ValidHeaderFieldValue(value):
		// The value itself is not printed: it may be a key.
		return errors.New("has an invalid value (control characters such as a line break)")
	}
	return nil
}
