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
// instance is enforced by another on the same Redis.
var propagationSection = section{
	name: "propagation",
	run: func(env *bench, c config, res *results) error {
		var err error
		res.prop, err = env.propagation(c)
		return err
	},
	targets: func(r *results, p printer) {
		if r.prop.n > 0 {
			p("| propagation between instances, p99 | ≤ 10 ms | %s | %s |", ms(r.prop.p99), verdict(r.prop.p99 <= 10*time.Millisecond))
		}
	},
	report: func(r *results, p printer) {
		if r.prop.n == 0 {
			return
		}
		p("### Propagation")
		p("")
		p("Two Caddy instances in mirror mode on one Redis. %d times: revoke a fresh opaque token through", r.prop.n)
		p("instance A (RFC 7009 route), then poll instance B with it until B answers 401. Time from sending")
		p("the revocation to B's first 401 (the revocation call itself included: median %s).", ms(r.prop.revoke50))
		p("")
		p("| revocations | p50 | p99 | max |")
		p("|---|---|---|---|")
		p("| %d | %s | %s | %s |", r.prop.n, ms(r.prop.p50), ms(r.prop.p99), ms(r.prop.max))
		p("")
	},
}

// propagation is what the propagation section measured: the time from
// sending a revocation to the other instance's first 401.
type propagation struct {
	n             int
	p50, p99, max time.Duration
	revoke50      time.Duration // the revocation call's own latency
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
	var took, revokeTook []float64
	for i := 0; i < c.revocations; i++ {
		tok := fmt.Sprintf("propagation-%s-%d", run, i)
		poll, _ := http.NewRequest(http.MethodGet, other.url("/api"), nil)
		poll.Header.Set("Authorization", "Bearer "+tok)
		if code, err := status(poll); err != nil || code != http.StatusOK {
			return propagation{}, fmt.Errorf("instance b before the revocation: %d %v", code, err)
		}
		rev, _ := http.NewRequest(http.MethodPost, a.url("/oauth/revoke"), strings.NewReader(url.Values{"token": {tok}}.Encode()))
		rev.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		start := time.Now()
		if code, err := status(rev); err != nil || code != http.StatusOK {
			return propagation{}, fmt.Errorf("revocation through instance a: %d %v", code, err)
		}
		revokeTook = append(revokeTook, float64(time.Since(start)))
		for {
			code, err := status(poll)
			if err != nil {
				return propagation{}, err
			}
			if code == http.StatusUnauthorized {
				break
			}
			if time.Since(start) > 10*time.Second {
				return propagation{}, errors.New("instance b never rejected a token revoked through instance a")
			}
		}
		took = append(took, float64(time.Since(start)))
	}
	sort.Float64s(took)
	return propagation{
		n:        len(took),
		p50:      time.Duration(percentile(took, 50)),
		p99:      time.Duration(percentile(took, 99)),
		max:      time.Duration(took[len(took)-1]),
		revoke50: time.Duration(median(revokeTook)),
	}, nil
}
