package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// propagationSection measures how soon a revocation made through one
// instance is enforced by another on the same Redis: from the revocation's
// 2xx (issue 14's target), and from sending it (which includes the
// revocation's own round trip).
var propagationSection = section{
	name: "propagation",
	run: func(env *bench, c config, res *results) error {
		var err error
		res.prop, err = env.propagation(c)
		return err
	},
	targets: func(r *results, p printer) {
		if r.prop.n > 0 {
			p("| propagation between instances, revocation's 2xx to the other's 401, p99 | ≤ 1 ms (issue 14) | %s | %s |", ms(r.prop.fromAnswer.p99), verdict(r.prop.fromAnswer.p99 <= time.Millisecond))
			p("| propagation between instances, from sending the revocation to the other's 401 (its own round trip included), p99 | ≤ 10 ms | %s | %s |", ms(r.prop.fromSent.p99), verdict(r.prop.fromSent.p99 <= 10*time.Millisecond))
		}
	},
	report: func(r *results, p printer) {
		if r.prop.n == 0 {
			return
		}
		p("### Propagation")
		p("")
		p("Two Caddy instances in mirror mode on one Redis. %d times: revoke a fresh opaque token through", r.prop.n)
		p("instance A (RFC 7009 route) while a poller sends instance B requests with it, back to back on one")
		p("connection, from just before the revocation is sent until B answers 401.")
		p("")
		p("- **2xx to 401** (propagation, issue 14's target p99 ≤ 1 ms): from the revocation's 2xx reaching")
		p("  the client to B's first 401 reaching it. %d of the %d first 401s arrived before the 2xx did:", r.prop.beforeAnswer, r.prop.n)
		p("  counted as 0. The poller's resolution is one request to B (the 401 arrives up to one round")
		p("  trip after B began enforcing).")
		p("- **sent to 401**: from sending the revocation to B's first 401; it includes the revocation's")
		p("  own round trip (client → A → Redis → A → client, the poller running), given alone as")
		p("  **revocation**.")
		p("- **request to B**: a request to B alone, before each revocation (no poller running): the")
		p("  poller's resolution.")
		p("")
		p("| revocations | 2xx to 401 p50 | p99 | max | sent to 401 p50 | p99 | max | revocation p50 | p99 | request to B p50 | p99 |")
		p("|---|---|---|---|---|---|---|---|---|---|---|")
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", r.prop.n,
			ms(r.prop.fromAnswer.p50), ms(r.prop.fromAnswer.p99), ms(r.prop.fromAnswer.max),
			ms(r.prop.fromSent.p50), ms(r.prop.fromSent.p99), ms(r.prop.fromSent.max),
			ms(r.prop.revoke.p50), ms(r.prop.revoke.p99), ms(r.prop.plain.p50), ms(r.prop.plain.p99))
		p("")
		if r.prop.fromAnswer.p99 > time.Millisecond {
			p("The 1 ms target is missed at this level. The path is one EVALSHA on A and B applying the")
			p("event its blocked XREAD receives; the figure also holds up to one request to B after B began")
			p("enforcing (the poller's resolution), on a machine where a request to B alone has the p99")
			p("above. Mirror to mirror, without HTTP, `make bench-scale` measures the propagation alone.")
			p("")
		}
	},
}

// propagation is what the propagation section measured.
type propagation struct {
	n            int
	fromAnswer   latencies // the revocation's 2xx to the other instance's first 401 (0 when before)
	fromSent     latencies // sending the revocation to the other instance's first 401
	revoke       latencies // the revocation call's own round trip
	plain        latencies // a request to the other instance alone (before each revocation)
	beforeAnswer int       // first 401s that arrived before the revocation's 2xx
}

// latencies is p50, p99 and max of a set of durations.
type latencies struct{ p50, p99, max time.Duration }

// latenciesOf returns the latencies of ds (sorted in place).
func latenciesOf(ds []float64) latencies {
	sort.Float64s(ds)
	return latencies{
		p50: time.Duration(percentile(ds, 50)),
		p99: time.Duration(percentile(ds, 99)),
		max: time.Duration(ds[len(ds)-1]),
	}
}

