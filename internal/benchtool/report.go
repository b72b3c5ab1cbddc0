package main

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// printer writes one line of the report (format and args as fmt.Printf's,
// a newline added).
type printer func(format string, args ...any)

// markdown is the report: the run and the machine, the targets table (each
// section's rows, in suite order), each section's tables, the profiles.
func (r *results) markdown() string {
	var b bytes.Buffer
	var p printer = func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Benchmark results")
	p("")
	p("## Performance")
	p("")
	p("Measured by `make bench` (`scripts/bench`, which runs `go run ./internal/benchtool`), %s, in %s.",
		r.started.UTC().Format("2006-01-02 15:04 MST"), r.took.Round(time.Second))
	if r.cfg.quick {
		p("This was a **-quick** run: shorter rounds, fewer samples.")
	}
	p("")
	p("| machine | |")
	p("|---|---|")
	for _, m := range r.machine {
		p("| %s | %s |", m[0], m[1])
	}
	p("")
	p("Everything runs on this one machine over loopback: wrk, the Caddy processes, the upstream and")
	p("Redis share its cores, so the figures are lower bounds of what separate machines would show,")
	p("and they move by several per cent from run to run when other work shares the machine.")
	p("")

	p("### Targets (issue 5)")
	p("")
	p("| figure | target | measured | |")
	p("|---|---|---|---|")
	for _, s := range sections {
		if s.targets != nil {
			s.targets(r, p)
		}
	}
	p("")
	for _, s := range sections {
		if s.report != nil {
			s.report(r, p)
		}
	}
	for _, pr := range r.profiles {
		p("### Profile: %s", pr.why)
		p("")
		p("`%s`", pr.command)
		p("")
		p("```")
		b.WriteString(strings.TrimRight(pr.top, "\n") + "\n")
		p("```")
		p("")
	}
	return b.String()
}

// us formats a duration in whole microseconds.
func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
}

// ratio2 and ratio3 format a ratio with 2 and 3 decimals.
func ratio2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func ratio3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// usf is us with one decimal.
func usf(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + " µs"
}

// ms formats a duration in milliseconds, two decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// count formats a revocation count with spaces between thousands (10 000).
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + " 000 000"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + " 000"
	}
	return strconv.Itoa(n)
}

// verdict is "met" or a bold "missed".
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// spreadVerdict is verdict for a median over rounds, saying "within noise"
// when the rounds fall on both sides of the target.
func spreadVerdict(ok bool, rounds []float64, meets func(float64) bool) string {
	some, all := false, true
	for _, v := range rounds {
		some = some || meets(v)
		all = all && meets(v)
	}
	if some && !all {
		return verdict(ok) + " (rounds on both sides: within noise)"
	}
	return verdict(ok)
}

// spread formats the smallest and largest of the per-round values.
func spread(rounds []float64, format func(float64) string) string {
	if len(rounds) == 0 {
		return ""
	}
	s := append([]float64(nil), rounds...)
	sort.Float64s(s)
	return " (rounds: " + format(s[0]) + " to " + format(s[len(s)-1]) + ")"
}
