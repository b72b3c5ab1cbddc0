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
		if r.prop.during.n > 0 {
			p("| propagation between instances, revocation's 2xx to the other's 401, p99 | ≤ 1 ms (issue 14) | %s | %s |", ms(r.prop.during.fromAnswer.p99), verdict(r.prop.during.fromAnswer.p99 <= time.Millisecond))
			p("| propagation between instances, from sending the revocation to the other's 401 (its own round trip included), p99 | ≤ 10 ms | %s | %s |", ms(r.prop.after.fromSent.p99), verdict(r.prop.after.fromSent.p99 <= 10*time.Millisecond))
		}
	},
	report: func(r *results, p printer) {
		d, a := r.prop.during, r.prop.after
		if d.n == 0 {
			return
		}
		p("### Propagation")
		p("")
		p("Two Caddy instances in mirror mode on one Redis. %d times: revoke a fresh opaque token through", d.n+a.n)
		p("instance A (RFC 7009 route) and send instance B requests with it, back to back on one connection,")
		p("until B answers 401; every other time the polling of B starts just before the revocation is sent")
		p("(**during**), every other time once its 2xx has arrived (**after**: nothing else runs while the")
		p("revocation is answered, as in earlier versions of this section).")
		p("")
		p("- **2xx to 401** (propagation; issue 14's target, p99 ≤ 1 ms, is read on **during**): from the")
		p("  revocation's 2xx reaching the client to B's first 401 reaching it. During: %d of the %d first", d.beforeAnswer, d.n)
		p("  401s arrived before the 2xx did, counted as 0; a 401 arrives up to one request to B after B")
		p("  began enforcing, and the polling slows A's answer (compare **revocation** in the two rows).")
		p("  After: it holds at least one whole request to B, sent once the 2xx has arrived; **B already")
		p("  enforcing** counts the first of them that B already answered 401.")
		p("- **sent to 401**: from sending the revocation to B's first 401 (the ≤ 10 ms target is read on")
		p("  **after**); it includes the revocation's own round trip (client → A → Redis → A → client),")
		p("  given alone as **revocation**.")
		p("- a request to B alone (before each revocation, nothing else running): p50 %s, p99 %s.", ms(r.prop.plain.p50), ms(r.prop.plain.p99))
		p("")
		p("| polling B | revocations | B already enforcing | 2xx to 401 p50 | p99 | max | sent to 401 p50 | p99 | max | revocation p50 | p99 |")
		p("|---|---|---|---|---|---|---|---|---|---|---|")
		for _, m := range []struct {
			name, already string
			f             propagationMode
		}{
			{"during", fmt.Sprintf("%d first 401s before the 2xx", d.beforeAnswer), d},
			{"after", fmt.Sprintf("%d first requests answered 401", a.firstPoll), a},
		} {
			p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |", m.name, m.f.n, m.already,
				ms(m.f.fromAnswer.p50), ms(m.f.fromAnswer.p99), ms(m.f.fromAnswer.max),
				ms(m.f.fromSent.p50), ms(m.f.fromSent.p99), ms(m.f.fromSent.max),
				ms(m.f.revoke.p50), ms(m.f.revoke.p99))
		}
		p("")
		if d.fromAnswer.p99 > time.Millisecond {
			p("The 1 ms target is missed at this level. The path is one EVALSHA on A and B applying the")
			p("event its blocked XREAD receives; the figure also holds up to one request to B after B began")
			p("enforcing, on a machine where a request to B alone has the p99 above. Mirror to mirror,")
			p("without HTTP, `make bench-scale` measures the propagation alone.")
			p("")
		}
	},
}

// propagation is what the propagation section measured, by when the
// polling of the other instance starts.
type propagation struct {
	during propagationMode // polling from just before the revocation is sent
	after  propagationMode // polling from the revocation's 2xx
	plain  latencies       // a request to the other instance alone (before each revocation)
}

