package federate

import (
	"context"

	"github.com/mcpfed/mcpfed/upstream"
)

// maxCuratedPages bounds the walk behind one version=latest page of a
// curated view (pages of MaxLimit admitted entries).
const maxCuratedPages = 1000

// curatedLatest answers version=latest for a curated view. A source's
// latest version may be one the view does not admit (a release not
// approved yet), so the latest is picked among the versions the view
// admits: the view's admitted versions are walked in name order, each
// name's latest kept, and the page cut by name. Curated views hold what
// reviewers approved — hundreds or thousands of versions, not the
// sources' hundred thousand — and answers are cached per curation
// generation, so the walk is affordable.
func (e *Engine) curatedLatest(ctx context.Context, q Query, view *View) (*Page, error) {
	fp := q.fingerprint(view.identity())
	var after string
	if q.Cursor != "" {
		c, err := e.cursors.decode(q.Cursor, fp)
		if err != nil {
			return nil, err
		}
		after = c.Name
	}
	all := q
	all.Version, all.Cursor, all.Limit = "", "", MaxLimit
	var (
		rep   Report
		out   []*upstream.Entry
		group []*upstream.Entry
		more  bool
	)
	flush := func() {
		if len(group) == 0 {
			return
		}
		if best := upstream.LatestOf(group); best != nil && best.Name > after {
			out = append(out, best)
		}
		group = group[:0]
	}
	for pages := 0; ; pages++ {
		if pages == maxCuratedPages {
			e.logger.Warn("curated view larger than a latest walk covers: the answer stops early", "view", view.name(), "pages", pages)
			rep.drop(view.name())
			break
		}
		page, err := e.List(ctx, all, view)
		if err != nil {
			return nil, err
		}
		rep.merge(page.Report)
		for _, en := range page.Entries {
			if len(group) > 0 && group[0].Name != en.Name {
				flush()
				if len(out) > q.Limit {
					more = true
					break
				}
			}
			group = append(group, en)
		}
		if more || page.NextCursor == "" {
			break
		}
		all.Cursor = page.NextCursor
	}
	if !more {
		flush()
	}
	res := &Page{Report: rep}
	if len(out) > q.Limit {
		out = out[:q.Limit]
		last := out[len(out)-1]
		res.NextCursor = e.cursors.encode(cursor{V: cursorVersion, Q: fp, Name: last.Name, Version: last.Version, Owner: last.Source})
	}
	res.Entries = out
	return res, nil
}
