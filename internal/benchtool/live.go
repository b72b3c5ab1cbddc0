package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/wstest"
)

// liveSection measures how soon a revocation made through one instance
// ends a WebSocket another instance holds, with many open (issue 12), and
// what a registered connection costs in memory.
var liveSection = section{
	name: "live",
	run: func(env *bench, c config, res *results) error {
		var err error
		res.live, err = env.liveConnections(c)
		return err
	},
	targets: func(r *results, p printer) {
		if r.live.n > 0 {
			p("| revocation's 2xx to the close of a WebSocket on another instance, %d open, p99 | ≤ 100 ms | %s | %s |",
				r.live.conns, ms(r.live.p99), verdict(r.live.p99 <= 100*time.Millisecond))
		}
	},
	report: func(r *results, p printer) {
		l := r.live
		if l.n == 0 {
			return
		}
		p("### Live connections")
		p("")
		p("Four processes on one Redis (mirror mode): instance A takes revocations; instances B and C hold")
		p("%d WebSockets (%d each; one Caddy would need %d file descriptors for them, over this machine's", l.conns, l.conns/liveHolders, 2*l.conns)
		p("limit), each opened with its own opaque token and proxied to the ws package's server")
		p("(tests/live/upstream), silent. %d times: revoke one of the tokens through A (RFC 7009 route),", l.n)
		p("then wait for its WebSocket's close frame (1008) at the client. Time from the revocation's 2xx")
		p("to the close frame (%d of the %d closes arrived before the 2xx did: counted as 0), and from", l.beforeAnswer, l.n)
		p("sending the revocation to the close frame. %d of them ended without a close frame.", l.noFrame)
		p("")
		p("| open WebSockets | revocations | 2xx to close p50 | p99 | max | sent to close p50 | p99 | others closed |")
		p("|---|---|---|---|---|---|---|---|")
		p("| %d | %d | %s | %s | %s | %s | %s | %d |", l.conns, l.n, ms(l.p50), ms(l.p99), ms(l.max), ms(l.sent50), ms(l.sent99), l.strays)
		p("")
		p("Memory of a holding instance per open WebSocket (RSS after opening them less RSS before,")
		p("divided by their number: Caddy's proxying of it included): %.1f KiB. The registration", l.rssPerConn/1024)
		p("alone (the request's live.Exchange and its live.Registry entries under a JWT's four keys,")
		p("`BenchmarkLiveConnMemory` in ./live): %.0f B.", l.registryBytes)
		p("")
	},
}

// liveHolders is how many instances hold the WebSockets.
const liveHolders = 2

// liveResult is what the live section measured.
type liveResult struct {
	conns, n       int
	p50, p99, max  time.Duration // from the revocation's 2xx
	sent50, sent99 time.Duration // from sending the revocation
	beforeAnswer   int           // closes seen before the revocation's 2xx
	strays         int           // connections closed that no revocation named
	noFrame        int           // revoked connections that ended without a close frame
	rssPerConn     float64       // bytes of a holder's RSS per open WebSocket
	registryBytes  float64       // bytes of a registration (Go benchmark)
}

// liveSite is a gateway on the Redis at %s proxying to the upstream at
// port %d.
const liveSite = `http://127.0.0.1:%%d {
	token_revocation {
		store redis {
			address %s
		}
		revoke /oauth/revoke
	}
	reverse_proxy 127.0.0.1:%d
}`