// propagationMode is what one way of polling measured.
type propagationMode struct {
	n            int
	fromAnswer   latencies // the revocation's 2xx to the other instance's first 401 (0 when before)
	fromSent     latencies // sending the revocation to the other instance's first 401
	revoke       latencies // the revocation call's own round trip
	beforeAnswer int       // first 401s that arrived before the revocation's 2xx
	firstPoll    int       // revocations whose first poll B answered 401
}

// latencies is p50, p99 and max of a set of durations.
type latencies struct{ p50, p99, max time.Duration }

// latenciesOf returns the latencies of ds (sorted in place); zero when
// ds is empty.
func latenciesOf(ds []float64) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
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
// 2·c.revocations fresh opaque tokens revoked through one and polled on
// the other, the polling starting before the revocation is sent and after
// its 2xx, in turn.
func (b *bench) propagation(c config) (propagation, error) {
	logf("propagation: two instances on one redis, %d revocations", 2*c.revocations)
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
	status := func(req *http.Request) (int, error) { return statusOf(client, req) }
	run := runID()
	type samples struct {
		fromAnswer, fromSent, revoke []float64
		before, firstPoll            int
	}
	var modes [2]samples // during, after
	var plain []float64
	for i := 0; i < 2*c.revocations; i++ {
		during := i%2 == 0
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
		plain = append(plain, float64(time.Since(checked)))
		rev, _ := http.NewRequest(http.MethodPost, a.url("/oauth/revoke"), strings.NewReader(url.Values{"token": {tok}}.Encode()))
		rev.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		start := time.Now()
		// The poller: B, back to back, until the first 401 (its arrival
		// time), an error, or 10 s. It ends by itself in every case, and
		// got holds its one result, so neither side can block.
		got := make(chan pollResult, 1)
		poller := func() {
			for polls := 1; ; polls++ {
				code, err := status(newPoll())
				switch {
				case err != nil:
					got <- pollResult{err: err}
					return
				case code == http.StatusUnauthorized:
					got <- pollResult{at: time.Now(), polls: polls}
					return
				case code != http.StatusOK:
					got <- pollResult{err: fmt.Errorf("instance b answered %d", code)}
					return
				case time.Since(start) > 10*time.Second:
					got <- pollResult{err: errors.New("instance b never rejected a token revoked through instance a")}
					return
				}
			}
		}
		if during {
			go poller()
		}
		code, err := status(rev)
		answered := time.Now()
		if !during {
			poller()
		}
		pr := <-got // the poller ends within 10 s plus a request's 5 s timeout
		if err != nil || code != http.StatusOK {
			return propagation{}, fmt.Errorf("revocation through instance a: %d %v", code, err)
		}
		if pr.err != nil {
			return propagation{}, pr.err
		}
		m := &modes[0]
		if !during {
			m = &modes[1]
		}
		d := pr.at.Sub(answered)
		if d <= 0 {
			d, m.before = 0, m.before+1
		}
		if pr.polls == 1 {
			m.firstPoll++
		}
		m.fromAnswer = append(m.fromAnswer, float64(d))
		m.fromSent = append(m.fromSent, float64(pr.at.Sub(start)))
		m.revoke = append(m.revoke, float64(answered.Sub(start)))
	}
	mode := func(s samples) propagationMode {
		return propagationMode{
			n:            len(s.fromAnswer),
			fromAnswer:   latenciesOf(s.fromAnswer),
			fromSent:     latenciesOf(s.fromSent),
			revoke:       latenciesOf(s.revoke),
			beforeAnswer: s.before,
			firstPoll:    s.firstPoll,
		}
	}
	return propagation{during: mode(modes[0]), after: mode(modes[1]), plain: latenciesOf(plain)}, nil
}

// statusOf sends req with client and returns the answer's status, its
// body read and dropped (the connection kept for the next request).
func statusOf(client *http.Client, req *http.Request) (int, error) {
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// pollResult is what the propagation poller saw: when B's first 401
// arrived and after how many requests, or why it stopped.
type pollResult struct {
	at    time.Time
	polls int // requests sent, the 401 included
	err   error
}
