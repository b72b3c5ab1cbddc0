package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// growthRevocations is how many revocations TestDefaultLayoutMemory
// stores (issue 26: 100 B or less per revocation at 20,000).
const growthRevocations = 20_000

// TestDefaultLayoutMemory: a fresh Redis and a Caddyfile with no layout,
// capacity or partitions option, 20,000 opaque tokens revoked through the
// RFC 7009 route (8 at a time), measured from outside: the prefix's keys
// (MEMORY USAGE of each, the figure asserted: 100 B or less per
// revocation) and INFO memory's used_memory (less mem_clients_normal, the
// client buffers, which follow Caddy's connections) from the first
// revocation on, logged. The buckets grew with the entries: 40 or fewer
// per bucket on average, every one a listpack. On 5278a12 the buckets
// were sized for 10^6 (16384 of them, most holding one or two entries):
// 160 B per revocation.
func TestDefaultLayoutMemory(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	rc := r.Client()
	ctx := context.Background()
	c := startCaddy(t, layoutCaddyfile, r.Addr, "", up.Addr())
	info := func() (used, clients int64) {
		s := rc.Info(ctx, "memory").Val()
		field := func(name string) int64 {
			for _, l := range strings.Split(s, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n
				}
			}
			t.Fatalf("INFO memory has no %s", name)
			return 0
		}
		return field("used_memory"), field("mem_clients_normal")
	}
	revokeAt(t, c, "growth-0") // the scripts loaded, the keys made: ~0.2 MB once
	used0, clients0 := info()

	toks := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range toks {
				if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
					t.Errorf("revoke %s: %d %s", tok, res.Status, res.Body)
				}
			}
		}()
	}
	for i := 1; i < growthRevocations && !t.Failed(); i++ {
		toks <- fmt.Sprintf("growth-%d", i)
	}
	close(toks)
	wg.Wait()
	if t.Failed() {
		return
	}
	used, clients := info()

	var keys int64
	var buckets []string
	iter := rc.Scan(ctx, 0, "{trv}:*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		keys += rc.MemoryUsage(ctx, k, 0).Val()
		if rest, ok := strings.CutPrefix(k, "{trv}:c:"); ok {
			if _, err := strconv.Atoi(rest); err == nil {
				buckets = append(buckets, k)
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	stored, _ := rc.Get(ctx, "{trv}:c:count").Int64()
	n, _ := rc.Get(ctx, "{trv}:c:buckets").Int()
	perKeys := float64(keys) / growthRevocations
	t.Logf("%d revocations (%d entries) in %d buckets: the prefix's keys %.1f B per revocation; used_memory less client buffers %.1f B (used_memory %.1f B, client buffers %d -> %d B)",
		growthRevocations, stored, n, perKeys, float64((used-clients)-(used0-clients0))/(growthRevocations-1), float64(used-used0)/(growthRevocations-1), clients0, clients)
	if stored < growthRevocations {
		t.Fatalf("{trv}:c:count is %d after %d revocations", stored, growthRevocations)
	}
	if len(buckets) != n || float64(stored)/float64(n) > 40 {
		t.Fatalf("%d entries in %d bucket keys, {trv}:c:buckets %d: want the count's keys, 40 or fewer entries each", stored, len(buckets), n)
	}
	for _, b := range buckets {
		if enc := rc.ObjectEncoding(ctx, b).Val(); enc != "listpack" {
			t.Fatalf("bucket %s is a %s, want a listpack", b, enc)
		}
	}
	if perKeys > 100 {
		t.Fatalf("%.1f B of Redis per revocation, want 100 or less", perKeys)
	}
	rejectedAt(t, "after 20,000 revocations", c, "growth-0", fmt.Sprintf("growth-%d", growthRevocations-1))
}