// liveConnections runs the live section.
func (b *bench) liveConnections(c config) (liveResult, error) {
	conns, revocations := 10_000, c.revocations
	if c.quick {
		conns = 2_000
	}
	logf("live connections: %d WebSockets on %d instances, %d revocations through a third", conns, liveHolders, revocations)
	var res liveResult
	mem, err := goBenchmarks("./live", "^BenchmarkLiveConnMemory$", "1x", 1)
	if err != nil {
		return res, err
	}
	if len(mem) > 0 {
		res.registryBytes = mem[0].figures["B/conn"]
	}

	upPort, err := b.startLiveUpstream()
	if err != nil {
		return res, err
	}
	r, err := b.startRedis("redis-live")
	if err != nil {
		return res, err
	}
	defer b.remove(r.proc)
	site := fmt.Sprintf(liveSite, r.addr, upPort)
	a, err := b.startCaddy("live-a", site)
	if err != nil {
		return res, err
	}
	defer b.remove(a.proc)
	holders := make([]*caddyServer, liveHolders)
	rssBefore := make([]int64, liveHolders)
	for i := range holders {
		if holders[i], err = b.startCaddy(fmt.Sprintf("live-holder-%d", i), site); err != nil {
			return res, err
		}
		defer b.remove(holders[i].proc)
		rssBefore[i] = holders[i].rssBytes()
	}

	run := runID()
	tok := func(i int) string { return fmt.Sprintf("live-%s-%d", run, i) }
	ws := make([]*wstest.Conn, conns)
	closedAt := make([]time.Time, conns)
	frame := make([]bool, conns) // ended by a close frame
	closed := make([]chan struct{}, conns)
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	sem := make(chan struct{}, 64)
	for i := 0; i < conns; i++ {
		closed[i] = make(chan struct{})
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			h := holders[i%liveHolders]
			w, err := wstest.Dial(fmt.Sprintf("127.0.0.1:%d", h.port), "/ws?every=0", "Authorization: Bearer "+tok(i))
			if err != nil {
				errs <- fmt.Errorf("opening WebSocket %d: %w", i, err)
				return
			}
			ws[i] = w
			go func() {
				for {
					op, _, err := w.Next(0)
					if err != nil || op == 8 {
						closedAt[i], frame[i] = time.Now(), op == 8
						close(closed[i])
						return
					}
				}
			}()
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return res, err
	default:
	}
	res.conns = conns
	time.Sleep(time.Second) // let the holders' goroutines and buffers settle before measuring RSS
	var grown int64
	for i, h := range holders {
		grown += h.rssBytes() - rssBefore[i]
	}
	res.rssPerConn = float64(grown) / float64(conns)
	logf("live connections: %d open; holders grew %.1f KiB per connection", conns, res.rssPerConn/1024)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}, Timeout: 5 * time.Second}
	var took, fromSend []float64
	step := max(1, conns/revocations)
	for k := 0; k < revocations && k*step < conns; k++ {
		i := k * step
		body := strings.NewReader(url.Values{"token": {tok(i)}}.Encode())
		sent := time.Now()
		resp, err := client.Post(a.url("/oauth/revoke"), "application/x-www-form-urlencoded", body)
		if err != nil {
			return res, err
		}
		answered := time.Now()
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return res, fmt.Errorf("revocation through instance a: %d", resp.StatusCode)
		}
		select {
		case <-closed[i]:
		case <-time.After(5 * time.Second):
			return res, fmt.Errorf("the WebSocket of a token revoked through instance a was still open 5 s later")
		}
		if !frame[i] {
			res.noFrame++
		}
		d := closedAt[i].Sub(answered)
		if d < 0 {
			d, res.beforeAnswer = 0, res.beforeAnswer+1
		}
		took = append(took, float64(d))
		fromSend = append(fromSend, float64(closedAt[i].Sub(sent)))
	}
	named := map[int]bool{}
	for k := range took {
		named[k*step] = true
	}
	for i := range closed {
		select {
		case <-closed[i]:
			if !named[i] {
				res.strays++
			}
		default:
		}
	}
	sort.Float64s(took)
	res.n = len(took)
	res.p50 = time.Duration(percentile(took, 50))
	res.p99 = time.Duration(percentile(took, 99))
	res.max = time.Duration(took[len(took)-1])
	sort.Float64s(fromSend)
	res.sent50 = time.Duration(percentile(fromSend, 50))
	res.sent99 = time.Duration(percentile(fromSend, 99))
	return res, nil
}

// startLiveUpstream runs tests/live/upstream/server.js (node, with its
// npm dependencies installed: scripts/bench does) on a free port.
func (b *bench) startLiveUpstream() (int, error) {
	dir := filepath.Join("tests", "live", "upstream")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err != nil {
		return 0, errors.New("tests/live/upstream/node_modules missing: run npm ci there (scripts/bench does)")
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	p, err := b.start("live-upstream", []string{"node", filepath.Join(dir, "server.js"), fmt.Sprint(port)}, nil)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return port, nil
		}
		select {
		case <-p.done:
			return 0, fmt.Errorf("live upstream exited:\n%s", p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("live upstream does not listen on %d", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
