package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
)

// ScenarioResult is everything one scenario measured.
type ScenarioResult struct {
	Name      string         `json:"name"`
	Title     string         `json:"title"`
	Seconds   float64        `json:"seconds"`
	Runs      []*Result      `json:"runs"`
	Processes []ProcStats    `json:"processes"`
	Upstreams []UpstreamStat `json:"upstreams"`
	Samples   []Sample       `json:"samples,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
	Targets   []Target       `json:"targets"`
	Error     string         `json:"error,omitempty"`
}

// UpstreamStat is how many requests one fake upstream received in a phase.
type UpstreamStat struct {
	Phase    string `json:"phase"`
	Upstream string `json:"upstream"`
	Requests int    `json:"requests"`
	// Pages counts requests per normalised path and query, where useful.
	Pages map[string]int `json:"pages,omitempty"`
}

// Sample is a periodic reading of mcpfed during a long run.
type Sample struct {
	AtSec      float64 `json:"atSec"`
	RSSMB      float64 `json:"rssMB"`
	Goroutines float64 `json:"goroutines"`
	FDs        int     `json:"fds"`
	Requests   int64   `json:"requests"`
}

// Target is one goal with its verdict: PASS, MISS, or INFO (no goal, a
// number worth reading).
type Target struct {
	Name    string `json:"name"`
	Want    string `json:"want"`
	Got     string `json:"got"`
	Verdict string `json:"verdict"`
}

func (sr *ScenarioResult) target(name, want, got string, pass bool) {
	v := "MISS"
	if pass {
		v = "PASS"
	}
	sr.Targets = append(sr.Targets, Target{Name: name, Want: want, Got: got, Verdict: v})
}

func (sr *ScenarioResult) info(name, got string) {
	sr.Targets = append(sr.Targets, Target{Name: name, Want: "-", Got: got, Verdict: "INFO"})
}

func (sr *ScenarioResult) note(format string, args ...any) {
	sr.Notes = append(sr.Notes, fmt.Sprintf(format, args...))
}

// fmtMs prints milliseconds with sensible precision.
func fmtMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

func fmtSecs(window, tail float64) string {
	if tail >= 0.05 {
		return fmt.Sprintf("%.1f+%.1f", window, tail)
	}
	return fmt.Sprintf("%.1f", window)
}

func countsString(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func printScenario(w io.Writer, sr *ScenarioResult) {
	if len(sr.Runs) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "run\tclients\tsecs(+tail)\trequests\treq/s\tp50\tp90\tp99\tmax\terrors\t5xx\tstatus\tanswers(200)\tcores srv/load/other")
		for _, r := range sr.Runs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%.2f/%.2f/%.2f\n",
				r.Label, r.Clients, fmtSecs(r.Seconds, r.TailSeconds), r.Requests, r.Throughput,
				fmtMs(r.P50Ms), fmtMs(r.P90Ms), fmtMs(r.P99Ms), fmtMs(r.MaxMs),
				r.ErrorsTotal, r.Status5xx, countsString(r.Status), countsString(r.Answers),
				r.ServerCores, r.LoadCores, r.OtherCores)
		}
		tw.Flush()
		for _, r := range sr.Runs {
			for _, k := range sortedKeys(r.Errors) {
				fmt.Fprintf(w, "  %s: %d %s errors, e.g. %s\n", r.Label, r.Errors[k], k, r.ErrorSample[k])
			}
			if r.BadBodies > 0 {
				fmt.Fprintf(w, "  %s: %d answers with unexpected bodies\n", r.Label, r.BadBodies)
			}
		}
		hasClasses := false
		for _, r := range sr.Runs {
			hasClasses = hasClasses || len(r.Classes) > 0
		}
		if hasClasses {
			fmt.Fprintln(w, "by request class:")
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  run\tclass\trequests\tp50\tp90\tp99\tmax")
			for _, r := range sr.Runs {
				for _, k := range sortedKeys(r.Classes) {
					c := r.Classes[k]
					fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Label, k, c.Requests,
						fmtMs(c.P50Ms), fmtMs(c.P90Ms), fmtMs(c.P99Ms), fmtMs(c.MaxMs))
				}
			}
			tw.Flush()
		}
	}
	if len(sr.Upstreams) > 0 {
		fmt.Fprintln(w, "requests received by the fake upstreams:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  phase\tupstream\trequests\tper path and query")
		for _, u := range sr.Upstreams {
			pages := "-"
			if len(u.Pages) > 0 {
				var parts []string
				for _, k := range sortedKeys(u.Pages) {
					parts = append(parts, fmt.Sprintf("%s ×%d", k, u.Pages[k]))
				}
				pages = strings.Join(parts, "; ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", u.Phase, u.Upstream, u.Requests, pages)
		}
		tw.Flush()
	}
	if len(sr.Processes) > 0 {
		fmt.Fprintln(w, "server processes:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  process\tpeak RSS\tRSS at end\tCPU\tlog lines\tgraceful stop")
		for _, p := range sr.Processes {
			stop := "-" // measured while running
			switch {
			case p.StopSec >= 0:
				stop = fmt.Sprintf("%.2fs", p.StopSec)
			case p.StopSec == stopFailed:
				stop = "failed"
			}
			fmt.Fprintf(tw, "  %s\t%.1f MB\t%.1f MB\t%.2fs\t%d\t%s\n", p.Name, p.PeakRSSMB, p.RSSMB, p.CPUSec, p.LogLines, stop)
		}
		tw.Flush()
	}
	if len(sr.Samples) > 0 {
		fmt.Fprintln(w, "samples of mcpfed during the run:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  t\tRSS\tgoroutines\tfds\trequests so far")
		for _, s := range sr.Samples {
			fmt.Fprintf(tw, "  %.0fs\t%.1f MB\t%.0f\t%d\t%d\n", s.AtSec, s.RSSMB, s.Goroutines, s.FDs, s.Requests)
		}
		tw.Flush()
	}
	for _, n := range sr.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if len(sr.Targets) > 0 {
		fmt.Fprintln(w, "targets:")
		printTargets(w, "", []*ScenarioResult{sr})
	}
	if sr.Error != "" {
		fmt.Fprintln(w, "ERROR:", sr.Error)
	}
	fmt.Fprintf(w, "(scenario took %.1fs)\n", sr.Seconds)
}

func printTargets(w io.Writer, indent string, srs []*ScenarioResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s  scenario\ttarget\twant\tmeasured\tverdict\n", indent)
	for _, sr := range srs {
		for _, t := range sr.Targets {
			fmt.Fprintf(tw, "%s  %s\t%s\t%s\t%s\t%s\n", indent, sr.Name, t.Name, t.Want, t.Got, t.Verdict)
		}
		if sr.Error != "" {
			fmt.Fprintf(tw, "%s  %s\t(scenario failed)\t-\t%s\tERROR\n", indent, sr.Name, firstLine(sr.Error))
		}
	}
	tw.Flush()
}

func printSummary(w io.Writer, rep *Report) {
	fmt.Fprintln(w, "\n=== summary ===")
	printTargets(w, "", rep.Scenarios)
	pass, miss := 0, 0
	for _, sr := range rep.Scenarios {
		for _, t := range sr.Targets {
			switch t.Verdict {
			case "PASS":
				pass++
			case "MISS":
				miss++
			}
		}
	}
	fmt.Fprintf(w, "%d PASS, %d MISS\n", pass, miss)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func goVersion() string { return runtime.Version() }

func numCPU() int { return runtime.NumCPU() }
