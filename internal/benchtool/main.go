// Command benchtool runs the benchmark suite of caddy-token-revocation and
// writes its figures, with the machine they were taken on, as Markdown.
// Run it through `make bench` (scripts/bench), which builds the Caddy binary
// and installs wrk when missing:
//
//	scripts/bench              the whole suite (about 8 minutes)
//	scripts/bench -quick       shorter rounds, for trying the suite out
//	scripts/bench -only check  one section (see -h for the names)
//
// The suite is a list of sections (suite.go), run in order:
//
//   - check (check.go): the Go benchmarks of the request check
//     (BenchmarkCheck* in caddymodule: route matching, token extraction,
//     parsing, hashing, the in-memory look-up), ns/op and allocs/op;
//   - proxy (proxy.go): one upstream (Caddy `respond`), and in front of it
//     plain `reverse_proxy`, token_revocation in mirror mode and in direct
//     Redis mode, each its own Caddy process of the same binary; wrk drives
//     them in interleaved rounds (plain, mirror, direct, plain, ...) with a
//     not-revoked JWT, with 0, 10 000 and 1 000 000 live revocations;
//   - propagation (propagation.go): two Caddy instances on one Redis; a
//     token revoked through one, the other polled until it answers 401
//     (from just before the revocation is sent, or from its 2xx);
//   - scale (scale.go): mirror load time and heap per entry at 10^5 and
//     10^6 (BenchmarkMirrorLoad), and revocations/s through the RFC 7009
//     route.
//
// Every process listens on a free loopback port; Redis servers are started
// and stopped by the tool (processes.go, redis.go, caddy.go, wrk.go). The
// figures are measurements, not pass/fail tests: the targets table says
// which targets they meet, and profile.go profiles the Go benchmarks behind
// a missed one. report.go writes the Markdown.
//
// A new benchmark is a new file holding one section value (its run, its
// rows of the targets table, its report) and one line in sections; see
// suite.go and CONTRIBUTING.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is the command line: what to measure and for how long.
type config struct {
	caddy       string
	out         string
	rounds      int
	round       time.Duration
	latRound    time.Duration
	conns       int
	sizes       []int
	revocations int
	quick       bool
	sections    map[string]bool
}

func main() {
	var c config
	var sizes string
	flag.StringVar(&c.caddy, "caddy", "", "the Caddy binary to measure (built from ./cmd/caddy)")
	flag.StringVar(&c.out, "out", "bench/results.md", "where to write the results (Markdown)")
	flag.IntVar(&c.rounds, "rounds", 8, "proxy overhead: rounds of plain, mirror, direct per revocation count")
	flag.DurationVar(&c.round, "round", 2*time.Second, "proxy overhead: length of one throughput run")
	flag.DurationVar(&c.latRound, "latency-round", time.Second, "proxy overhead: length of one latency run (one connection)")
	flag.IntVar(&c.conns, "connections", 16, "proxy overhead: wrk connections (one wrk thread)")
	flag.StringVar(&sizes, "sizes", "0,10000,1000000", "proxy overhead: live revocation counts")
	flag.IntVar(&c.revocations, "revocations", 200, "propagation: revocations measured with each way of polling (during, after)")
	flag.BoolVar(&c.quick, "quick", false, "short rounds and fewer revocations, to try the suite out")
	only := flag.String("only", strings.Join(sectionNames(), ","), "the sections to run")
	flag.Parse()
	c.sections = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		c.sections[strings.TrimSpace(s)] = true
	}
	if c.caddy == "" {
		fatalf("-caddy is required (scripts/bench builds it)")
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fatalf("-sizes: %v", err)
		}
		c.sizes = append(c.sizes, n)
	}
	if c.quick {
		c.rounds, c.round, c.latRound, c.revocations = 3, time.Second, time.Second, 50
	}
	if err := run(c); err != nil {
		fatalf("%v", err)
	}
}

// fatalf prints an error and exits 1.
func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchtool: "+format+"\n", args...)
	os.Exit(1)
}

// logf prints progress on standard error (the report goes to standard
// output and to -out).
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// results collects the figures of the whole suite: one field (or a few)
// per section, which its run fills and its report reads.
type results struct {
	started  time.Time
	took     time.Duration
	machine  [][2]string
	checks   []goBench            // check
	proxy    []proxyScenario      // proxy
	prop     propagation          // propagation
	ssf      ssfLag               // ssf
	live     liveResult           // live
	loads    []goBench            // scale: BenchmarkMirrorLoad
	revokeRS map[string]wrkResult // scale: revocations/s by store mode
	profiles []profile            // profile.go, for the missed targets
	cfg      config

	statusList []goBench // statuslist: BenchmarkStatusListCheck*
	// statusListGlue: caddymodule's BenchmarkCheckJWTStatusList/{off,on},
	// a JWT's whole check without and with status_list.
	statusListGlue []goBench
}

// run runs the selected sections in order, profiles what missed its
// target, and writes the report to standard output and c.out.
func run(c config) error {
	res := &results{started: time.Now(), cfg: c, revokeRS: map[string]wrkResult{}}
	res.machine = machine()
	work, err := os.MkdirTemp("", "trv-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	env := &bench{work: work, caddyBin: c.caddy}
	defer env.stopAll()
	for _, s := range sections {
		if !c.sections[s.name] {
			continue
		}
		if err := s.run(env, c, res); err != nil {
			return err
		}
		env.stopAll()
	}
	res.profileMisses(work)
	res.took = time.Since(res.started)

	md := res.markdown()
	fmt.Print(md)
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s", c.out)
	return nil
}
