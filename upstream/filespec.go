package upstream

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/credential"
)

// FileSpec is a file source as configured (sources[i] with kind: file):
// its fields and their names are what the configuration accepts for this
// kind, FileOptions' defaults and validation apply to them.
type FileSpec struct {
	// Path is a file, a directory of server.json files or builtin:<name>.
	Path string `yaml:"path"`
	// URL is an http(s) registry file; give path or url.
	URL         string        `yaml:"url"`
	Interval    time.Duration `yaml:"interval"`
	MaxBytes    int64         `yaml:"maxBytes"`
	MaxFiles    int           `yaml:"maxFiles"`
	LoadTimeout time.Duration `yaml:"loadTimeout"`
	// Optional lets a local path be missing at start.
	Optional bool `yaml:"optional"`
	// Credentials for an https url, sent to its host only.
	TokenFile    string `yaml:"tokenFile"`
	UsernameFile string `yaml:"usernameFile"`
	PasswordFile string `yaml:"passwordFile"`
}

// Options are the source's options for NewFileSource, without what the
// process adds (the built-in catalogue, admission, state, clock, logger,
// metrics).
func (s FileSpec) Options(name string) FileOptions {
	path := s.Path
	if s.URL != "" {
		path = s.URL
	}
	return FileOptions{
		Name: name, Path: path, Interval: s.Interval, MaxBytes: s.MaxBytes, MaxFiles: s.MaxFiles,
		LoadTimeout: s.LoadTimeout, Optional: s.Optional,
		TokenFile: s.TokenFile, UsernameFile: s.UsernameFile, PasswordFile: s.PasswordFile,
	}
}

// ApplyDefaults sets FileOptions' defaults on the fields left unset.
func (s *FileSpec) ApplyDefaults() {
	o := s.Options("").withDefaults()
	s.Interval, s.MaxBytes, s.MaxFiles, s.LoadTimeout = o.Interval, o.MaxBytes, o.MaxFiles, o.LoadTimeout
}

// Validate lists every problem, without touching the file system: a
// missing path is found when the source is built.
func (s FileSpec) Validate() error {
	var errs []error
	switch {
	case s.Path != "" && s.URL != "":
		errs = append(errs, errors.New("give path or url, not both"))
	case s.URL != "" && !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://"):
		errs = append(errs, fmt.Errorf("url %q must be http:// or https://", credential.RedactURL(s.URL)))
	case strings.HasPrefix(s.Path, "http://") || strings.HasPrefix(s.Path, "https://"):
		errs = append(errs, fmt.Errorf("path %q is a URL: write it as url", credential.RedactURL(s.Path)))
	}
	if s.URL != "" {
		if err := CheckURLCredentials("url", s.URL); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.Options("").Validate())
	return errors.Join(errs...)
}

// credentialParams are query parameters that commonly carry a secret.
var credentialParams = []string{
	"token", "access_token", "id_token", "refresh_token", "auth", "authorization", "api_key", "apikey", "api-key",
	"key", "password", "passwd", "pwd", "secret", "client_secret", "sig", "signature", "x-amz-signature",
	"x-goog-signature", "x-amz-credential", "x-amz-security-token", "private_token",
}

// CheckURLCredentials refuses a URL (the value of field) that carries
// credentials: user information (https://user:pass@host) or a query
// parameter such as token, access_token, api_key, key, password, secret or
// sig. A URL is shown in logs, in `mcpfed check` and in the sources
// endpoint; credentials belong in tokenFile, or usernameFile and
// passwordFile, which are read at each use and never shown. The message
// never repeats the secret.
func CheckURLCredentials(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %q is not a valid URL", field, credential.RedactURL(raw))
	}
	if u.User != nil {
		return fmt.Errorf("%s %q must not carry a user name or password: put them in usernameFile and passwordFile (or a token in tokenFile)", field, credential.RedactURL(raw))
	}
	for name := range u.Query() {
		for _, p := range credentialParams {
			if strings.EqualFold(name, p) {
				return fmt.Errorf("%s %q must not carry a credential (query parameter %q): put a token in tokenFile, or usernameFile and passwordFile", field, credential.RedactURL(raw), name)
			}
		}
	}
	return nil
}
