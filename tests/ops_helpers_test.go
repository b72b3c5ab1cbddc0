package tests

// Helpers of the operations and failure tests (issue 6): Redis topologies
// (Sentinel, Cluster), a client that sends requests throughout a test, and
// leak probes (Caddy's open files and goroutines, Redis connections).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// ---------------------------------------------------------------------------
// Polling

// pollUntil polls cond every 20ms until it returns "" (done) or the
// deadline passes, then fails the test with cond's last complaint.
func pollUntil(t testing.TB, within time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Redis topologies

// replicaSynced reports whether a replica's link to its primary is up.
func replicaSynced(ctx context.Context, c *redis.Client) bool {
	return strings.Contains(c.Info(ctx, "replication").Val(), "master_link_status:up")
}

// waitReplicaAcks polls until a replica of primary acknowledges a write
// (WAIT on the connection that made it), as min_replicas needs. After a
// full sync the primary streams nothing to a replica until the replica's
// first REPLCONF ACK, sent once a second: "link up" is not enough.
func waitReplicaAcks(t *testing.T, primary *redistest.Server) {
	t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: primary.Addr, ClientName: probeName, PoolSize: 1})
	defer c.Close()
	conn := c.Conn()
	defer conn.Close()
	pollUntil(t, 10*time.Second, func() string {
		if err := conn.Set(ctx, "replica-probe", "x", 0).Err(); err != nil {
			return err.Error()
		}
		if n, err := conn.Wait(ctx, 1, 100*time.Millisecond).Result(); err != nil || n < 1 {
			return fmt.Sprintf("no replica of %s acknowledges writes (%d, %v)", primary.Addr, n, err)
		}
		return ""
	})
}

// sentinelGroup is a primary, one replica and three Sentinels (quorum 2)
// tuned to fail over within seconds.
type sentinelGroup struct {
	primary, replica *redistest.Server
	sentinels        []*redistest.Server
}

// sentinelMaster is the master set name of sentinelGroup.
const sentinelMaster = "m"

// startSentinelGroup starts the group and returns once every Sentinel knows
// the replica and the two other Sentinels (so a failover can be voted).
func startSentinelGroup(t *testing.T) *sentinelGroup {
	t.Helper()
	ctx := context.Background()
	g := &sentinelGroup{}
	// No 5s wait for more replicas before a full sync.
	g.primary = startRedis(t, "--repl-diskless-sync-delay", "0")
	g.replica = startRedis(t, "--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", strconv.Itoa(g.primary.Port))
	waitReplicaAcks(t, g.primary)
	conf := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]d 2