// propagationSite is a gateway answering 200 itself, on the Redis at %s.
const propagationSite = `http://127.0.0.1:%%d {
	token_revocation {
		store redis {
			address %s
		}
		revoke /oauth/revoke
	}
	respond "ok" 200
}`

// propagation runs the propagation section: two instances on one Redis,
// c.revocations fresh opaque tokens revoked through one and polled on the
// other.
func (b *bench) propagation(c config) (propagation, error) {
	logf("propagation: two instances on one redis, %d revocations", c.revocations)
	r, err := b.startRedis("redis-propagation")
	if err != nil {
		return propagation{}, err
	}
	defer b.remove(r.proc)
	a, err := b.startCaddy("instance-a", fmt.Sprintf(propagationSite, r.addr))
	if err != nil {
		return propagation{}, err
	}
	defer b.remove(a.proc)
	other, err := b.startCaddy("instance-b", fmt.Sprintf(propagationSite, r.addr))
	if err != nil {
		return propagation{}, err
	}
	defer b.remove(other.proc)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 5 * time.Second}
	status := func(req *http.Request) (int, error) {
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	run := runID()
	var fromAnswer, fromSent, revokeTook, plainTook []float64
	before := 0
	for i := 0; i < c.revocations; i++ {
		tok := fmt.Sprintf("propagation-%s-%d", run, i)
		newPoll := func() *http.Request {
			poll, _ := http.NewRequest(http.MethodGet, other.url("/api"), nil)
			poll.Header.Set("Authorization", "Bearer "+tok)
			return poll
		}
		checked := time.Now()
		if code, err := status(newPoll()); err != nil || code != http.StatusOK {
			return propagation{}, fmt.Errorf("instance b before the revocation: %d %v", code, err)
		}
		plainTook = append(plainTook, float64(time.Since(checked)))
		rev, _ := http.NewRequest(http.MethodPost, a.url("/oauth/revoke"), strings.NewReader(url.Values{"token": {tok}}.Encode()))
		rev.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		start := time.Now()
		// The poller: B, back to back, until the first 401 (its arrival
		// time), an error, or 10 s. It ends by itself in every case, and
		// got holds its one result, so neither side can block.
		got := make(chan pollResult, 1)
		go func() {
			for {
				code, err := status(newPoll())
				switch {
				case err != nil:
					got <- pollResult{err: err}
					return
				case code == http.StatusUnauthorized:
					got <- pollResult{at: time.Now()}
					return
				case code != http.StatusOK:
					got <- pollResult{err: fmt.Errorf("instance b answered %d", code)}
					return
				case time.Since(start) > 10*time.Second:
					got <- pollResult{err: errors.New("instance b never rejected a token revoked through instance a")}
					return
				}
			}
		}()
		code, err := status(rev)
		answered := time.Now()
		pr := <-got // the poller ends within 10 s plus a request's 5 s timeout
		if err != nil || code != http.StatusOK {
			return propagation{}, fmt.Errorf("revocation through instance a: %d %v", code, err)
		}
		if pr.err != nil {
			return propagation{}, pr.err
		}
		d := pr.at.Sub(answered)
		if d <= 0 {
			d, before = 0, before+1
		}
		fromAnswer = append(fromAnswer, float64(d))
		fromSent = append(fromSent, float64(pr.at.Sub(start)))
		revokeTook = append(revokeTook, float64(answered.Sub(start)))
	}
	return propagation{
		n:            len(fromAnswer),
		fromAnswer:   latenciesOf(fromAnswer),
		fromSent:     latenciesOf(fromSent),
		revoke:       latenciesOf(revokeTook),
		plain:        latenciesOf(plainTook),
		beforeAnswer: before,
	}, nil
}

// pollResult is what the propagation poller saw: when B's first 401
// arrived, or why it stopped.
type pollResult struct {
	at  time.Time
	err error
}
