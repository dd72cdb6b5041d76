package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestWiredSourceInIndexMode: a live source whose upstream sorts with a
// language-aware collation, configured with order: upstream, is loaded as
// its index (check, readiness), answers every list completely in byte
// order, can be resynced, and the sources endpoint says which mode it is in.
func TestWiredSourceInIndexMode(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	names := []string{"io.github.acme/Zeta", "io.github.acme/a-b", "io.github.acme/a_b", "io.github.acme/a.b", "io.github.acme/alpha", "io.github.acme/a10", "io.github.acme/a9"}
	var entries []json.RawMessage
	for _, n := range names {
		entries = append(entries, upstreamtest.CollatedEntry(n, "1.0.0", upstreamtest.Official{PublishedAt: at, UpdatedAt: at, IsLatest: true}))
	}
	up := upstreamtest.ServeCollated(t, entries)
	cfg, err := loadConfig(vars("MCPFED_SOURCES", `[{"name":"coll","kind":"api","url":"`+up.URL+`","order":"upstream","required":true}]`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := g.loadAll(ctx)[0]
	if st.State() != "ok" || st.Entries != len(names) || st.Order != "index" {
		t.Fatalf("status after load: %+v", st)
	}
	srv := httptest.NewServer(g.handler)
	defer srv.Close()

	var got []string
	resp, err := http.Get(srv.URL + "/v0.1/servers?limit=3")
	for page := 0; ; page++ {
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Servers []struct {
				Server struct{ Name string } `json:"server"`
			} `json:"servers"`
			Metadata struct{ NextCursor string } `json:"metadata"`
		}
		if resp.Header.Get("X-Federation-Complete") != "true" {
			t.Fatalf("page %d incomplete: %v", page, resp.Header)
		}
		_ = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		for _, s := range list.Servers {
			got = append(got, s.Server.Name)
		}
		if list.Metadata.NextCursor == "" {
			break
		}
		resp, err = http.Get(srv.URL + "/v0.1/servers?limit=3&cursor=" + list.Metadata.NextCursor)
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("walk = %v\nwant   %v", got, want)
	}

	rep, err := g.resync(ctx, "coll")
	if err != nil || rep.Order != "index" || rep.Entries != len(names) {
		t.Fatalf("resync = %+v, %v", rep, err)
	}
	resp, err = http.Get(srv.URL + "/v0.1" + federate.ExtensionPath + "/sources")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var sources struct {
		Sources []federate.SourceReport `json:"sources"`
	}
	if err := json.Unmarshal(body, &sources); err != nil || len(sources.Sources) != 1 || sources.Sources[0].Order != "index" {
		t.Fatalf("sources endpoint: %s (%v)", body, err)
	}
}
