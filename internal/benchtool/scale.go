package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// scaleSection measures what grows with the denylist: revocations/s
// through the RFC 7009 route (mirror and direct mode), then the mirror's
// load time and heap per entry (BenchmarkMirrorLoad in denylist).
var scaleSection = section{
	name: "scale",
	run: func(env *bench, c config, res *results) error {
		var err error
		if res.revokeRS, err = env.revocationThroughput(c); err != nil {
			return err
		}
		env.stopAll()
		logf("scale: go test -bench BenchmarkMirrorLoad ./denylist/redisstore")
		res.loads, err = goBenchmarks("./denylist/redisstore", "^BenchmarkMirrorLoad$", "1x", 1)
		return err
	},
	targets: func(r *results, p printer) {
		if l, ok := findBench(r.loads, "BenchmarkMirrorLoad/1000000"); ok {
			p("| memory per live entry at 10^6 | ≤ 64 bytes | %.1f bytes | %s |", l.figures["bytes/entry"], verdict(l.figures["bytes/entry"] <= 64))
			p("| mirror load at start, 10^6 entries | ≤ 2 s | %.2f s | %s |", l.figures["load-s"], verdict(l.figures["load-s"] <= 2))
		}
	},
	report: func(r *results, p printer) {
		if len(r.loads) == 0 {
			return
		}
		p("### Scale")
		p("")
		p("`go test -run '^$' -bench '^BenchmarkMirrorLoad$' -benchtime 1x ./denylist/redisstore`: a mirror opened on a")
		p("Redis holding n live entries; load time (OpenMirror until it returns, loaded and fresh) and the")
		p("Go heap it holds per entry (runtime.MemStats.HeapAlloc after GC, before and after).")
		p("")
		p("| live entries | mirror load | heap per entry |")
		p("|---|---|---|")
		for _, l := range r.loads {
			n, _ := strconv.Atoi(strings.TrimPrefix(l.name, "BenchmarkMirrorLoad/"))
			p("| %s | %.2f s | %.1f bytes |", count(n), l.figures["load-s"], l.figures["bytes/entry"])
		}
		p("")
		p("Revocation endpoint throughput: wrk (1 thread, %d connections, %s) POSTing RFC 7009 revocations", r.cfg.conns, r.cfg.round)
		p("of distinct tokens to one Caddy instance; every one answered 200 once stored in Redis.")
		p("")
		p("| store mode | revocations/s | p50 | p99 |")
		p("|---|---|---|---|")
		for _, mode := range []string{"mirror", "direct"} {
			w := r.revokeRS[mode]
			p("| %s | %.0f | %s | %s |", mode, w.RPS, us(w.P50), us(w.P99))
		}
		p("")
	},
	misses: func(r *results) []profileJob {
		if l, ok := findBench(r.loads, "BenchmarkMirrorLoad/1000000"); ok && l.figures["load-s"] > 2 {
			return []profileJob{{"the mirror load of 10^6 entries missed 2 s", "./denylist/redisstore", "^BenchmarkMirrorLoad$/^1000000$", "1x", "OpenMirror"}}
		}
		return nil
	},
}

// revokeScript is the wrk script POSTing RFC 7009 revocations of distinct
// tokens (%s: the run's id).
const revokeScript = `counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  counter = counter + 1
  return wrk.format(nil, "/oauth/revoke", nil, "token=throughput-%s-" .. counter)
end
`

// revocationThroughput measures revocations/s in mirror and in direct mode.
func (b *bench) revocationThroughput(c config) (map[string]wrkResult, error) {
	r, err := b.startRedis("redis-revocations")
	if err != nil {
		return nil, err
	}
	defer b.remove(r.proc)
	up, err := b.startCaddy("upstream-revocations", upstreamSite)
	if err != nil {
		return nil, err
	}
	defer b.remove(up.proc)
	out := map[string]wrkResult{}
	for _, mode := range []string{"mirror", "direct"} {
		logf("revocation throughput, %s mode", mode)
		g, err := b.startCaddy("revocations-"+mode, fmt.Sprintf(gatewaySite, r.addr, mode, up.port))
		if err != nil {
			return nil, err
		}
		script := filepath.Join(b.work, "revoke-"+mode+".lua")
		if err := os.WriteFile(script, []byte(fmt.Sprintf(revokeScript, runID())), 0o600); err != nil {
			return nil, err
		}
		res, err := runWrk(g.url("/"), c.round, c.conns, "-s", script)
		b.remove(g.proc)
		if err != nil {
			return nil, err
		}
		if res.Non2xx > 0 || res.Errors != "" {
			return nil, fmt.Errorf("revocations in %s mode: %d non-2xx answers, %s", mode, res.Non2xx, res.Errors)
		}
		out[mode] = res
	}
	return out, nil
}
