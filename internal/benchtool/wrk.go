package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	RPS       float64
	CPUPerReq time.Duration // CPU time of the measured Caddy process per request, when taken
	P50, P99  time.Duration
	Requests  int
	Non2xx    int
	Errors    string
}

// The lines of wrk's output that runWrk reads.
var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkTotal   = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors:.*`)
)

// runWrk runs wrk (one thread, conns connections, for d, with latency
// percentiles and args such as -H or -s) against target.
func runWrk(target string, d time.Duration, conns int, args ...string) (wrkResult, error) {
	argv := append([]string{"-t1", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}, args...)
	argv = append(argv, target)
	out, err := exec.Command("wrk", argv...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	var r wrkResult
	if m := wrkRPS.FindSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range wrkPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		if string(m[1]) == "50" {
			r.P50 = time.Duration(v * float64(unit))
		} else {
			r.P99 = time.Duration(v * float64(unit))
		}
	}
	if m := wrkTotal.FindSubmatch(out); m != nil {
		r.Requests, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkSockErr.Find(out); m != nil {
		r.Errors = string(m)
	}
	if r.RPS == 0 {
		return r, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	return r, nil
}
