package gitsource

import (
	"errors"
	"net/url"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// Spec is a git source as configured (sources[i] with kind: git): its
// fields and their names are what the configuration accepts for this kind;
// Options' defaults and validation apply to them.
type Spec struct {
	Repository string `yaml:"repository"`
	// Branch, Tag or Commit (at most one; none: the default branch).
	Branch       string        `yaml:"branch"`
	Tag          string        `yaml:"tag"`
	Commit       string        `yaml:"commit"`
	Path         string        `yaml:"path"`
	Interval     time.Duration `yaml:"interval"`
	UsernameFile string        `yaml:"usernameFile"`
	PasswordFile string        `yaml:"passwordFile"`
	TokenFile    string        `yaml:"tokenFile"`
	MaxFiles     int           `yaml:"maxFiles"`
	MaxBytes     int64         `yaml:"maxBytes"`
	LoadTimeout  time.Duration `yaml:"loadTimeout"`
	// Optional lets a local repository be missing at start.
	Optional bool `yaml:"optional"`
}

// Options are the source's options for New, without what the process adds
// (clone and state directories, admission, clock, logger, metrics).
func (s Spec) Options(name string) Options {
	return Options{
		Name: name, Repository: s.Repository, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit, Path: s.Path,
		Interval: s.Interval, UsernameFile: s.UsernameFile, PasswordFile: s.PasswordFile, TokenFile: s.TokenFile,
		MaxFiles: s.MaxFiles, MaxBytes: s.MaxBytes, LoadTimeout: s.LoadTimeout, Optional: s.Optional,
	}
}

// ApplyDefaults sets Options' defaults on the fields left unset.
func (s *Spec) ApplyDefaults() {
	o := s.Options("spec").withDefaults()
	s.Interval, s.MaxFiles, s.MaxBytes, s.LoadTimeout = o.Interval, o.MaxFiles, o.MaxBytes, o.LoadTimeout
}

// Validate lists every problem, without touching the file system or the
// network (the source's name is the configuration's to check).
func (s Spec) Validate() error {
	var errs []error
	// User information is Options.Validate's to refuse; a token in the
	// query would be dialled and so is refused here too.
	if u, err := url.Parse(s.Repository); err == nil && u.User == nil && u.Scheme != "" {
		if err := upstream.CheckURLCredentials("repository", s.Repository); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.Options("spec").Validate())
	return errors.Join(errs...)
}
