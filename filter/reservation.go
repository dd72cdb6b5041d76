package filter

import (
	"errors"
	"fmt"
	"strings"
)

// Reservations records the namespaces each source reserves. An entry whose
// name matches a pattern reserved by another source is never served, so a
// public registry cannot shadow or spoof an organisation's namespace.
type Reservations struct {
	patterns []reservation
}

type reservation struct {
	source  string
	pattern string
}

// NewReservations validates the patterns of every source (source name to
// patterns). The same pattern reserved by two sources is an error.
func NewReservations(bySource map[string][]string, order []string) (*Reservations, error) {
	r := &Reservations{}
	owner := map[string]string{}
	var errs []error
	for _, src := range order {
		for _, p := range bySource[src] {
			if err := ValidateGlob(p); err != nil {
				errs = append(errs, fmt.Errorf("source %q: namespaces: %w", src, err))
				continue
			}
			if strings.Count(p, "/") != 1 {
				// It could never match a server name: a reservation that
				// reserves nothing is a mistake, not a rule to keep.
				errs = append(errs, fmt.Errorf("source %q: namespaces: %q reserves no server name: names are namespace/name, so write a pattern such as \"com.acme/*\" (a kubernetes source's cluster namespaces are watchNamespaces)", src, p))
				continue
			}
			if prev, ok := owner[p]; ok && prev != src {
				errs = append(errs, fmt.Errorf("source %q: namespace %q is already reserved by source %q", src, p, prev))
				continue
			}
			owner[p] = src
			r.patterns = append(r.patterns, reservation{source: src, pattern: p})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Admits reports whether source may serve name: true when the source
// itself reserves a matching pattern, false when only other sources do,
// true when nobody reserves it. Two sources with overlapping patterns
// (com.acme/* and com.acme/special) may both serve the overlap; priority
// then decides as for any shared name.
func (r *Reservations) Admits(source, name string) bool {
	if r == nil {
		return true
	}
	reservedElsewhere := false
	for _, res := range r.patterns {
		if !MatchGlob(res.pattern, name) {
			continue
		}
		if res.source == source {
			return true
		}
		reservedElsewhere = true
	}
	return !reservedElsewhere
}

// Among returns the reservations of the named sources only: a view over
// some of the sources decides reservations among them, so a pattern
// reserved by a source outside the view bars nobody in it. A nil
// receiver, or every source named, returns the receiver itself.
func (r *Reservations) Among(sources []string) *Reservations {
	if r == nil {
		return nil
	}
	in := make(map[string]bool, len(sources))
	for _, s := range sources {
		in[s] = true
	}
	out := &Reservations{}
	for _, res := range r.patterns {
		if in[res.source] {
			out.patterns = append(out.patterns, res)
		}
	}
	if len(out.patterns) == len(r.patterns) {
		return r
	}
	return out
}
