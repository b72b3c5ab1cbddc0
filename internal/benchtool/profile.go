package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// profile is one CPU profile in the report: why it was taken, the command
// that reproduces it, and pprof's top.
type profile struct {
	why, command, top string
}

// profileJob is a Go benchmark to profile because a target was missed
// (a section's misses).
type profileJob struct {
	why, pkg, bench, benchtime, focus string
}

// profileMisses profiles the Go benchmarks behind the targets the run
// missed (go test -cpuprofile, go tool pprof -top), so the report says
// where the time goes.
func (r *results) profileMisses(work string) {
	for _, s := range sections {
		if s.misses == nil {
			continue
		}
		for _, j := range s.misses(r) {
			if pr, ok := j.run(work); ok {
				r.profiles = append(r.profiles, pr)
			}
		}
	}
}

// run profiles the benchmark in work; a failure is logged, not fatal.
func (j profileJob) run(work string) (profile, bool) {
	prof := filepath.Join(work, "cpu-"+strings.NewReplacer("/", "-", "^", "", "$", "").Replace(j.bench)+".prof")
	args := []string{"test", "-run", "^$", "-bench", j.bench, "-benchtime", j.benchtime, "-cpuprofile", prof, j.pkg}
	logf("profiling: go %s", strings.Join(args, " "))
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		logf("profiling failed: %v\n%s", err, out)
		return profile{}, false
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", "-focus", j.focus, prof).CombinedOutput()
	if err != nil {
		logf("pprof failed: %v\n%s", err, top)
		return profile{}, false
	}
	return profile{
		why:     j.why,
		command: fmt.Sprintf("go test -run '^$' -bench '%s' -benchtime %s -cpuprofile cpu.prof %s && go tool pprof -top -focus '%s' cpu.prof", j.bench, j.benchtime, j.pkg, j.focus),
		top:     string(top),
	}, true
}