sentinel down-after-milliseconds %[1]s 400
sentinel failover-timeout %[1]s 2000
`, sentinelMaster, g.primary.Port)
	for range 3 {
		g.sentinels = append(g.sentinels, redistest.StartConfig(t, conf, "--sentinel"))
	}
	for _, s := range g.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
		t.Cleanup(func() { sc.Close() })
		pollUntil(t, 15*time.Second, func() string {
			others, err := sc.Sentinels(ctx, sentinelMaster).Result()
			if err != nil || len(others) != 2 {
				return fmt.Sprintf("sentinel %s knows %d other sentinels (%v), want 2", s.Addr, len(others), err)
			}
			reps, err := sc.Replicas(ctx, sentinelMaster).Result()
			if err != nil || len(reps) != 1 {
				return fmt.Sprintf("sentinel %s knows %d replicas (%v), want 1", s.Addr, len(reps), err)
			}
			return ""
		})
	}
	return g
}

// addresses are the Sentinels' addresses, space-separated, for a Caddyfile.
func (g *sentinelGroup) addresses() string {
	var a []string
	for _, s := range g.sentinels {
		a = append(a, s.Addr)
	}
	return strings.Join(a, " ")
}

// master asks the first Sentinel for the current primary's address.
func (g *sentinelGroup) master(t *testing.T) string {
	t.Helper()
	sc := redis.NewSentinelClient(&redis.Options{Addr: g.sentinels[0].Addr})
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
	if err != nil || len(a) != 2 {
		return ""
	}
	return a[0] + ":" + a[1]
}

// redisCluster is a Redis Cluster of three primaries, each with a replica
// when asked, tuned to fail over within seconds.
type redisCluster struct {
	nodes []*redistest.Server
}

// startCluster creates the cluster with redis-cli --cluster create and
// returns once every node sees it ok and every replica is in sync.
func startCluster(t *testing.T, replicas bool) *redisCluster {
	t.Helper()
	ctx := context.Background()
	n := 3
	if replicas {
		n = 6
	}
	c := &redisCluster{}
	args := []string{"--cluster", "create"}
	for range n {
		s := startRedis(t, "--cluster-enabled", "yes",
			"--cluster-node-timeout", "1000",
			// A replica whose primary just died may always take over.
			"--cluster-replica-validity-factor", "0",
			"--repl-diskless-sync-delay", "0")
		c.nodes = append(c.nodes, s)
		args = append(args, s.Addr)
	}
	args = append(args, "--cluster-replicas", map[bool]string{true: "1", false: "0"}[replicas], "--cluster-yes")
	cmd := exec.Command("redis-cli", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range c.nodes {
		nc := s.Client()
		pollUntil(t, 20*time.Second, func() string {
			info := nc.ClusterInfo(ctx).Val()
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				return "cluster not ok on " + s.Addr + ":\n" + info
			}
			repl := nc.Info(ctx, "replication").Val()
			if strings.Contains(repl, "role:slave") && !replicaSynced(ctx, nc) {
				return "replica " + s.Addr + " not in sync"
			}
			return ""
		})
	}
	return c
}

// seeds are the nodes' addresses, space-separated, for a Caddyfile.
func (c *redisCluster) seeds() string {
	var a []string
	for _, s := range c.nodes {
		a = append(a, s.Addr)
	}
	return strings.Join(a, " ")
}

// ownerOf returns the node that is primary for key's slot, as the
// surviving nodes see it (nodes that are down are skipped).
func (c *redisCluster) ownerOf(t *testing.T, key string) *redistest.Server {
	t.Helper()
	ctx := context.Background()
	for _, s := range c.nodes {
		if !s.Running() {
			continue
		}
		nc := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		slot, err1 := nc.ClusterKeySlot(ctx, key).Result()
		shards, err2 := nc.ClusterShards(ctx).Result()
		nc.Close()
		if err1 != nil || err2 != nil {
			continue
		}
		for _, sh := range shards {
			for _, r := range sh.Slots {
				if r.Start > slot || slot > r.End {
					continue
				}
				for _, n := range sh.Nodes {
					if n.Role != "master" || n.Health != "online" {
						continue
					}
					for _, cand := range c.nodes {
						if cand.Port == int(n.Port) {
							return cand
						}
					}
				}
			}
		}
	}
	return nil
}

// redisPid is the process ID of the redis-server s (INFO server).
func redisPid(t testing.TB, s *redistest.Server) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, ClientName: probeName})
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			if pid, err := strconv.Atoi(v); err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no process_id in INFO server of %s", s.Addr)
	return 0
}

// lagReplicaThenKill cuts the replica's link to its primary and stops the
// replica (SIGSTOP) so it cannot reconnect, for lag; then it kills the
// primary and resumes the replica. Writes the primary acknowledged during
// lag never reach the replica, which is then promoted: only a writer that
// waits for a replica's acknowledgement (min_replicas) keeps them off its
// 2xx answers. (Stopping the replica alone is not enough: the kernel would
// still receive the stream into its socket buffer.)
func lagReplicaThenKill(t testing.TB, primary, replica *redistest.Server, lag time.Duration) {
	t.Helper()
	pid := redisPid(t, replica)
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr, ClientName: probeName})
	defer rc.Close()
	if err := rc.ClientKillByFilter(context.Background(), "TYPE", "master").Err(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	time.Sleep(lag) // the load keeps writing meanwhile: that is the test
	primary.Stop()
}

// replicaOf returns the node that replicates primary.
func (c *redisCluster) replicaOf(t *testing.T, primary *redistest.Server) *redistest.Server {
	t.Helper()
	for _, s := range c.nodes {
		info := s.Client().Info(context.Background(), "replication").Val()
		if strings.Contains(info, "master_port:"+strconv.Itoa(primary.Port)+"\r") {
			return s
		}
	}
	t.Fatalf("no replica of %s", primary.Addr)
	return nil
}

// ---------------------------------------------------------------------------
// Load: a client sending requests throughout a test

// loadClient keeps connections alive, as real clients do (a reload or an
// outage must not break them).
var loadClient = &http.Client{
	Timeout:       httpTimeout,
	Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// sendVia is tryDo on a chosen client.
func sendVia(client *http.Client, method, target string, form url.Values, headers ...string) (Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
		headers = append(headers, "Content-Type: application/x-www-form-urlencoded")
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return Response{}, err
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	res, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("reading body: %w", err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: string(b)}, nil
}

// load runs workers that each call step in a loop until Stop or a time
// limit, and tallies what they got.
type load struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	statuses map[int]int
	errs     []error
	n        int
}

// step is one request of a load worker: worker w's i-th. It returns the
// response or the transport error.
type step func(w, i int) (Response, error)

// startLoad starts workers calling step until Stop is called or limit has
// passed (so a test that fails half-way leaves nothing running).
func startLoad(t testing.TB, workers int, limit time.Duration, fn step) *load {
	l := &load{stop: make(chan struct{}), statuses: map[int]int{}}
	deadline := time.Now().Add(limit)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if time.Now().After(deadline) {
					return
				}
				res, err := fn(w, i)
				l.mu.Lock()
				l.n++
				if err != nil {
					if len(l.errs) < 20 {
						l.errs = append(l.errs, err)
					}
					l.statuses[-1]++
				} else {
					l.statuses[res.Status]++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.Stop)
	return l
}

// Stop ends the workers and waits for them.
func (l *load) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// Count is the number of requests sent so far.
func (l *load) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Summary describes the tally: "N requests: 200×a 401×b errors×c [first errors]".
func (l *load) Summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests:", l.n)
	for s, n := range l.statuses {
		if s == -1 {
			fmt.Fprintf(&b, " transport-errors×%d", n)
		} else {
			fmt.Fprintf(&b, " %d×%d", s, n)
		}
	}
	if len(l.errs) > 0 {
		fmt.Fprintf(&b, " first errors: %v", l.errs)
	}
	return b.String()
}

// Statuses returns the tally by status (-1: transport error).
func (l *load) Statuses() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]int, len(l.statuses))
	for k, v := range l.statuses {
		out[k] = v
	}
	return out
}

// ackedSet collects what the gateway acknowledged (tokens answered 2xx),
// concurrently.
type ackedSet = lockedList[string]

// revokeLoad returns a load step that revokes a fresh token through the
// RFC 7009 route on every call, sent with client, and records in acked the tokens answered
// 200. A 2xx other than 200, or an answer other than 200 and 503 with
// Retry-After, is recorded as status 299 / 599 so the test sees it.
func revokeLoad(client *http.Client, c *Caddy, prefix string, acked *ackedSet) step {
	return func(w, i int) (Response, error) {
		tok := fmt.Sprintf("%s-%d-%d", prefix, w, i)
		res, err := sendVia(client, http.MethodPost, c.URL("/oauth/revoke"), url.Values{"token": {tok}})
		if err != nil {
			return res, err
		}
		switch {
		case res.Status == http.StatusOK:
			acked.add(tok)
		case res.Status == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
			time.Sleep(10 * time.Millisecond) // not the Retry-After: the test wants recovery seen soon
		default:
			res.Status = 599
		}
		return res, nil
	}
}

// allRejected checks that every token in toks is rejected (401) at
// at("/api") (c.URL, say),
// polling for up to 3 seconds in all (an instance may apply a revocation
// made elsewhere a moment later). It returns the tokens still accepted.
func allRejected(t *testing.T, at func(path string) string, toks []string) []string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var accepted []string
		for _, tok := range toks {
			res, err := sendVia(loadClient, http.MethodGet, at("/api"), nil, "Authorization: Bearer "+tok)
			if err != nil || res.Status != http.StatusUnauthorized {
				accepted = append(accepted, fmt.Sprintf("%s (%d %v)", tok, res.Status, err))
			}
		}
		if len(accepted) == 0 || time.Now().After(deadline) {
			return accepted
		}
		toks = toks[:0]
		for _, a := range accepted {
			tok, _, _ := strings.Cut(a, " ")
			toks = append(toks, tok)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Leak probes

// pid is the process ID of the running Caddy (0 when it is not running).
func (c *Caddy) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// openFiles counts the running Caddy's open file descriptors (Linux /proc);
// ok is false where /proc is not available.
func (c *Caddy) openFiles(t testing.TB) (n int, ok bool) {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.pid()))
	if err != nil {
		return 0, false
	}
	return len(ents), true
}

// goroutines is the running Caddy's goroutine count, from the admin
// endpoint's pprof handler.
func (c *Caddy) goroutines(t testing.TB) int {
	t.Helper()
	res := get(t, c.AdminURL("/debug/pprof/goroutine?debug=1"))
	line, _, _ := strings.Cut(res.Body, "\n")
	n, err := strconv.Atoi(strings.TrimPrefix(line, "goroutine profile: total "))
	if err != nil {
		t.Fatalf("admin pprof goroutine: %d %q", res.Status, line)
	}
	return n
}

// probeName is the client name of the tests' own Redis connections, left
// out of redisClients's count.
const probeName = "trv-test-probe"

// redisClients counts the normal (not replica, not our own) client
// connections of the Redis server at addr: Caddy's pools.
func redisClients(t testing.TB, addr string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ClientName: probeName, PoolSize: 1})
	defer c.Close()
	list, err := c.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST on %s: %v", addr, err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.Contains(line, "name="+probeName+" ") || strings.Contains(line, " flags=S ") {
			continue
		}
		n++
	}
	return n
}

// ---------------------------------------------------------------------------
// Tokens

// unsignedToken is a JWT nobody signed (the gateway parses it, unverified).
func unsignedToken(claims map[string]any) string {
	return jwttest.Unsigned(`{"alg":"RS256","typ":"JWT"}`, claims, "c2ln")
}
