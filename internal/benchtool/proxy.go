package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// proxySection measures what the handler costs a proxied request: plain
// reverse_proxy, token_revocation in mirror mode and in direct Redis mode,
// each its own Caddy in front of one upstream, driven by wrk in
// interleaved rounds at each live revocation count of -sizes.
var proxySection = section{
	name: "proxy",
	run: func(env *bench, c config, res *results) error {
		var err error
		res.proxy, err = env.proxyOverhead(c)
		return err
	},
	targets: proxyTargets,
	report:  proxyReport,
}

// variants are the gateways compared, plain (the baseline) first.
var variants = []string{"plain", "mirror", "direct"}

// proxyScenario is what the proxy section measured at one live
// revocation count.
type proxyScenario struct {
	entries int
	runs    map[string][]wrkResult // by variant, one per round: saturated, many connections
	lat     map[string][]wrkResult // by variant, one per round: one connection, no queueing
	preload time.Duration
	// ratio medians over rounds (each round's figure over the same round's plain)
	rpsRatio, p50Ratio, p99Ratio map[string]float64
	latAddedP50, latAddedP99     map[string]time.Duration
	cpuRatio                     map[string]float64
	mirrorOverDirect             float64
	// per-round values behind the medians, for their spread
	rpsRatios, latAdded99s, mOverDs map[string][]float64
	anomalies                       []string
	rssMirror, rssDirect            int64
}

