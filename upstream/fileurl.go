package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/mcpfed/mcpfed/credential"
)

// readURL fetches with a conditional GET; a 304 means unchanged. Errors
// name the URL redacted: never its user information or query.
func (s *FileSource) readURL(ctx context.Context, rawURL string) (*Document, string, error) {
	where := s.where
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: invalid URL", where)
	}
	req.Header.Set("Accept", "application/json")
	if err := (credential.Files{Token: s.opts.TokenFile, Username: s.opts.UsernameFile, Password: s.opts.PasswordFile}).Authorize(req); err != nil {
		return nil, "", err
	}
	if s.Snapshot() != nil {
		if s.etag != "" {
			req.Header.Set("If-None-Match", s.etag)
		}
		if s.modified != "" {
			req.Header.Set("If-Modified-Since", s.modified)
		}
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", where, redactURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && s.Snapshot() != nil:
		return nil, s.stamp, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("fetch %s: HTTP %s", where, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", where, redactURLError(err))
	}
	if int64(len(data)) > s.opts.MaxBytes {
		return nil, "", fmt.Errorf("fetch %s: body exceeds the limit of %d bytes: %w", where, s.opts.MaxBytes, ErrTooLarge)
	}
	sum := sha256.Sum256(data)
	stamp := hex.EncodeToString(sum[:])
	etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if s.unchanged(stamp) {
		s.etag, s.modified = etag, modified
		return nil, stamp, nil
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, stamp, err // Load names the URL
	}
	if t, err := http.ParseTime(modified); err == nil {
		doc.DateIfUndated(t) // the data's own date, the same for every replica
	}
	s.etag, s.modified = etag, modified
	return doc, stamp, nil
}

// redactURLError rewrites the URL net/http puts in its errors (user
// name and query included) to its redacted form.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, credential.RedactURL(ue.URL), ue.Err)
	}
	return err
}
