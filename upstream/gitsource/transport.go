package gitsource

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/mcpfed/mcpfed/credential"
)

// remote is a validated repository address.
type remote struct {
	url   string // as shown in errors, logs and status; never holds credentials
	dial  string // what go-git dials (http(s) only)
	path  string // a local repository's directory
	local bool   // read in place from path
	plain bool   // http://: credentials would travel in clear
}

// parseRepository accepts https://, http:// and file:// URLs and local
// paths. Errors never quote the input whole: it could hold a password.
func parseRepository(s string) (remote, error) {
	if s == "" {
		return remote{}, errors.New("repository is required: an https:// URL, a file:// URL or a local path")
	}
	if !strings.Contains(s, "://") {
		// A local path, unless it is scp-like ssh syntax (git@host:org/repo).
		if i := strings.IndexByte(s, ':'); i > 0 && filepath.VolumeName(s) == "" && !strings.ContainsRune(s[:i], '/') {
			return remote{}, errors.New("repository: ssh remotes are not supported (use an https:// URL)")
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return remote{}, fmt.Errorf("repository: %w", err)
		}
		return localRemote(abs), nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return remote{}, fmt.Errorf("repository %s is not a valid URL", credential.RedactURL(s))
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
		if u.User != nil {
			return remote{}, fmt.Errorf("repository %s must not hold credentials (user:password@): put them in tokenFile, or usernameFile and passwordFile", credential.RedactURL(s))
		}
		if u.Host == "" {
			return remote{}, fmt.Errorf("repository %s has no host", credential.RedactURL(s))
		}
		u.Scheme = strings.ToLower(u.Scheme)
		// A query could carry a token: dialled, never shown.
		return remote{url: credential.RedactURL(u.String()), dial: u.String(), plain: u.Scheme == "http"}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return remote{}, fmt.Errorf("repository: file URL with host %q; only local paths are supported", u.Host)
		}
		if !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return remote{}, errors.New("repository: a file URL needs an absolute path")
		}
		return localRemote(filepath.Clean(filepath.FromSlash(u.Path))), nil
	}
	return remote{}, fmt.Errorf("repository: unsupported scheme %q (use https://, http://, file:// or a local path)", u.Scheme)
}

func localRemote(abs string) remote {
	return remote{url: (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), path: abs, local: true}
}

// auth builds the https credentials from the files, read at each use so a
// rotated secret is picked up. Errors name the files, never their content.
func (s *Source) auth() (transport.AuthMethod, error) {
	o := s.o
	if !o.hasCredentials() {
		return nil, nil
	}
	secretFile := o.PasswordFile
	if o.TokenFile != "" {
		secretFile = o.TokenFile
	}
	secret, err := credential.ReadFile(secretFile)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	// Git hosts take a token as the password of basic auth; most ignore the
	// user name, some (GitHub apps) document this one.
	user := "x-access-token"
	if o.UsernameFile != "" {
		if user, err = credential.ReadFile(o.UsernameFile); err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
	}
	return &githttp.BasicAuth{Username: user, Password: secret}, nil
}
