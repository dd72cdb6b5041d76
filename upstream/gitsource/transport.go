package gitsource

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// localScheme is what go-git dials for a file:// repository. go-git's own
// file transport runs the git-upload-pack binary, which mcpfed's image does
// not have; this scheme serves the repository with go-git's in-process
// server instead. It is private so that no other user of go-git in the
// binary sees a changed "file" transport.
const localScheme = "mcpfed-file"

// installLocal registers localScheme in go-git's protocol table. go-git
// only looks transports up in that process-wide table, so registering is
// unavoidable; it happens once, when the first git source is built (before
// any source runs, as the table is a plain map), not at package init.
var installLocal sync.Once

func installLocalTransport() {
	installLocal.Do(func() { client.InstallProtocol(localScheme, localTransport{}) })
}

// remote is a validated repository address.
type remote struct {
	url   string // as shown in errors and logs; never holds credentials
	dial  string // what go-git dials
	local bool   // served in process (file://): no auth, no shallow fetch
	plain bool   // http://: credentials would travel in clear
}

// parseRepository accepts https://, http:// and file:// URLs and local
// paths. Errors never quote the input: it could hold a password.
func parseRepository(s string) (remote, error) {
	if s == "" {
		return remote{}, errors.New("repository is required")
	}
	if !strings.Contains(s, "://") {
		// A local path, unless it is scp-like ssh syntax (git@host:org/repo).
		if i := strings.IndexByte(s, ':'); i > 0 && filepath.VolumeName(s) == "" && !strings.ContainsRune(s[:i], '/') {
			return remote{}, errors.New("repository: ssh remotes are not supported (use https:// or file://)")
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return remote{}, fmt.Errorf("repository: %w", err)
		}
		return localRemote(abs), nil
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return remote{}, fmt.Errorf("repository is not a valid URL: %v", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
		if _, ok := u.User.Password(); ok {
			return remote{}, errors.New("repository URL holds a password; use passwordFile or tokenFile")
		}
		if u.Host == "" {
			return remote{}, errors.New("repository URL has no host")
		}
		u.Scheme = strings.ToLower(u.Scheme)
		return remote{url: u.String(), dial: u.String(), plain: u.Scheme == "http"}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return remote{}, fmt.Errorf("repository: file URL with host %q; only local paths are supported", u.Host)
		}
		if !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return remote{}, errors.New("repository: file URL needs an absolute path")
		}
		return localRemote(filepath.Clean(filepath.FromSlash(u.Path))), nil
	}
	return remote{}, fmt.Errorf("repository: unsupported scheme %q (https, http or file)", u.Scheme)
}

func localRemote(abs string) remote {
	p := filepath.ToSlash(abs)
	return remote{
		url:   (&url.URL{Scheme: "file", Path: p}).String(),
		dial:  (&url.URL{Scheme: localScheme, Path: p}).String(),
		local: true,
	}
}

// localTransport serves a local repository with go-git's in-process
// upload-pack. That server cannot do shallow fetches, so local fetches are
// full (incremental after the first: the clone's refs are sent as haves).
type localTransport struct{}

func (localTransport) NewUploadPackSession(ep *transport.Endpoint, _ transport.AuthMethod) (transport.UploadPackSession, error) {
	repo, err := git.PlainOpen(ep.Path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, transport.ErrRepositoryNotFound
	}
	if err != nil {
		return nil, err
	}
	sess, err := server.NewClient(fixedLoader{repo.Storer}).NewUploadPackSession(ep, nil)
	if err != nil {
		return nil, err
	}
	return &localSession{UploadPackSession: sess, sto: repo.Storer}, nil
}

func (localTransport) NewReceivePackSession(*transport.Endpoint, transport.AuthMethod) (transport.ReceivePackSession, error) {
	return nil, errors.New("mcpfed never pushes")
}

// fixedLoader hands the in-process server a repository already opened.
type fixedLoader struct{ s storer.Storer }

func (l fixedLoader) Load(*transport.Endpoint) (storer.Storer, error) { return l.s, nil }

// localSession advertises that any reachable commit may be wanted, which
// the in-process server honours but does not say, so that a pinned commit
// can be fetched by its hash; and it closes the repository's files.
type localSession struct {
	transport.UploadPackSession
	sto storer.Storer
}

func (s *localSession) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

func (s *localSession) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	ar, err := s.UploadPackSession.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, err
	}
	// The server checks requests against this same list, so the capability
	// is accepted when the client echoes it.
	if err := ar.Capabilities.Set(capability.AllowReachableSHA1InWant); err != nil {
		return nil, err
	}
	return ar, nil
}

func (s *localSession) Close() error {
	err := s.UploadPackSession.Close()
	if c, ok := s.sto.(interface{ Close() error }); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

// auth builds the https credentials from the files, read at each use so a
// rotated secret is picked up. Errors name the files, never their content.
func (s *Source) auth() (transport.AuthMethod, error) {
	o := s.o
	if o.UsernameFile == "" && o.PasswordFile == "" && o.TokenFile == "" {
		return nil, nil
	}
	secretFile := o.PasswordFile
	if o.TokenFile != "" {
		secretFile = o.TokenFile
	}
	secret, err := readSecret(secretFile)
	if err != nil {
		return nil, err
	}
	// Git hosts take a token as the password of basic auth; most ignore the
	// user name, some (GitHub apps) document this one.
	user := "x-access-token"
	if o.UsernameFile != "" {
		if user, err = readSecret(o.UsernameFile); err != nil {
			return nil, err
		}
	}
	return &githttp.BasicAuth{Username: user, Password: secret}, nil
}

func readSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read credentials: %w", err) // a PathError: names the file only
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("read credentials: %s is empty", path)
	}
	return v, nil
}
