package upstreamtest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestFaultNoProgress: every page carries a cursor never seen before that
// leads to the same entries again.
func TestFaultNoProgress(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	first := list(t, r, "/v0.1/servers?limit=3")
	r.Inject(upstreamtest.Fault{NoProgress: true, Match: func(req *http.Request) bool { return req.URL.Query().Get("cursor") != "" }})
	cursor := *first.Metadata.NextCursor
	var page listBody
	seen := map[string]bool{cursor: true}
	for i := range 5 {
		page = list(t, r, "/v0.1/servers?limit=3&cursor="+url.QueryEscape(cursor))
		if page.Metadata.NextCursor == nil || seen[*page.Metadata.NextCursor] {
			t.Fatalf("page %d: nextCursor %v, want a new one", i+2, page.Metadata.NextCursor)
		}
		if len(page.Servers) != 3 || page.Servers[0].key() != "com.example/f03@1.0.0" {
			t.Fatalf("page %d starts at %v, want the second page again", i+2, page.Servers)
		}
		cursor = *page.Metadata.NextCursor
		seen[cursor] = true
	}
	// A cursor of the fault's, tampered with, is still refused.
	wantProblem(t, get(t, r, "/v0.1/servers?cursor=cjEu"), http.StatusBadRequest)
}

// TestFaultEndless: pages of fresh, valid versions without end, as large
// as asked.
func TestFaultEndless(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	r.Inject(upstreamtest.Fault{Endless: true, EndlessPad: 1000})
	seen := map[string]bool{}
	cursor := ""
	for i := range 4 {
		q := "/v0.1/servers?limit=50"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		res := get(t, r, q)
		if len(res.body) < 50*1000 {
			t.Errorf("page %d is %d bytes, want the padding", i+1, len(res.body))
		}
		doc, err := upstream.Parse(res.body)
		if err != nil {
			t.Fatalf("page %d: %v", i+1, err)
		}
		if len(doc.Entries) != 50 {
			t.Fatalf("page %d holds %d entries", i+1, len(doc.Entries))
		}
		for _, e := range doc.Entries {
			if seen[e.Name] {
				t.Fatalf("page %d repeats %s", i+1, e.Name)
			}
			seen[e.Name] = true
		}
		page := decode[listBody](t, res)
		if page.Metadata.NextCursor == nil {
			t.Fatalf("page %d has no nextCursor", i+1)
		}
		cursor = *page.Metadata.NextCursor
	}
	if !seen[fmt.Sprintf("%s/s%09d", upstreamtest.EndlessNamespace, 199)] {
		t.Error("four pages of 50 did not reach the 200th server")
	}
}

// TestFaultHugeRetryAfter: Retry-After values are sent as given, however
// large, for clients' parsing to be tested.
func TestFaultHugeRetryAfter(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	for _, ra := range []string{"999999999", "99999999999999999999999", "-1", "soon"} {
		r.Inject(upstreamtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: ra, Times: 1})
		res := get(t, r, "/v0.1/servers")
		wantProblem(t, res, http.StatusTooManyRequests)
		if got := res.header.Get("Retry-After"); got != ra {
			t.Errorf("Retry-After %q, want %q", got, ra)
		}
	}
}
