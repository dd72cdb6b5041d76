package filter

import (
	"errors"
	"fmt"
	"slices"
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

// Admits reports whether source may serve name: true unless another
// source reserves a pattern that matches it.
func (r *Reservations) Admits(source, name string) bool {
	if r == nil {
		return true
	}
	return !slices.ContainsFunc(r.patterns, func(res reservation) bool {
		return res.source != source && MatchGlob(res.pattern, name)
	})
}
