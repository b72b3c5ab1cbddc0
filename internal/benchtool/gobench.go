package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// goBench is one benchmark's line: its name and its figures by unit
// (ns/op, B/op, allocs/op, and custom ones such as load-s).
type goBench struct {
	name    string
	figures map[string]float64
}

// benchLine is one result line of `go test -bench`: the name (without
// the -GOMAXPROCS suffix) and its figures.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// goBenchmarks runs `go test -bench` and returns, per benchmark, the median
// of each figure over count runs.
func goBenchmarks(pkg, pattern, benchtime string, count int) ([]goBench, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", pattern, "-benchmem",
		"-benchtime", benchtime, "-count", strconv.Itoa(count), pkg)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %v\n%s", pattern, pkg, err, b)
	}
	runs := map[string]map[string][]float64{}
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		if runs[m[1]] == nil {
			runs[m[1]] = map[string][]float64{}
			order = append(order, m[1])
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				runs[m[1]][f[i+1]] = append(runs[m[1]][f[i+1]], v)
			}
		}
	}
	var out []goBench
	for _, name := range order {
		gb := goBench{name: name, figures: map[string]float64{}}
		for unit, vs := range runs[name] {
			gb.figures[unit] = median(vs)
		}
		out = append(out, gb)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("go test -bench %s %s printed no benchmark:\n%s", pattern, pkg, b)
	}
	return out, nil
}

// goBenchtime is the -benchtime of the Go benchmark sections: 1s, 300ms
// with -quick.
func (c config) goBenchtime() string {
	if c.quick {
		return "300ms"
	}
	return "1s"
}

// median of vs (0 when empty); vs is left unsorted.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// findBench returns the benchmark called name among bs.
func findBench(bs []goBench, name string) (goBench, bool) {
	for _, b := range bs {
		if b.name == name {
			return b, true
		}
	}
	return goBench{}, false
}
