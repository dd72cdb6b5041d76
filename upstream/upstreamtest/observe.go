package upstreamtest

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Auth is what the registry demands of every request. The zero value
// demands nothing. When both are set, either is accepted.
type Auth struct {
	// Bearer is the token expected as "Authorization: Bearer <token>".
	Bearer string
	// Username and Password are expected as basic credentials (when
	// Username is non-empty).
	Username, Password string
}

// SetAuth changes what the registry demands, from the next request on.
func (r *Registry) SetAuth(a Auth) {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	r.auth = a
}

func (r *Registry) authorized(req *http.Request) (ok bool, challenge string) {
	r.faultMu.Lock()
	a := r.auth
	r.faultMu.Unlock()
	if a.Bearer == "" && a.Username == "" {
		return true, ""
	}
	if a.Bearer != "" {
		const scheme = "Bearer "
		h := req.Header.Get("Authorization")
		if len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) &&
			subtle.ConstantTimeCompare([]byte(h[len(scheme):]), []byte(a.Bearer)) == 1 {
			return true, ""
		}
		challenge = `Bearer realm="upstreamtest"`
	}
	if a.Username != "" {
		if u, p, ok := req.BasicAuth(); ok && u == a.Username && p == a.Password {
			return true, ""
		}
		challenge = `Basic realm="upstreamtest"`
	}
	return false, challenge
}

// Request is one request the registry received.
type Request struct {
	// Seq numbers requests from 1 in arrival order (it keeps counting
	// across Reset).
	Seq    int
	Time   time.Time // wall-clock arrival time
	Method string
	URL    *url.URL    // as received: Path decoded, RawPath/EscapedPath as sent
	Header http.Header // a copy, Authorization included
	// Key is the normalised path and query this request was counted under.
	Key string
}

// Authorization returns the Authorization header the request carried ("" if none).
func (q Request) Authorization() string { return q.Header.Get("Authorization") }

type observer struct {
	mu     sync.Mutex
	seq    int
	total  int
	counts map[string]int
	paths  map[string]int
	log    []Request
	limit  int
}

// Normalise returns the key requests are counted under: the escaped path
// (prefix included), then the query with parameters sorted by name and
// re-encoded. target may be a path with a query or a full URL, so
// r.Count(r.URL+"/v0.1/servers?limit=5&search=git") works.
func Normalise(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	return normalise(u)
}

func normalise(u *url.URL) string {
	k := u.EscapedPath()
	if q := u.Query(); len(q) > 0 {
		k += "?" + q.Encode()
	}
	return k
}

func (r *Registry) record(req *http.Request) {
	o := &r.obs
	u := *req.URL
	q := Request{Time: time.Now(), Method: req.Method, URL: &u, Header: req.Header.Clone(), Key: normalise(req.URL)}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts, o.paths = make(map[string]int), make(map[string]int)
	}
	o.seq++
	q.Seq = o.seq
	o.total++
	o.counts[q.Key]++
	o.paths[req.URL.EscapedPath()]++
	if o.limit > 0 && len(o.log) >= o.limit {
		// Drop the oldest half at once: amortised O(1) per request.
		o.log = append(o.log[:0], o.log[len(o.log)-o.limit/2:]...)
	}
	o.log = append(o.log, q)
}

// Requests returns how many requests arrived since New or the last Reset
// (every request, faulted and unauthorised ones included).
func (r *Registry) Requests() int {
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	return r.obs.total
}

// Count returns how many requests arrived for a path and query (normalised
// with Normalise, so parameter order does not matter).
func (r *Registry) Count(target string) int {
	k := Normalise(target)
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	return r.obs.counts[k]
}

// CountPath returns how many requests arrived for an escaped path, whatever
// their query.
func (r *Registry) CountPath(path string) int {
	if u, err := url.Parse(path); err == nil {
		path = u.EscapedPath()
	}
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	return r.obs.paths[path]
}

// Log returns the received requests, oldest first (the most recent ones
// only, see WithLogLimit).
func (r *Registry) Log() []Request {
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	out := make([]Request, len(r.obs.log))
	copy(out, r.obs.log)
	return out
}

// Authorizations returns the Authorization header of each logged request,
// in order ("" where there was none).
func (r *Registry) Authorizations() []string {
	log := r.Log()
	out := make([]string, len(log))
	for i, q := range log {
		out[i] = q.Authorization()
	}
	return out
}

// Reset zeroes the counters and empties the log. Faults, auth and data stay.
func (r *Registry) Reset() {
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	r.obs.total = 0
	r.obs.counts, r.obs.paths = nil, nil
	r.obs.log = nil
}
