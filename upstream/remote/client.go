// Package remote reads registries that speak the MCP Registry API (the
// official registry, an organisation's, another mcpfed): the HTTP client and
// the decorators that make a live source safe to put on the request path —
// circuit breaker, outbound rate limit, page cache with serve-stale and
// singleflight.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/upstream"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Source is the source's name, stamped on every entry as provenance.
	Source string
	// BaseURL is the registry's root, optionally with a path prefix
	// (https://registry.example.com/acme); the API version is appended.
	BaseURL string
	// APIVersion is "v0.1" (default) or "v0".
	APIVersion string
	// Credentials, read from files at each request so rotated secrets apply
	// without a restart: a bearer token, or a username and password (basic).
	TokenFile    string
	UsernameFile string
	PasswordFile string
	// Headers are extra request headers (e.g. an API key header); see
	// ValidateHeaders for the ones refused.
	Headers map[string]string
	// MaxBytes bounds one response body (default DefaultMaxBytes).
	MaxBytes int64
	// Timeout bounds one request (default DefaultTimeout).
	Timeout time.Duration
	// Transport is the HTTP transport (default: a shared pooled transport).
	Transport http.RoundTripper
	Clock     func() time.Time
	Logger    *slog.Logger
}

// Client is a Fetcher over HTTP.
type Client struct {
	o    ClientOptions
	base *url.URL
	http *http.Client
}

var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return t
}()

// NewClient validates the options (every problem, see Validate) and
// applies the defaults.
func NewClient(o ClientOptions) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.withDefaults()
	base, err := url.Parse(strings.TrimSuffix(o.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("url %q is not a valid URL", credential.RedactURL(o.BaseURL))
	}
	if o.Transport == nil {
		o.Transport = defaultTransport
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{o: o, base: base}
	c.http = &http.Client{
		Transport: o.Transport,
		Timeout:   o.Timeout,
		// Credentials and headers are for this host only: refuse to follow
		// a redirect anywhere else.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != base.Host || req.URL.Scheme != base.Scheme {
				return fmt.Errorf("redirect to %s refused: credentials are never sent to another host", req.URL.Host)
			}
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	return c, nil
}

// Host is the upstream's host, for logs.
func (c *Client) Host() string { return c.base.Host }

// Fetch performs one request.
func (c *Client) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	u, err := c.requestURL(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(req); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The transport's error repeats the request URL; its query is the
		// caller's (cursor, search), not for logs or problem details.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = credential.RedactURL(ue.URL)
		}
		return nil, fmt.Errorf("fetch %s from %s: %w", r.Op, c.base.Host, err)
	}
	defer resp.Body.Close()
	if err := statusError(resp, c.o.Clock()); err != nil {
		if errors.Is(err, upstream.ErrNotFound) || isArtifactOp(r.Op) && servesNoExtension(err) {
			return nil, upstream.ErrNotFound
		}
		return nil, fmt.Errorf("fetch %s from %s: %w", r.Op, c.base.Host, err)
	}
	body, err := c.readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", r.Op, c.base.Host, err)
	}
	var out *upstream.Response
	if isArtifactOp(r.Op) {
		out, err = c.decodeArtifacts(r.Kind, body)
	} else {
		out, err = c.decode(r.Op, body)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s from %s: %w", r.Op, c.base.Host, err)
	}
	out.Size, out.FetchedAt = int64(len(body)), c.o.Clock()
	return out, nil
}

// requestURL translates a Request into the upstream URL. Names and versions
// are path-escaped once ("/" as %2F, "+" as %2B).
func (c *Client) requestURL(r upstream.Request) (string, error) {
	if isArtifactOp(r.Op) {
		return c.artifactURL(r)
	}
	root := c.base.String() + "/" + c.o.APIVersion + "/servers"
	switch r.Op {
	case upstream.OpList:
		q := url.Values{}
		if r.Cursor != "" {
			q.Set("cursor", r.Cursor)
		}
		if r.Limit > 0 {
			q.Set("limit", strconv.Itoa(r.Limit))
		}
		if r.Search != "" {
			q.Set("search", r.Search)
		}
		if !r.UpdatedSince.IsZero() {
			q.Set("updated_since", r.UpdatedSince.UTC().Format(time.RFC3339Nano))
		}
		if r.Version != "" {
			q.Set("version", r.Version)
		}
		if r.IncludeDeleted {
			q.Set("include_deleted", "true")
		}
		if len(q) == 0 {
			return root, nil
		}
		return root + "?" + q.Encode(), nil
	case upstream.OpVersions, upstream.OpVersion:
		if r.Name == "" {
			return "", errors.New("request without a server name")
		}
		u := root + "/" + escapeSegment(r.Name) + "/versions"
		if r.Op == upstream.OpVersion {
			u += "/" + escapeSegment(r.Version)
		}
		if r.IncludeDeleted {
			u += "?include_deleted=true"
		}
		return u, nil
	}
	return "", fmt.Errorf("unknown operation %q", r.Op)
}

