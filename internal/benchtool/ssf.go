package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/ssftest"
)

// ssfSection measures the Shared Signals poll lag (issue 25): from an
// event queued at the transmitter to the first 401 at another instance.
// The transmitter is internal/ssftest's, in this process on a loopback
// port; instance A polls it (long polls, the default) and stores the
// cut-offs in Redis; instance B, with no ssf block, enforces them from
// its mirror.
var ssfSection = section{
	name: "ssf",
	run: func(env *bench, c config, res *results) error {
		var err error
		res.ssf, err = env.ssfLag(c)
		return err
	},
	targets: func(r *results, p printer) {
		if r.ssf.n > 0 {
			p("| SSF poll lag, an event queued at the transmitter to the 401 at another instance, p99 | reported (issue 25) | %s | — |", ms(r.ssf.lag.p99))
		}
	},
	report: func(r *results, p printer) {
		if r.ssf.n == 0 {
			return
		}
		p("### Shared Signals poll lag")
		p("")
		p("Two Caddy instances on one Redis (mirror mode); A has an `ssf` block polling the tests'")
		p("transmitter (internal/ssftest, in the benchmark's process: SSF 1.0 and RFC 8936 exchanges, SETs")
		p("signed with go-jose), with long polls; B has none. %d times: a fresh user's token passes B, a RISC", r.ssf.n)
		p("account-disabled SET for that user is queued at the transmitter (which answers A's held poll),")
		p("and B is sent requests with the token, back to back, until it answers 401. The lag holds A's poll")
		p("answer, the SET's verification, the cut-off stored in Redis, B's mirror applying it, and up to one")
		p("request to B.")
		p("")
		p("| events | lag p50 | p99 | max |")
		p("|---|---|---|---|")
		p("| %d | %s | %s | %s |", r.ssf.n, ms(r.ssf.lag.p50), ms(r.ssf.lag.p99), ms(r.ssf.lag.max))
		p("")
	},
}

// ssfLag is what the ssf section measured.
type ssfLag struct {
	n   int
	lag latencies // event queued to B's first 401
}

// ssfSite is a gateway answering 200 itself on the Redis at %s, with
// the ssf block %s.
const ssfSite = `http://127.0.0.1:%%d {
	token_revocation {
		store redis {
			address %s
		}
		%s
	}
	respond "ok" 200
}`

// ssfTokenIssuer is the iss of the users the benchmark's events name.
const ssfTokenIssuer = "https://idp.example.com/"

// ssfLag runs the ssf section: max(c.revocations, 100) events.
func (b *bench) ssfLag(c config) (ssfLag, error) {
	n := max(c.revocations, 100)
	logf("ssf: a transmitter, two instances on one redis, %d events", n)
	tb := &benchTB{}
	defer tb.close()
	var tx *ssftest.Transmitter
	if err := tb.do(func() { tx = ssftest.New(tb) }); err != nil {
		return ssfLag{}, err
	}
	r, err := b.startRedis("redis-ssf")
	if err != nil {
		return ssfLag{}, err
	}
	defer b.remove(r.proc)
	block := fmt.Sprintf("ssf %s {\n\t\t\tbearer_token %s\n\t\t\ttoken_issuers %s\n\t\t}", tx.Issuer, tx.Bearer, ssfTokenIssuer)
	a, err := b.startCaddy("ssf-a", fmt.Sprintf(ssfSite, r.addr, block))
	if err != nil {
		return ssfLag{}, err
	}
	defer b.remove(a.proc)
	other, err := b.startCaddy("ssf-b", fmt.Sprintf(ssfSite, r.addr, ""))
	if err != nil {
		return ssfLag{}, err
	}
	defer b.remove(other.proc)
	var stream string
	for deadline := time.Now().Add(30 * time.Second); stream == ""; time.Sleep(10 * time.Millisecond) {
		if ids := tx.StreamIDs(); len(ids) > 0 {
			stream = ids[0]
		}
		if time.Now().After(deadline) {
			return ssfLag{}, errors.New("ssf: instance a created no stream at the transmitter")
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 5 * time.Second}
	status := func(tok string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, other.url("/api"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return statusOf(client, req)
	}
	run := runID()
	var lags []float64
	for i := 0; i < n; i++ {
		sub := fmt.Sprintf("ssf-%s-%d", run, i)
		iat := time.Now().Add(-time.Minute)
		tok := jwttest.Unsigned(`{"alg":"RS256","typ":"JWT"}`, map[string]any{"iss": ssfTokenIssuer, "sub": sub, "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()}, "c2ln")
		if code, err := status(tok); err != nil || code != http.StatusOK {
			return ssfLag{}, fmt.Errorf("ssf: instance b before the event: %d %v", code, err)
		}
		start := time.Now()
		if err := tb.do(func() {
			tx.Send(stream, map[string]any{
				"sub_id": map[string]string{"format": "iss_sub", "iss": ssfTokenIssuer, "sub": sub},
				"events": map[string]any{"https://schemas.openid.net/secevent/risc/event-type/account-disabled": map[string]any{}},
			})
		}); err != nil {
			return ssfLag{}, err
		}
		for {
			code, err := status(tok)
			if err != nil {
				return ssfLag{}, err
			}
			if code == http.StatusUnauthorized {
				break
			}
			if code != http.StatusOK {
				return ssfLag{}, fmt.Errorf("ssf: instance b answered %d", code)
			}
			if time.Since(start) > 30*time.Second {
				return ssfLag{}, errors.New("ssf: instance b never rejected the token of a user an event disabled")
			}
		}
		lags = append(lags, float64(time.Since(start)))
	}
	return ssfLag{n: n, lag: latenciesOf(lags)}, nil
}

// benchTB is the ssftest.TB of the benchmark: Fatal ends the call made
// through do with an error, Cleanup runs at close.
type benchTB struct{ cleanups []func() }

// benchFatal is what Fatal panics with, for do to recover.
type benchFatal struct{ msg string }

func (*benchTB) Helper() {}

func (*benchTB) Fatal(args ...any) { panic(benchFatal{fmt.Sprint(args...)}) }

func (*benchTB) Error(args ...any) { logf("ssf transmitter: %s", fmt.Sprint(args...)) }

func (t *benchTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// do runs f, returning a Fatal's message as an error.
func (*benchTB) do(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			bf, ok := r.(benchFatal)
			if !ok {
				panic(r)
			}
			err = errors.New("ssf transmitter: " + bf.msg)
		}
	}()
	f()
	return nil
}

// close runs the cleanups, last first.
func (t *benchTB) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