// benchToken is the not-revoked bearer token every request carries: a
// Keycloak-like JWT (unsigned: the check never verifies signatures).
func benchToken() string {
	b64 := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{
		"exp": time.Now().Add(3 * time.Hour).Unix(), "iat": time.Now().Unix(),
		"jti": "1f0c3c3e-5e7a-4d8e-9a43-5b4f3c8d2a11", "iss": "https://idp.example.com/realms/demo",
		"aud": "account", "sub": "6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f", "typ": "Bearer",
		"sid": "0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "scope": "openid profile email",
		"preferred_username": "alice", "email": "alice@example.com",
	})
	return b64([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." + b64(claims) + ".c2lnbmF0dXJl"
}

// proxyOverhead runs the proxy section: one Redis, one upstream, the
// plain gateway, and per revocation count a mirror and a direct one.
func (b *bench) proxyOverhead(c config) ([]proxyScenario, error) {
	r, err := b.startRedis("redis-proxy")
	if err != nil {
		return nil, err
	}
	up, err := b.startCaddy("upstream", upstreamSite)
	if err != nil {
		return nil, err
	}
	plain, err := b.startCaddy("plain", fmt.Sprintf("http://127.0.0.1:%%d {\n\treverse_proxy 127.0.0.1:%d\n}", up.port))
	if err != nil {
		return nil, err
	}
	auth := []string{"-H", "Authorization: Bearer " + benchToken()}
	var out []proxyScenario
	for _, n := range c.sizes {
		s := proxyScenario{entries: n, runs: map[string][]wrkResult{}, lat: map[string][]wrkResult{}}
		logf("proxy overhead, %d live revocations: preloading redis", n)
		if s.preload, err = r.preload(n); err != nil {
			return nil, err
		}
		mirror, err := b.startCaddy(fmt.Sprintf("mirror-%d", n), fmt.Sprintf(gatewaySite, r.addr, "mirror", up.port))
		if err != nil {
			return nil, err
		}
		direct, err := b.startCaddy(fmt.Sprintf("direct-%d", n), fmt.Sprintf(gatewaySite, r.addr, "direct", up.port))
		if err != nil {
			return nil, err
		}
		servers := map[string]*caddyServer{"plain": plain, "mirror": mirror, "direct": direct}
		for _, v := range variants { // warm up: connections, JIT-free but caches and pools
			if _, err := runWrk(servers[v].url("/"), time.Second, c.conns, auth...); err != nil {
				return nil, err
			}
		}
		for round := 0; round < c.rounds; round++ {
			// Each round starts with another variant, so that none is
			// always first (or always after the same one).
			order := append(append([]string(nil), variants[round%3:]...), variants[:round%3]...)
			for _, v := range order {
				logf("proxy overhead, %d live revocations: round %d/%d, %s", n, round+1, c.rounds, v)
				cpu := servers[v].cpuTime()
				res, err := runWrk(servers[v].url("/api/items"), c.round, c.conns, auth...)
				if err != nil {
					return nil, err
				}
				if res.Requests > 0 {
					res.CPUPerReq = (servers[v].cpuTime() - cpu) / time.Duration(res.Requests)
				}
				s.noteAnomaly(v, "throughput", round+1, res, servers[v])
				s.runs[v] = append(s.runs[v], res)
			}
			for _, v := range order {
				logf("proxy overhead, %d live revocations: round %d/%d, %s, one connection", n, round+1, c.rounds, v)
				res, err := runWrk(servers[v].url("/api/items"), c.latRound, 1, auth...)
				if err != nil {
					return nil, err
				}
				s.noteAnomaly(v, "latency", round+1, res, servers[v])
				s.lat[v] = append(s.lat[v], res)
			}
		}
		s.rssMirror, s.rssDirect = mirror.rssBytes(), direct.rssBytes()
		s.summarize()
		out = append(out, s)
		b.remove(mirror.proc)
		b.remove(direct.proc)
	}
	b.remove(plain.proc)
	b.remove(up.proc)
	b.remove(r.proc)
	return out, nil
}

// noteAnomaly records a run in which a request was not answered 2xx in
// time (wrk's socket errors include requests over its 2s timeout): the
// token should always pass. The run still counts; the report lists it.
func (s *proxyScenario) noteAnomaly(variant, run string, round int, res wrkResult, c *caddyServer) {
	if res.Non2xx == 0 && res.Errors == "" {
		return
	}
	a := fmt.Sprintf("%s revocations, %s, %s run of round %d: %d non-2xx answers; %s", count(s.entries), variant, run, round, res.Non2xx, res.Errors)
	s.anomalies = append(s.anomalies, a)
	logf("ANOMALY: %s; the %s log ends:\n%s", a, variant, c.logTail())
}

// summarize computes the ratios and added latencies against plain, round
// by round, and their medians.
func (s *proxyScenario) summarize() {
	s.rpsRatio, s.p50Ratio, s.p99Ratio = map[string]float64{}, map[string]float64{}, map[string]float64{}
	s.latAddedP50, s.latAddedP99 = map[string]time.Duration{}, map[string]time.Duration{}
	s.cpuRatio = map[string]float64{}
	s.rpsRatios, s.latAdded99s, s.mOverDs = map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	var mOverD []float64
	for _, v := range variants[1:] {
		var cpu []float64
		for i := range s.runs[v] {
			if base := s.runs["plain"][i].CPUPerReq; base > 0 {
				cpu = append(cpu, float64(s.runs[v][i].CPUPerReq)/float64(base))
			}
		}
		s.cpuRatio[v] = median(cpu)
		var lat50, lat99 []float64
		for i := range s.lat[v] {
			lat50 = append(lat50, float64(s.lat[v][i].P50-s.lat["plain"][i].P50))
			lat99 = append(lat99, float64(s.lat[v][i].P99-s.lat["plain"][i].P99))
		}
		s.latAddedP50[v], s.latAddedP99[v] = time.Duration(median(lat50)), time.Duration(median(lat99))
		s.latAdded99s[v] = lat99
		var rps, p50, p99 []float64
		for i := range s.runs[v] {
			base := s.runs["plain"][i]
			got := s.runs[v][i]
			rps = append(rps, got.RPS/base.RPS)
			p50 = append(p50, float64(got.P50)/float64(base.P50))
			p99 = append(p99, float64(got.P99)/float64(base.P99))
			if v == "mirror" {
				mOverD = append(mOverD, got.RPS/s.runs["direct"][i].RPS)
			}
		}
		s.rpsRatio[v], s.p50Ratio[v], s.p99Ratio[v] = median(rps), median(p50), median(p99)
		s.rpsRatios[v] = rps
	}
	s.mirrorOverDirect = median(mOverD)
	s.mOverDs["mirror"] = mOverD
}

// medianOf is the median of f over runs.
func medianOf(runs []wrkResult, f func(wrkResult) float64) float64 {
	var vs []float64
	for _, r := range runs {
		vs = append(vs, f(r))
	}
	return median(vs)
}

// proxyTargets writes issue 5's targets for the proxy: throughput and
// added p99 latency of mirror mode against plain, and mirror against direct,
// at each non-zero revocation count.
func proxyTargets(r *results, p printer) {
	for _, s := range r.proxy {
		if s.entries == 0 {
			continue
		}
		meets := func(v float64) bool { return v >= 0.97 }
		p("| throughput, mirror / plain reverse_proxy, %s revocations | ≥ 0.97 | %.3f%s | %s |", count(s.entries), s.rpsRatio["mirror"],
			spread(s.rpsRatios["mirror"], ratio3), spreadVerdict(meets(s.rpsRatio["mirror"]), s.rpsRatios["mirror"], meets))
	}
	for _, s := range r.proxy {
		if s.entries == 0 {
			continue
		}
		meets := func(v float64) bool { return v <= float64(100*time.Microsecond) }
		p("| added p99 latency, mirror mode, %s revocations (one connection) | ≤ 100 µs | %s%s | %s |", count(s.entries), us(s.latAddedP99["mirror"]),
			spread(s.latAdded99s["mirror"], func(v float64) string { return us(time.Duration(v)) }),
			spreadVerdict(meets(float64(s.latAddedP99["mirror"])), s.latAdded99s["mirror"], meets))
	}
	for _, s := range r.proxy {
		if s.entries == 0 {
			continue
		}
		meets := func(v float64) bool { return v >= 1.3 }
		p("| throughput, mirror / direct Redis mode, %s revocations | ≥ 1.3 | %.2f%s | %s |", count(s.entries), s.mirrorOverDirect,
			spread(s.mOverDs["mirror"], ratio2), spreadVerdict(meets(s.mirrorOverDirect), s.mOverDs["mirror"], meets))
	}
}

// proxyReport writes the proxy overhead table, the anomalies, and the
// resident memory at a million revocations.
func proxyReport(r *results, p printer) {
	if len(r.proxy) == 0 {
		return
	}
	p("### Proxy overhead")
	p("")
	p("Three Caddy processes of the same binary in front of one upstream (a fourth Caddy, `respond`):")
	p("plain `reverse_proxy`; `token_revocation` in mirror mode (the default); in direct Redis mode")
	p("(`check_mode direct`). Each request carries a not-revoked JWT (Keycloak-like: 4 denylist keys).")
	p("%d interleaved rounds per revocation count (plain, mirror, direct; each round starts with the", r.cfg.rounds)
	p("next variant), each a throughput run (wrk, 1 thread, %d connections, %s: the machine", r.cfg.conns, r.cfg.round)
	p("saturated) and a latency run")
	p("(wrk, 1 connection, %s: no queueing, so the latency the handler adds shows). Ratios and added", r.cfg.latRound)
	p("latencies are the median over rounds of each round's figure against the same round's plain run.")
	p("CPU/request is the CPU time the gateway process (plain or token_revocation) used during the")
	p("throughput run divided by the requests it served: the handler's cost, much less disturbed by")
	p("other work on the machine than requests/s (for direct mode it leaves out Redis's own CPU).")
	p("Short rounds keep the whole suite near 8 minutes; many of them, and medians, keep a burst of")
	p("other work from deciding a figure. The targets table gives the spread over rounds. A ratio")
	p("above 1 is not the handler being free: a mirror of many entries makes its process's live heap")
	p("larger, so the collector runs less often per request (GOGC is relative to the live heap).")
	p("")
	p("| live revocations | variant | requests/s | ÷ plain | p50 | p99 | p50 ÷ plain | p99 ÷ plain | CPU/request | ÷ plain | 1 conn. p50 | 1 conn. p99 | added p50 | added p99 |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.proxy {
		for _, v := range variants {
			rps := medianOf(s.runs[v], func(w wrkResult) float64 { return w.RPS })
			p50 := time.Duration(medianOf(s.runs[v], func(w wrkResult) float64 { return float64(w.P50) }))
			p99 := time.Duration(medianOf(s.runs[v], func(w wrkResult) float64 { return float64(w.P99) }))
			l50 := time.Duration(medianOf(s.lat[v], func(w wrkResult) float64 { return float64(w.P50) }))
			l99 := time.Duration(medianOf(s.lat[v], func(w wrkResult) float64 { return float64(w.P99) }))
			cpu := time.Duration(medianOf(s.runs[v], func(w wrkResult) float64 { return float64(w.CPUPerReq) }))
			if v == "plain" {
				p("| %s | %s | %.0f | 1 | %s | %s | 1 | 1 | %s | 1 | %s | %s | | |", count(s.entries), v, rps, us(p50), us(p99), usf(cpu), us(l50), us(l99))
				continue
			}
			p("| %s | %s | %.0f | %.3f | %s | %s | %.2f | %.2f | %s | %.3f | %s | %s | %s | %s |", count(s.entries), v, rps, s.rpsRatio[v],
				us(p50), us(p99), s.p50Ratio[v], s.p99Ratio[v], usf(cpu), s.cpuRatio[v], us(l50), us(l99), us(s.latAddedP50[v]), us(s.latAddedP99[v]))
		}
	}
	p("")
	for _, s := range r.proxy {
		for _, a := range s.anomalies {
			p("Anomaly: %s.", a)
			p("")
		}
	}
	for _, s := range r.proxy {
		if s.entries >= 1_000_000 && s.rssMirror > 0 && s.rssDirect > 0 {
			p("Resident memory with %s revocations: mirror-mode Caddy %d MiB, direct-mode Caddy %d MiB",
				count(s.entries), s.rssMirror>>20, s.rssDirect>>20)
			p("(%.0f bytes per entry at the process level, Go heap headroom included).",
				float64(s.rssMirror-s.rssDirect)/float64(s.entries))
			p("")
		}
	}
}