func escapeSegment(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
}

// authorize adds the configured credentials and headers. Inbound request
// headers are never copied: a client's own Authorization stays with mcpfed.
func (c *Client) authorize(req *http.Request) error {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcpfed")
	for k, v := range c.o.Headers {
		req.Header.Set(k, v)
	}
	switch {
	case c.o.TokenFile != "":
		token, err := credential.ReadFile(c.o.TokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	case c.o.UsernameFile != "":
		user, err := credential.ReadFile(c.o.UsernameFile)
		if err != nil {
			return err
		}
		pass, err := credential.ReadFile(c.o.PasswordFile)
		if err != nil {
			return err
		}
		req.SetBasicAuth(user, pass)
	}
	return nil
}

// statusError maps a non-200 answer to an error.
func statusError(resp *http.Response, now time.Time) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode == http.StatusNotFound {
		return upstream.ErrNotFound
	}
	return &upstream.StatusError{Code: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
}

// maxRetryAfter is the longest Retry-After the client reports: longer
// values (and overflowing ones) are clipped to it; the rate limiter caps
// the wait much lower (RateLimitOptions.MaxWait).
const maxRetryAfter = 24 * time.Hour

// retryAfter parses Retry-After: delay-seconds (digits only) or an HTTP
// date. Nothing usable (empty, negative, garbage, a date past) is 0;
// anything longer than maxRetryAfter, however large, is maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		// Digits only, so the one possible error is a value beyond int64.
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil || s > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(s) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	// Sub saturates rather than overflows for dates far ahead.
	return min(t.Sub(now), maxRetryAfter)
}

func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, fmt.Errorf("content type %q is not JSON", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > c.o.MaxBytes {
		return nil, fmt.Errorf("body exceeds the limit of %d bytes", c.o.MaxBytes)
	}
	return body, nil
}

// listBody is the ServerList envelope; servers must be present.
type listBody struct {
	Servers  *[]itemBody `json:"servers"`
	Metadata struct {
		NextCursor string `json:"nextCursor"`
	} `json:"metadata"`
}

type itemBody struct {
	Server json.RawMessage `json:"server"`
	Meta   json.RawMessage `json:"_meta"`
}

func (c *Client) decode(op upstream.Operation, body []byte) (*upstream.Response, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	out := &upstream.Response{}
	var items []itemBody
	if op == upstream.OpVersion {
		var it itemBody
		if err := dec.Decode(&it); err != nil {
			return nil, err
		}
		items = []itemBody{it}
	} else {
		var lb listBody
		if err := dec.Decode(&lb); err != nil {
			return nil, err
		}
		if lb.Servers == nil {
			return nil, errors.New(`answer has no "servers" array`)
		}
		items, out.NextCursor = *lb.Servers, lb.Metadata.NextCursor
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the JSON document")
	}
	var firstBad error
	for i, it := range items {
		if len(it.Server) == 0 {
			return nil, fmt.Errorf("servers[%d] has no \"server\"", i)
		}
		e, err := upstream.NewEntry(it.Server, it.Meta)
		if err != nil {
			// One bad record must not take the whole source down: skip it.
			// Counted in the answer, so that nothing serves it as complete.
			if firstBad == nil {
				firstBad = fmt.Errorf("servers[%d]: %w", i, err)
			}
			out.Dropped++
			out.DropReason = upstream.DropInvalid
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	if firstBad != nil {
		// One line per page, not per record: a page of bad records must not
		// turn into a log line each (the page cache bounds how often).
		c.o.Logger.Warn("skipping invalid upstream entries", "source", c.o.Source, "skipped", out.Dropped, "first", firstBad)
	}
	// A registry that does not send the official block gets it derived,
	// dated upstream.UndatedTime: never when this process first saw it, so
	// replicas and restarts agree.
	upstream.Finalize(out.Entries, time.Time{})
	upstream.Seal(c.o.Source, out.Entries)
	return out, nil
}
